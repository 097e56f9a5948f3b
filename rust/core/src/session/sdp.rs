//! Session descriptions of a data-channel-only connection: the one m=application section
//! (RFC 8841) we write, and the parameters we read from a peer's, whichever stack wrote it
//! (browsers, libdatachannel, webrtc-rs, ours).
//!
//! Writing is plain text: the section is fixed. Reading goes through `rtc::sdp`'s parser and
//! then checks what a data channel needs, so a description without one is refused with a
//! sentence saying what is missing.

use std::io::Cursor;

use rtc::sdp::description::media::MediaDescription;
use rtc::sdp::description::session::SessionDescription;

/// Who starts DTLS (RFC 8842 `a=setup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    /// Either: what an offer says.
    ActPass,
    /// The DTLS client.
    Active,
    /// The DTLS server.
    Passive,
}

impl Setup {
    fn as_str(self) -> &'static str {
        match self {
            Setup::ActPass => "actpass",
            Setup::Active => "active",
            Setup::Passive => "passive",
        }
    }
}

/// What we put in our description.
pub(crate) struct LocalDescription<'a> {
    pub(crate) session_id: u64,
    pub(crate) version: u64,
    pub(crate) ufrag: &'a str,
    pub(crate) pwd: &'a str,
    /// SHA-256 of our certificate, as colon-separated hex.
    pub(crate) fingerprint: &'a str,
    pub(crate) setup: Setup,
    pub(crate) mid: &'a str,
    pub(crate) max_message_size: usize,
    /// Candidate lines without the `candidate:` prefix.
    pub(crate) candidates: &'a [String],
    pub(crate) gathering_complete: bool,
}

impl LocalDescription<'_> {
    pub(crate) fn render(&self) -> String {
        let mut sdp = String::with_capacity(512);
        let mut line = |text: &str| {
            sdp.push_str(text);
            sdp.push_str("\r\n");
        };
        line("v=0");
        line(&format!(
            "o=- {} {} IN IP4 127.0.0.1",
            self.session_id, self.version
        ));
        line("s=-");
        line("t=0 0");
        line(&format!("a=group:BUNDLE {}", self.mid));
        line("m=application 9 UDP/DTLS/SCTP webrtc-datachannel");
        line("c=IN IP4 0.0.0.0");
        line(&format!("a=ice-ufrag:{}", self.ufrag));
        line(&format!("a=ice-pwd:{}", self.pwd));
        line("a=ice-options:trickle");
        line(&format!("a=fingerprint:sha-256 {}", self.fingerprint));
        line(&format!("a=setup:{}", self.setup.as_str()));
        line(&format!("a=mid:{}", self.mid));
        line("a=sctp-port:5000");
        line(&format!("a=max-message-size:{}", self.max_message_size));
        for candidate in self.candidates {
            line(&format!("a=candidate:{candidate}"));
        }
        if self.gathering_complete {
            line("a=end-of-candidates");
        }
        sdp
    }
}

/// What we need from the peer's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteDescription {
    pub(crate) ufrag: String,
    pub(crate) pwd: String,
    pub(crate) ice_lite: bool,
    /// (algorithm, value) pairs; every one present must match the certificate.
    pub(crate) fingerprints: Vec<(String, String)>,
    pub(crate) setup: Setup,
    pub(crate) mid: String,
    pub(crate) sctp_port: u16,
    /// What the peer accepts; 65,536 when it does not say (RFC 8841 §6.1).
    pub(crate) max_message_size: usize,
    /// Candidate lines without the `candidate:` prefix.
    pub(crate) candidates: Vec<String>,
}

/// Reads a peer's description.
pub(crate) fn parse(text: &str) -> Result<RemoteDescription, String> {
    let session = SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
        .map_err(|error| format!("not a session description: {error}"))?;
    let media = session
        .media_descriptions
        .iter()
        .find(|media| {
            media.media_name.media == "application"
                && media
                    .media_name
                    .formats
                    .iter()
                    .any(|format| format == "webrtc-datachannel" || format == "5000")
        })
        .ok_or("no data channel section (m=application ... webrtc-datachannel)")?;
    let value = |key: &str| -> Option<String> {
        media_value(media, key).or_else(|| session.attribute(key).cloned())
    };
    let ufrag = value("ice-ufrag").ok_or("no a=ice-ufrag")?;
    let pwd = value("ice-pwd").ok_or("no a=ice-pwd")?;
    let mut fingerprints = Vec::new();
    for source in [
        media_values(media, "fingerprint"),
        session_values(&session, "fingerprint"),
    ] {
        for fingerprint in source {
            let (algorithm, hash) = fingerprint
                .split_once(' ')
                .ok_or_else(|| format!("a=fingerprint without an algorithm: {fingerprint}"))?;
            fingerprints.push((
                algorithm.to_ascii_lowercase(),
                hash.trim().to_ascii_lowercase(),
            ));
        }
    }
    if fingerprints.is_empty() {
        return Err("no a=fingerprint".into());
    }
    let setup = match value("setup").as_deref() {
        None | Some("actpass") => Setup::ActPass,
        Some("active") => Setup::Active,
        Some("passive") => Setup::Passive,
        Some(other) => return Err(format!("a=setup:{other} is not actpass, active or passive")),
    };
    let mid = media_value(media, "mid").unwrap_or_else(|| "0".into());
    let sctp_port = match media_value(media, "sctp-port") {
        Some(port) => port
            .parse()
            .map_err(|_| format!("a=sctp-port:{port} is not a port"))?,
        None => 5000,
    };
    let max_message_size = match media_value(media, "max-message-size") {
        // 0 means "no limit" (RFC 8841 §6); the SCTP layer's own bound then applies.
        Some(size) => match size.parse::<usize>() {
            Ok(0) => usize::MAX,
            Ok(size) => size,
            Err(_) => return Err(format!("a=max-message-size:{size} is not a size")),
        },
        None => 65_536,
    };
    let candidates = media_values(media, "candidate");
    Ok(RemoteDescription {
        ufrag,
        pwd,
        ice_lite: session.attribute("ice-lite").is_some()
            || session.attributes.iter().any(|a| a.key == "ice-lite"),
        fingerprints,
        setup,
        mid,
        sctp_port,
        max_message_size,
        candidates,
    })
}

fn media_value(media: &MediaDescription, key: &str) -> Option<String> {
    media.attribute(key).flatten().map(str::to_owned)
}

fn media_values(media: &MediaDescription, key: &str) -> Vec<String> {
    media
        .attributes
        .iter()
        .filter(|attribute| attribute.key == key)
        .filter_map(|attribute| attribute.value.clone())
        .collect()
}

fn session_values(session: &SessionDescription, key: &str) -> Vec<String> {
    session
        .attributes
        .iter()
        .filter(|attribute| attribute.key == key)
        .filter_map(|attribute| attribute.value.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_description_reads_back() {
        let candidates = vec!["1 1 udp 2130706431 10.0.0.1 5000 typ host".to_owned()];
        let text = LocalDescription {
            session_id: 7,
            version: 2,
            ufrag: "abcd",
            pwd: "0123456789012345678901",
            fingerprint: "AB:CD",
            setup: Setup::ActPass,
            mid: "0",
            max_message_size: 262_144,
            candidates: &candidates,
            gathering_complete: true,
        }
        .render();
        let remote = parse(&text).unwrap();
        assert_eq!(
            remote,
            RemoteDescription {
                ufrag: "abcd".into(),
                pwd: "0123456789012345678901".into(),
                ice_lite: false,
                fingerprints: vec![("sha-256".into(), "ab:cd".into())],
                setup: Setup::ActPass,
                mid: "0".into(),
                sctp_port: 5000,
                max_message_size: 262_144,
                candidates,
            }
        );
    }

    #[test]
    fn a_browser_offer_is_understood() {
        // The shape Chromium writes: session-level nothing, everything in the media section,
        // the mid "0" and a 256 KiB message limit.
        let text = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            a=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
            a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0\r\n\
            a=ice-ufrag:Oyef\r\na=ice-pwd:7TTKOx3Kt0pRoTFM2Ky1Ftxn\r\n\
            a=ice-options:trickle\r\n\
            a=fingerprint:sha-256 49:66:12:17:0D:1C:91:AE:57:4C:C6:36:DD:D5:97:D2:7D:62:C9:9A:7F:B9:A3:F4:70:03:E7:43:91:73:23:5E\r\n\
            a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";
        let remote = parse(text).unwrap();
        assert_eq!(remote.ufrag, "Oyef");
        assert_eq!(remote.setup, Setup::ActPass);
        assert_eq!(remote.max_message_size, 262_144);
        assert_eq!(remote.candidates.len(), 1);
        assert!(remote.fingerprints[0].1.starts_with("49:66:12"));
    }

    #[test]
    fn a_description_without_a_data_channel_is_refused_with_a_reason() {
        let text = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:x\r\n";
        assert!(parse(text).unwrap_err().contains("no data channel section"));
        assert!(parse("garbage").is_err());
    }
}

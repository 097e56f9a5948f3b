//! The `stun:`, `turn:` and `turns:` URLs of an ICE server (RFC 7064, RFC 7065), parsed once
//! for validation and for gathering.

use crate::error::{Error, Result};

/// What a server is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerKind {
    /// A Binding request: our address as the server sees it (a server-reflexive candidate).
    Stun,
    /// An allocation: an address on the server that relays to us (a relayed candidate).
    Turn,
}

/// How the server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerTransport {
    Udp,
    Tcp,
    Tls,
}

/// One parsed server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    pub(crate) kind: ServerKind,
    pub(crate) transport: ServerTransport,
    /// A name to resolve or an address literal, without IPv6 brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Parses `url`. `Ok(None)` for `stuns:`, which no browser gathers from either: accepted in a
/// configuration, it yields no candidate.
pub(crate) fn parse(url: &str) -> Result<Option<ServerUrl>> {
    let bad = |why: &str| Error::InvalidConfig(format!("ICE server URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| bad("it does not start with stun:, stuns:, turn: or turns:"))?;
    let (kind, secure) = match scheme {
        "stun" => (ServerKind::Stun, false),
        "stuns" => return Ok(None),
        "turn" => (ServerKind::Turn, false),
        "turns" => (ServerKind::Turn, true),
        _ => return Err(bad("it does not start with stun:, stuns:, turn: or turns:")),
    };
    let (host_port, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut transport = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            // Real configurations put it on stun: URLs too, where it means nothing.
            Some(("transport", value)) => transport = Some(value.to_ascii_lowercase()),
            _ => return Err(bad(&format!("unknown parameter {pair:?}"))),
        }
    }
    let transport = match (kind, secure, transport.as_deref()) {
        (ServerKind::Stun, _, _) => ServerTransport::Udp,
        (_, false, None | Some("udp")) => ServerTransport::Udp,
        (_, false, Some("tcp")) => ServerTransport::Tcp,
        (_, true, None | Some("tcp")) => ServerTransport::Tls,
        (_, true, Some("udp")) => {
            return Err(bad(
                "TURN over DTLS is not supported; use turns: with transport=tcp (TLS)",
            ));
        }
        (_, _, Some(other)) => {
            return Err(bad(&format!(
                "transport {other:?} is neither \"udp\" nor \"tcp\""
            )));
        }
    };
    let default_port = if secure { 5349 } else { 3478 };
    let (host, port) = split_host_port(host_port, default_port).map_err(|why| bad(&why))?;
    Ok(Some(ServerUrl {
        kind,
        transport,
        host,
        port,
    }))
}

fn split_host_port(text: &str, default_port: u16) -> std::result::Result<(String, u16), String> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 address lacks its closing ']'")?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or("junk after the IPv6 address")?,
                ),
            ),
        }
    } else if text.matches(':').count() > 1 {
        return Err("an IPv6 address must be written in brackets, [addr]:port".into());
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("port {p:?} is not a number in 1..=65535"))?,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(kind: ServerKind, transport: ServerTransport, host: &str, port: u16) -> ServerUrl {
        ServerUrl {
            kind,
            transport,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn urls_select_kind_transport_and_default_port() {
        use ServerKind::*;
        use ServerTransport::*;
        let cases = [
            ("stun:stun.example", url(Stun, Udp, "stun.example", 3478)),
            (
                "stun:1.2.3.4:19302?transport=udp",
                url(Stun, Udp, "1.2.3.4", 19302),
            ),
            ("turn:relay.example", url(Turn, Udp, "relay.example", 3478)),
            (
                "turn:relay.example:3478?transport=udp",
                url(Turn, Udp, "relay.example", 3478),
            ),
            (
                "turn:relay.example?transport=tcp",
                url(Turn, Tcp, "relay.example", 3478),
            ),
            ("turns:relay.example", url(Turn, Tls, "relay.example", 5349)),
            ("turns:[::1]:443?transport=TCP", url(Turn, Tls, "::1", 443)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap(), Some(expected), "{text}");
        }
        assert_eq!(parse("stuns:stun.example").unwrap(), None);
    }

    #[test]
    fn malformed_urls_are_refused_with_a_reason() {
        for bad in [
            "turns:relay.example?transport=udp",
            "turn:relay.example?transport=sctp",
            "turn:relay.example:0?transport=tcp",
            "turn:relay.example:http?transport=tcp",
            "turn:::1:3478?transport=tcp",
            "turn:[::1?transport=tcp",
            "turn:relay.example?foo=bar",
            "turns::5349",
            "stun:",
            "http://relay.example",
            "relay.example",
        ] {
            assert!(
                matches!(parse(bad), Err(Error::InvalidConfig(_))),
                "{bad} accepted"
            );
        }
    }
}

//! Godot dictionaries to core configuration: `WebRTCPeerConnection.initialize`'s configuration
//! and `create_data_channel`'s options, with the keys browsers and Godot use.

use std::net::IpAddr;

use godot::classes::{Os, X509Certificate};
use godot::prelude::*;
use webrtc_mesh_core::{
    ChannelOptions, ConnectionConfig, Error, IceServer, IceTransportPolicy, Result,
};

fn invalid(why: String) -> Error {
    Error::InvalidConfig(why)
}

fn string_list(value: &Variant, what: &str) -> Result<Vec<String>> {
    if let Ok(s) = value.try_to::<GString>() {
        return Ok(vec![s.to_string()]);
    }
    let array = value
        .try_to::<VarArray>()
        .map_err(|_| invalid(format!("{what} must be a String or an Array of Strings")))?;
    array
        .iter_shared()
        .map(|v| {
            v.try_to::<GString>()
                .map(|s| s.to_string())
                .map_err(|_| invalid(format!("{what} must hold only Strings")))
        })
        .collect()
}

fn string_at(dict: &VarDictionary, key: &str) -> Result<Option<String>> {
    match dict.get(key) {
        None => Ok(None),
        Some(v) => v
            .try_to::<GString>()
            .map(|s| Some(s.to_string()))
            .map_err(|_| invalid(format!("\"{key}\" must be a String"))),
    }
}

fn int_at(dict: &VarDictionary, key: &str) -> Result<Option<i64>> {
    match dict.get(key) {
        None => Ok(None),
        Some(v) => v
            .try_to::<i64>()
            .map(Some)
            .map_err(|_| invalid(format!("\"{key}\" must be an int"))),
    }
}

/// `{"iceServers": [{"urls": [...], "username": "", "credential": ""}], "iceTransportPolicy":
/// "all" | "relay", "bindAddress": "127.0.0.1", "portRange": [min, max], "tlsCaCertificates":
/// PEM String or X509Certificate}`.
pub fn connection_config(dict: &VarDictionary) -> Result<ConnectionConfig> {
    let mut config = crate::project_settings::connection_defaults();
    if let Some(servers) = dict.get("iceServers") {
        let servers = servers
            .try_to::<VarArray>()
            .map_err(|_| invalid("\"iceServers\" must be an Array of Dictionaries".into()))?;
        for server in servers.iter_shared() {
            let server = server
                .try_to::<VarDictionary>()
                .map_err(|_| invalid("each ICE server must be a Dictionary".into()))?;
            let urls = server
                .get("urls")
                .ok_or_else(|| invalid("an ICE server has no \"urls\"".into()))?;
            config.ice_servers.push(IceServer {
                urls: string_list(&urls, "\"urls\"")?,
                username: string_at(&server, "username")?.unwrap_or_default(),
                credential: string_at(&server, "credential")?.unwrap_or_default(),
            });
        }
    }
    if let Some(value) = dict.get("tlsCaCertificates") {
        config.tls_ca_certificates = if let Ok(pem) = value.try_to::<GString>() {
            pem.to_string()
        } else if let Ok(mut certificate) = value.try_to::<Gd<X509Certificate>>() {
            certificate.save_to_string().to_string()
        } else {
            return Err(invalid(
                "\"tlsCaCertificates\" must be PEM text or an X509Certificate".into(),
            ));
        };
    }
    let uses_tls = config
        .ice_servers
        .iter()
        .flat_map(|s| &s.urls)
        .any(|url| url.starts_with("turns:"));
    if uses_tls {
        // The same authorities Godot's own TLS trusts, on every platform (Windows and Android
        // keep theirs outside any file the core could read).
        let system = Os::singleton().get_system_ca_certificates().to_string();
        if !system.is_empty() {
            config.tls_ca_certificates.push('\n');
            config.tls_ca_certificates.push_str(&system);
        }
    }
    if let Some(policy) = string_at(dict, "iceTransportPolicy")? {
        config.ice_transport_policy = match policy.as_str() {
            "all" => IceTransportPolicy::All,
            "relay" => IceTransportPolicy::Relay,
            other => {
                return Err(invalid(format!(
                    "\"iceTransportPolicy\" is {other:?}; use \"all\" or \"relay\""
                )));
            }
        };
    }
    if let Some(address) = string_at(dict, "bindAddress")? {
        config.bind_address = address
            .parse::<IpAddr>()
            .map_err(|_| invalid(format!("\"bindAddress\" {address:?} is not an IP address")))?;
    }
    if let Some(range) = dict.get("portRange") {
        let bad = || invalid("\"portRange\" must be [min_port, max_port]".into());
        let range = range.try_to::<VarArray>().map_err(|_| bad())?;
        let port = |i: usize| -> Result<u16> {
            range
                .get(i)
                .and_then(|v| v.try_to::<i64>().ok())
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(bad)
        };
        if range.len() != 2 {
            return Err(bad());
        }
        config.port_range = Some(port(0)?..=port(1)?);
    }
    config.validate()?;
    Ok(config)
}

/// `{"negotiated": bool, "id": int, "ordered": bool, "maxPacketLifeTime": int,
/// "maxRetransmits": int, "protocol": String}`. Godot's built-in `WebRTCMultiplayerPeer` spells
/// the lifetime `maxPacketLifetime`; that spelling is honoured too, so its unreliable channels
/// really are unreliable on this backend.
pub fn channel_options(dict: &VarDictionary) -> Result<ChannelOptions> {
    let flag = |key: &str| -> Result<Option<bool>> {
        match dict.get(key) {
            None => Ok(None),
            Some(v) => v
                .try_to::<bool>()
                .map(Some)
                .map_err(|_| Error::InvalidParameter(format!("\"{key}\" must be a bool"))),
        }
    };
    let small = |key: &str| -> Result<Option<u16>> {
        int_at(dict, key)
            .map_err(|_| Error::InvalidParameter(format!("\"{key}\" must be an int")))?
            .map(|v| {
                u16::try_from(v).map_err(|_| {
                    Error::InvalidParameter(format!("\"{key}\" is {v}, outside 0..=65535"))
                })
            })
            .transpose()
    };
    let negotiated = flag("negotiated")?.unwrap_or(false);
    let id = small("id")?;
    if negotiated && id.is_none() {
        return Err(Error::InvalidParameter(
            "a negotiated channel needs an \"id\"".into(),
        ));
    }
    Ok(ChannelOptions {
        ordered: flag("ordered")?.unwrap_or(true),
        max_packet_life_time: small("maxPacketLifeTime")?.or(small("maxPacketLifetime")?),
        max_retransmits: small("maxRetransmits")?,
        protocol: string_at(dict, "protocol")
            .map_err(|_| Error::InvalidParameter("\"protocol\" must be a String".into()))?
            .unwrap_or_default(),
        negotiated_id: if negotiated { id } else { None },
    })
}

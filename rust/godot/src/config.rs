//! Godot dictionaries to core configuration: `WebRTCPeerConnection.initialize`'s configuration
//! and `create_data_channel`'s options, with the keys browsers and Godot use.

use std::net::IpAddr;

use godot::classes::{Os, X509Certificate};
use godot::prelude::*;
use std::time::Duration;

use webrtc_mesh_core::{
    ChannelOptions, ConnectionConfig, Error, IceServer, IceTransportPolicy, NetworkConditions,
    Result,
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
/// PEM String or X509Certificate, "connectTimeout": seconds (15 by default; a connection not
/// connected that long after the remote description fails), "networkConditions": {...} as in
/// [`network_conditions`]}`.
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
    if let Some(seconds) = number_at(dict, "connectTimeout")? {
        if !(seconds.is_finite() && (0.1..=3600.0).contains(&seconds)) {
            return Err(invalid(format!(
                "\"connectTimeout\" is {seconds}; use seconds from 0.1 to 3600"
            )));
        }
        config.connect_timeout = Duration::from_secs_f64(seconds);
    }
    if let Some(conditions) = dict.get("networkConditions") {
        let conditions = conditions
            .try_to::<VarDictionary>()
            .map_err(|_| invalid("\"networkConditions\" must be a Dictionary".into()))?;
        config.network_conditions = network_conditions(&conditions)?;
    }
    config.validate()?;
    Ok(config)
}

/// A number (int or float) under `key`.
fn number_at(dict: &VarDictionary, key: &str) -> Result<Option<f64>> {
    match dict.get(key) {
        None => Ok(None),
        Some(v) => v
            .try_to::<f64>()
            .or_else(|_| v.try_to::<i64>().map(|n| n as f64))
            .map(Some)
            .map_err(|_| invalid(format!("\"{key}\" must be a number"))),
    }
}

/// Milliseconds under `key`, as a duration.
fn millis_at(dict: &VarDictionary, key: &str) -> Result<Option<Duration>> {
    match number_at(dict, key)? {
        None => Ok(None),
        Some(ms) if ms.is_finite() && (0.0..=3_600_000.0).contains(&ms) => {
            Ok(Some(Duration::from_secs_f64(ms / 1000.0)))
        }
        Some(ms) => Err(invalid(format!(
            "\"{key}\" is {ms}; use milliseconds from 0 to 3600000"
        ))),
    }
}

/// `{"delay_ms": 75, "jitter_ms": 10, "loss": 0.03, "loss_burst": 1, "duplicate": 0.0,
/// "bandwidth": 0, "outages": [[start_s, length_s], ...], "seed": 0}`: every key optional, a
/// missing one a perfect link in that respect. `loss` and `duplicate` are shares from 0 to 1;
/// `bandwidth` is bytes per second (0 for no cap).
pub fn network_conditions(dict: &VarDictionary) -> Result<NetworkConditions> {
    const KEYS: [&str; 8] = [
        "delay_ms",
        "jitter_ms",
        "loss",
        "loss_burst",
        "duplicate",
        "bandwidth",
        "outages",
        "seed",
    ];
    for key in dict.keys_array().iter_shared() {
        let key = key.to_string();
        if !KEYS.contains(&key.as_str()) {
            return Err(invalid(format!(
                "unknown network condition {key:?}; known: {}",
                KEYS.join(", ")
            )));
        }
    }
    let mut conditions =
        NetworkConditions {
            delay: millis_at(dict, "delay_ms")?.unwrap_or_default(),
            jitter: millis_at(dict, "jitter_ms")?.unwrap_or_default(),
            loss: number_at(dict, "loss")?.unwrap_or(0.0),
            loss_burst: int_at(dict, "loss_burst")?
                .map(|n| {
                    u32::try_from(n).map_err(|_| invalid("\"loss_burst\" must be 0 or more".into()))
                })
                .transpose()?
                .unwrap_or(1),
            duplicate: number_at(dict, "duplicate")?.unwrap_or(0.0),
            bandwidth: match int_at(dict, "bandwidth")? {
                None | Some(0) => None,
                Some(n) => Some(u64::try_from(n).map_err(|_| {
                    invalid("\"bandwidth\" must be 0 or more bytes a second".into())
                })?),
            },
            outages: Vec::new(),
            seed: int_at(dict, "seed")?.unwrap_or(0) as u64,
        };
    if let Some(outages) = dict.get("outages") {
        let bad = || invalid("\"outages\" must be an Array of [start_s, length_s] pairs".into());
        let outages = outages.try_to::<VarArray>().map_err(|_| bad())?;
        for outage in outages.iter_shared() {
            let pair = outage.try_to::<VarArray>().map_err(|_| bad())?;
            let seconds = |i: usize| -> Result<Duration> {
                let v = pair.get(i).ok_or_else(bad)?;
                let s = v
                    .try_to::<f64>()
                    .or_else(|_| v.try_to::<i64>().map(|n| n as f64))
                    .map_err(|_| bad())?;
                if !(s.is_finite() && (0.0..=86_400.0).contains(&s)) {
                    return Err(bad());
                }
                Ok(Duration::from_secs_f64(s))
            };
            if pair.len() != 2 {
                return Err(bad());
            }
            conditions.outages.push((seconds(0)?, seconds(1)?));
        }
    }
    conditions.validate()?;
    Ok(conditions)
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

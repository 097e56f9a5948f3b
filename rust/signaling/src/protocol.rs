//! The messages of Godot's WebRTC signaling demo: WebSocket text frames holding
//! `{"type": int, "id": int, "data": string}`.

use serde_json::{Map, Value};

/// What a message means. The numbers are the demo's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Client: join the lobby named in `data` ("" creates one; `id` 0 = mesh, 1 = client/server).
    /// Server: the lobby joined, its name in `data`.
    Join = 0,
    /// Server: your id in `id`; `data` is "true" in a mesh lobby.
    Id = 1,
    /// Server: peer `id` is in your lobby now.
    PeerConnect = 2,
    /// Server: peer `id` left your lobby.
    PeerDisconnect = 3,
    /// An SDP offer: client to server with the destination in `id`, server to client with the
    /// source in `id`.
    Offer = 4,
    /// An SDP answer, addressed like an offer.
    Answer = 5,
    /// An ICE candidate, addressed like an offer; `data` is `"\n" + mid + "\n" + index + "\n" + sdp`.
    Candidate = 6,
    /// Client (host only): refuse new joins. Server: the lobby is sealed.
    Seal = 7,
}

impl MessageType {
    /// The type with this number, if any.
    pub fn from_number(n: i64) -> Option<MessageType> {
        Some(match n {
            0 => MessageType::Join,
            1 => MessageType::Id,
            2 => MessageType::PeerConnect,
            3 => MessageType::PeerDisconnect,
            4 => MessageType::Offer,
            5 => MessageType::Answer,
            6 => MessageType::Candidate,
            7 => MessageType::Seal,
            _ => return None,
        })
    }
}

/// One signaling message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What it means.
    pub kind: MessageType,
    /// A peer id (or the lobby mode of a join); see [`MessageType`].
    pub id: i64,
    /// Lobby name, SDP or candidate, by type.
    pub data: String,
}

/// Why a text is not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, not an object, or `type`/`id` missing or not whole numbers.
    Format,
    /// A well-formed message of a type that does not exist.
    UnknownType,
}

impl Message {
    /// A message.
    pub fn new(kind: MessageType, id: i64, data: impl Into<String>) -> Message {
        Message {
            kind,
            id,
            data: data.into(),
        }
    }

    /// Reads a message as the demo's server does: `type` and `id` must be non-negative whole
    /// numbers (JSON numbers, so `4.0` counts), `data` a string or absent (then "").
    pub fn parse(text: &str) -> Result<Message, ParseError> {
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
            return Err(ParseError::Format);
        };
        let whole = |key: &str| -> Option<i64> {
            let n = object.get(key)?;
            if let Some(i) = n.as_i64() {
                return Some(i);
            }
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        };
        let (Some(kind), Some(id)) = (whole("type"), whole("id")) else {
            return Err(ParseError::Format);
        };
        if kind < 0 || id < 0 {
            return Err(ParseError::Format);
        }
        let data = match object.get("data") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(ParseError::Format),
        };
        let kind = MessageType::from_number(kind).ok_or(ParseError::UnknownType)?;
        Ok(Message { kind, id, data })
    }

    /// The message as the JSON text of one WebSocket frame.
    pub fn to_json(&self) -> String {
        let mut object = Map::new();
        object.insert("type".into(), Value::from(self.kind as i64));
        object.insert("id".into(), Value::from(self.id));
        object.insert("data".into(), Value::from(self.data.as_str()));
        Value::Object(object).to_string()
    }
}

/// The `data` of a candidate message: `"\n" + mid + "\n" + index + "\n" + sdp`.
pub fn encode_candidate(mid: &str, index: i64, sdp: &str) -> String {
    format!("\n{mid}\n{index}\n{sdp}")
}

/// Reads the `data` of a candidate message as the demo's client does: three non-empty lines,
/// the second a whole number.
pub fn decode_candidate(data: &str) -> Option<(String, i64, String)> {
    let mut parts = data.split('\n').filter(|p| !p.is_empty());
    let (mid, index, sdp) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((mid.to_string(), index.trim().parse().ok()?, sdp.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Message::new(MessageType::Offer, 2_147_483_647, "v=0\r\n\"quoted\" é");
        assert_eq!(Message::parse(&m.to_json()), Ok(m));
    }

    #[test]
    fn accepts_what_godot_sends() {
        // Godot's JSON.stringify writes numbers of a Dictionary built from ints as ints, but
        // floats from parsed JSON as 4.0: both are whole numbers.
        let m = Message::parse(r#"{"type": 4.0, "id": 1.0, "data": "x"}"#).unwrap();
        assert_eq!(
            (m.kind, m.id, m.data.as_str()),
            (MessageType::Offer, 1, "x")
        );
        let m = Message::parse(r#"{"id": 0, "type": 0}"#).unwrap();
        assert_eq!((m.kind, m.data.as_str()), (MessageType::Join, ""));
    }

    #[test]
    fn refuses_what_is_not_a_message() {
        for text in [
            "",
            "J: \n",
            "[]",
            "{}",
            r#"{"type": "4", "id": 1}"#,
            r#"{"type": 4.5, "id": 1}"#,
            r#"{"type": 4, "id": -1}"#,
            r#"{"type": 4, "id": 1, "data": 5}"#,
            r#"{"type": 4, "id": 1e300}"#,
            r#"{"type": 4, "id": 1"#,
        ] {
            assert_eq!(Message::parse(text), Err(ParseError::Format), "{text:?}");
        }
        assert_eq!(
            Message::parse(r#"{"type": 8, "id": 1}"#),
            Err(ParseError::UnknownType)
        );
    }

    #[test]
    fn candidates() {
        let data = encode_candidate("0", 0, "candidate:1 1 udp 1 10.0.0.1 5000 typ host");
        assert_eq!(
            decode_candidate(&data),
            Some((
                "0".into(),
                0,
                "candidate:1 1 udp 1 10.0.0.1 5000 typ host".into()
            ))
        );
        assert_eq!(decode_candidate("\n0\nx\ncandidate"), None);
        assert_eq!(decode_candidate("\n0\n0"), None);
    }
}

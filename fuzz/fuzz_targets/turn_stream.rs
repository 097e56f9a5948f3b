//! The TURN-over-TCP/TLS stream framing, called as the driver calls it: each message from
//! the TURN client in one reused buffer of `TURN_STREAM_BUFFER` bytes and framed for the
//! stream with `frame_for_stream`; the stream read in arbitrary chunks and split with
//! `next_message` into messages to hand back as datagrams.
//!
//! Checked besides panics: a framed datagram lies within the buffer, keeps its bytes, is
//! padded with zeros (never with a previous datagram's bytes), and reads back from the stream
//! as exactly one message; the messages read from a stream do not depend on how it was cut
//! into reads.
//!
//! Input: byte 0 picks the mode, the rest is read by `Unstructured`.

#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use webrtc_mesh_core::fuzzing::{TURN_STREAM_BUFFER, frame_for_stream, next_message};

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let _ = match mode % 3 {
        0 => datagrams_through_the_stream(&mut u),
        1 => read_stream(&mut u),
        _ => frame_raw(rest),
    };
});

/// A datagram as webrtc-rs might send it: a 4-byte header and a body, the body's length free
/// (up to what the buffer holds) or matching the header, so both well-formed and lying
/// datagrams come up. Large bodies are mostly filler, so short inputs reach them.
fn datagram(u: &mut Unstructured) -> Result<Vec<u8>> {
    let mut head: [u8; 4] = u.arbitrary()?;
    let body_len = match u.int_in_range(0..=7)? {
        0 => u.int_in_range(0..=TURN_STREAM_BUFFER - 4)?,
        1 => TURN_STREAM_BUFFER - 4 - u.int_in_range(0..=8)?,
        _ => u.int_in_range(0..=80)?,
    };
    if u.ratio(1, 2)? {
        // The length field as a well-behaved sender writes it.
        let declared = match head[0] >> 6 {
            0 => body_len.saturating_sub(16),
            _ => body_len,
        };
        if let Ok(declared) = u16::try_from(declared) {
            head[2..4].copy_from_slice(&declared.to_be_bytes());
        }
    }
    let mut d = head.to_vec();
    let given = u.bytes(body_len.min(u.len()))?;
    d.extend_from_slice(given);
    let fill = u.arbitrary::<u8>()?;
    d.resize(4 + body_len, fill);
    Ok(d)
}

/// Cuts of the stream into reads, as `read` returns them: any size up to the read buffer.
fn cuts(u: &mut Unstructured) -> Result<Vec<usize>> {
    let mut cuts = Vec::new();
    while !u.is_empty() && cuts.len() < 64 {
        cuts.push(match u.int_in_range(0..=3)? {
            0 => u.int_in_range(1..=TURN_STREAM_BUFFER)?,
            _ => u.int_in_range(1..=32)?,
        });
    }
    Ok(cuts)
}

/// Frames one datagram in `buf` (holding whatever the previous datagram left) as the bridge
/// does, checking the frame; returns the message and its frame, or `None` if dropped.
fn frame(buf: &mut [u8], datagram: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let n = datagram.len();
    buf[..n].copy_from_slice(datagram);
    let framed = frame_for_stream(buf, n)?;
    assert!(
        framed <= buf.len(),
        "frame of {framed} bytes past the buffer"
    );
    let frame = buf[..framed].to_vec();
    // The server reads the stream with the same framing rules; a frame that does not read
    // back as exactly one message leaves the stream out of step.
    let read = next_message(&frame).expect("a frame reads as TURN");
    let Some((len, on_stream)) = read else {
        panic!("a {framed}-byte frame of a {n}-byte datagram reads as incomplete");
    };
    assert_eq!(
        on_stream, framed,
        "a {n}-byte datagram framed as {framed} bytes reads back as {on_stream}"
    );
    assert!(len <= n, "message of {len} bytes from a {n}-byte datagram");
    assert_eq!(
        &frame[..len],
        &datagram[..len],
        "framing changed the message"
    );
    // Padding replaces whatever followed the message: the datagram's trailing bytes or the
    // previous datagram's.
    assert!(
        frame[len..].iter().all(|&b| b == 0),
        "padding is not zeros: {:?}",
        &frame[len..]
    );
    Some((frame[..len].to_vec(), frame))
}

/// Datagrams framed onto the stream, the stream read back in arbitrary cuts: what comes out
/// is every datagram that was not dropped, in order, trimmed to its message.
fn datagrams_through_the_stream(u: &mut Unstructured) -> Result<()> {
    let mut buf = vec![0u8; TURN_STREAM_BUFFER];
    let mut stream = Vec::new();
    let mut sent = Vec::new();
    let count = u.int_in_range(1..=8)?;
    for _ in 0..count {
        let datagram = datagram(u)?;
        if let Some((message, frame)) = frame(&mut buf, &datagram) {
            stream.extend_from_slice(&frame);
            sent.push(message);
        }
    }
    let cuts = cuts(u)?;
    let (received, error) = read_in_cuts(&stream, &cuts);
    assert!(error.is_none(), "framed datagrams read as {error:?}");
    assert_eq!(
        received, sent,
        "messages changed on the way through the stream"
    );
    Ok(())
}

/// Arbitrary stream bytes (a server's, maybe hostile) read in arbitrary cuts: the same
/// messages, and the same error, as reading it in reads as large as the buffer allows.
fn read_stream(u: &mut Unstructured) -> Result<()> {
    let mut stream = Vec::new();
    let parts = u.int_in_range(0..=6)?;
    for _ in 0..parts {
        if u.ratio(1, 2)? {
            stream.extend(datagram(u)?);
        } else {
            let len = u.int_in_range(0..=64)?;
            stream.extend_from_slice(u.bytes(len.min(u.len()))?);
        }
    }
    let cuts = cuts(u)?;
    let whole = read_in_cuts(&stream, &[]);
    let cut = read_in_cuts(&stream, &cuts);
    assert_eq!(cut, whole, "reads cut differently found different messages");
    Ok(())
}

/// Raw bytes as one datagram, as a local process might send to the bridge's socket.
fn frame_raw(data: &[u8]) -> Result<()> {
    let mut buf = vec![0xa5u8; TURN_STREAM_BUFFER];
    let data = &data[..data.len().min(TURN_STREAM_BUFFER)];
    frame(&mut buf, data);
    Ok(())
}

/// The bridge's read loop: each read appended to what is pending, whole messages taken off
/// the front. Returns the messages and the error that ended the stream, if any. Reads past
/// the given cuts take the rest of the stream.
fn read_in_cuts(stream: &[u8], cuts: &[usize]) -> (Vec<Vec<u8>>, Option<String>) {
    let mut messages = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut at = 0;
    let mut cuts = cuts.iter().copied();
    while at < stream.len() {
        let n = cuts
            .next()
            .unwrap_or(TURN_STREAM_BUFFER)
            .min(TURN_STREAM_BUFFER)
            .min(stream.len() - at);
        pending.extend_from_slice(&stream[at..at + n]);
        at += n;
        let mut start = 0;
        loop {
            match next_message(&pending[start..]) {
                Ok(Some((len, on_stream))) => {
                    assert!(
                        len <= on_stream && on_stream - len < 4,
                        "message of {len} taking {on_stream} bytes"
                    );
                    assert!(on_stream > 0, "an empty message never moves the stream on");
                    messages.push(pending[start..start + len].to_vec());
                    start += on_stream;
                }
                Ok(None) => break,
                Err(e) => return (messages, Some(e.to_string())),
            }
        }
        pending.drain(..start);
    }
    (messages, None)
}

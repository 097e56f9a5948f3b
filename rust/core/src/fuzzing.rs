//! Internal parsers reachable by the fuzz targets under `fuzz/`. Built only with the `fuzzing`
//! feature; nothing here is a stable interface.

use std::io;

/// Size of each read from a TURN stream, and the largest message the framing is given. The fuzz
/// targets call the framing with buffers of this size.
pub const TURN_STREAM_BUFFER: usize = 65_536;

/// The TURN stream's framing of one message: the length to send from `buf`
/// once ChannelData is padded, or `None` to drop the datagram. `n` is the datagram's length.
pub fn frame_for_stream(buf: &mut [u8], n: usize) -> Option<usize> {
    crate::driver::frame_for_stream(buf, n)
}

/// The TURN stream's reading: the next complete message's length and the bytes
/// it takes on the stream, `None` until it is all there, an error for bytes that are not TURN.
pub fn next_message(stream: &[u8]) -> io::Result<Option<(usize, usize)>> {
    crate::driver::next_message(stream)
}

/// Fuzzed SCTP chunks into an established association (see `sctp::fuzz_chunks`): two length
/// bytes, then the chunk bytes of one packet, repeated.
pub fn sctp_chunks(input: &[u8]) {
    crate::sctp::fuzz_chunks(input)
}

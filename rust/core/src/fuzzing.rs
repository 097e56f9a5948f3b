//! Internal parsers reachable by the fuzz targets under `fuzz/`. Built only with the `fuzzing`
//! feature; nothing here is a stable interface.

use std::io;

/// Size of the buffer the TURN bridge reads each datagram from the driver into (and of each
/// read from the stream). The fuzz targets call the framing with buffers of this size, as the
/// bridge does.
pub const TURN_BRIDGE_BUFFER: usize = 65_536;

/// The TURN bridge's framing of one datagram for the stream: the length to send from `buf`
/// once ChannelData is padded, or `None` to drop the datagram. `n` is the datagram's length.
pub fn frame_for_stream(buf: &mut [u8], n: usize) -> Option<usize> {
    crate::driver::frame_for_stream(buf, n)
}

/// The TURN bridge's reading of the stream: the next complete message's length and the bytes
/// it takes on the stream, `None` until it is all there, an error for bytes that are not TURN.
pub fn next_message(stream: &[u8]) -> io::Result<Option<(usize, usize)>> {
    crate::driver::next_message(stream)
}

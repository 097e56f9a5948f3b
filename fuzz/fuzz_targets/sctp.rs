//! SCTP as a hostile peer speaks it inside an authenticated DTLS session: an established pair
//! of associations with data flowing, and packets of fuzzed chunks (with the right tag and
//! checksum, so they get past the first checks into every chunk's fields) handed to either
//! side as time moves on.
//!
//! Checked besides panics: neither side holds more than its configured buffers.
//!
//! Input: packets as two length bytes and then that many bytes of chunks, repeated.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webrtc_mesh_core::fuzzing::sctp_chunks;

fuzz_target!(|data: &[u8]| {
    sctp_chunks(data);
});

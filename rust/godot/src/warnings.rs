//! What the core logs (a STUN or TURN server that refuses or never answers, a malformed
//! message) reaches Godot's debugger as warnings.
//!
//! The core logs through the `log` facade from its runtime's threads, where no Godot call is
//! allowed. Records wait in a bounded queue here; the classes' `poll()`, on the main thread,
//! hands them to `push_warning`, at most [`PER_SECOND`] a second: a peer that makes us log on
//! every datagram must not flood the editor's output.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use godot::global::godot_warn;
use parking_lot::Mutex;

/// Warnings shown per second at most; the rest are counted and the count shown.
const PER_SECOND: u32 = 5;

/// Records kept while nobody polls; older ones are dropped (and counted) past it.
const QUEUE: usize = 64;

/// Longest record kept, in bytes: the queue stays under 64 x 512 bytes whatever a message
/// quotes (a server's reply, say).
const RECORD_BYTES: usize = 512;

struct Pending {
    records: VecDeque<String>,
    dropped: u64,
    window: Option<Instant>,
    shown: u32,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    records: VecDeque::new(),
    dropped: 0,
    window: None,
    shown: 0,
});

struct Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn && metadata.target().starts_with("webrtc_mesh")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut pending = PENDING.lock();
        if pending.records.len() >= QUEUE {
            pending.records.pop_front();
            pending.dropped += 1;
        }
        let mut text = format!("webrtc_mesh: {}", record.args());
        if text.len() > RECORD_BYTES {
            let mut end = RECORD_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        pending.records.push_back(text);
    }

    fn flush(&self) {}
}

/// Installs the forwarder as the process's logger, unless the host installed one already.
pub(crate) fn install() {
    static FORWARDER: OnceLock<Forwarder> = OnceLock::new();
    if log::set_logger(FORWARDER.get_or_init(|| Forwarder)).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// Shows what waits, within the rate limit. Main thread only.
pub(crate) fn show() {
    let mut shown = Vec::new();
    let mut suppressed = 0;
    {
        let mut pending = PENDING.lock();
        if pending.records.is_empty() && pending.dropped == 0 {
            return;
        }
        let now = Instant::now();
        if pending
            .window
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(1))
        {
            pending.window = Some(now);
            pending.shown = 0;
        }
        while pending.shown < PER_SECOND
            && let Some(record) = pending.records.pop_front()
        {
            pending.shown += 1;
            shown.push(record);
        }
        if pending.shown >= PER_SECOND && !pending.records.is_empty() {
            // Past the limit this second: count the rest rather than hold them for later.
            pending.dropped += pending.records.len() as u64;
            pending.records.clear();
        }
        if pending.shown < PER_SECOND && pending.dropped > 0 {
            suppressed = std::mem::take(&mut pending.dropped);
            pending.shown += 1;
        }
    }
    for record in shown {
        godot_warn!("{record}");
    }
    if suppressed > 0 {
        godot_warn!(
            "webrtc_mesh: {suppressed} more warnings suppressed (at most {PER_SECOND} a second)"
        );
    }
}

//! Which stream sends next: each stream with messages waiting gets a turn in order, one message
//! per turn. A data channel flooded with game state then delays another channel's message by
//! at most one message, not by everything the flood queued before it.
//!
//! A message, once begun, finishes before another starts: DATA chunks (unlike RFC 8260's
//! I-DATA) must carry a message's fragments in consecutive TSNs.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::time::Instant;

use bytes::Bytes;

use super::outbound::Reliability;

/// A message waiting for (the rest of) its chunks.
pub(crate) struct Queued {
    pub(crate) id: u64,
    pub(crate) stream: u16,
    pub(crate) ppid: u32,
    pub(crate) ordered: bool,
    pub(crate) reliability: Reliability,
    pub(crate) data: Bytes,
    /// How much of `data` has been cut into chunks.
    pub(crate) offset: usize,
    /// Set with the first chunk's TSN.
    pub(crate) ssn: u16,
    pub(crate) first_sent: Option<Instant>,
}

#[derive(Default)]
pub(crate) struct Streams {
    waiting: BTreeMap<u16, VecDeque<Queued>>,
    /// The stream whose turn it is; it keeps the turn until its front message is sent.
    turn: Option<u16>,
    /// The stream that had the last turn.
    last: Option<u16>,
}

impl Streams {
    pub(crate) fn push(&mut self, message: Queued) {
        self.waiting
            .entry(message.stream)
            .or_default()
            .push_back(message);
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The message to cut chunks from next.
    pub(crate) fn next(&mut self) -> Option<&mut Queued> {
        if self.turn.is_none() {
            let after = match self.last {
                Some(last) => self
                    .waiting
                    .range((Bound::Excluded(last), Bound::Unbounded))
                    .next(),
                None => None,
            };
            self.turn = after
                .or_else(|| self.waiting.iter().next())
                .map(|(&s, _)| s);
        }
        let stream = self.turn?;
        self.waiting.get_mut(&stream)?.front_mut()
    }

    /// The message from [`next`](Self::next) is all in chunks: the turn passes on.
    pub(crate) fn finish_next(&mut self) {
        let Some(stream) = self.turn.take() else {
            return;
        };
        self.last = Some(stream);
        if let Some(queue) = self.waiting.get_mut(&stream) {
            queue.pop_front();
            if queue.is_empty() {
                self.waiting.remove(&stream);
            }
        }
    }

    /// Removes the message `id`, wherever it waits.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Queued> {
        let (&stream, queue) = self
            .waiting
            .iter_mut()
            .find(|(_, queue)| queue.iter().any(|queued| queued.id == id))?;
        let index = queue.iter().position(|queued| queued.id == id)?;
        let removed = queue.remove(index);
        if queue.is_empty() {
            self.waiting.remove(&stream);
        }
        if index == 0 && self.turn == Some(stream) {
            self.turn = None;
            self.last = Some(stream);
        }
        removed
    }

    /// The oldest perishable message not yet begun, across all streams.
    pub(crate) fn oldest_unsent_perishable(&self) -> Option<u64> {
        self.waiting
            .values()
            .filter_map(|queue| {
                queue
                    .iter()
                    .find(|queued| queued.reliability.is_perishable() && queued.offset == 0)
            })
            .map(|queued| queued.id)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64, stream: u16) -> Queued {
        Queued {
            id,
            stream,
            ppid: 53,
            ordered: true,
            reliability: Reliability::Reliable,
            data: Bytes::from_static(b"x"),
            offset: 0,
            ssn: 0,
            first_sent: None,
        }
    }

    #[test]
    fn streams_take_turns_one_message_each() {
        let mut streams = Streams::default();
        for id in 0..4 {
            streams.push(message(id, 1));
        }
        streams.push(message(10, 2));
        streams.push(message(11, 3));
        let mut order = Vec::new();
        while let Some(next) = streams.next() {
            order.push(next.id);
            streams.finish_next();
        }
        assert_eq!(order, [0, 10, 11, 1, 2, 3]);
        assert!(streams.is_empty());
    }
}

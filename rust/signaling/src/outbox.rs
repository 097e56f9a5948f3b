//! What waits to be written to one connection, bounded in bytes rather than messages: a few
//! large messages cost as much as many small ones.
//!
//! Whoever fills a connection's queue pays for it. Each source (a peer relaying to it, or the
//! server with its own messages) may have at most its [`share`] waiting, so a peer that sends
//! faster than the connection reads is refused while the other peers, and the connection,
//! carry on. A connection that reads nothing at all is found by its writer, which sees its
//! socket take nothing (see `Limits::unread_timeout`).

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::hub::{Close, ConnId};

/// Who a queued message comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// The server's own messages: ids, joins, leaves, seals.
    Server,
    /// A relay from this connection.
    Peer(ConnId),
}

/// Bytes one source may have waiting for a connection that `senders` peers may write to: an
/// equal part of `budget` for each of them and the server, but never less than one message of
/// `largest` bytes, so that every message the limits allow can be relayed.
pub(crate) fn share(budget: usize, senders: usize, largest: usize) -> usize {
    (budget / senders.saturating_add(1)).max(largest)
}

/// The source has its share waiting already; the message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// What the writer does next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Write these messages, then report them [`written`](Outbox::written).
    Send(Vec<String>, Taken),
    /// Everything queued is written: close with this.
    Close(Close),
}

/// The bytes of a batch, by source, until they are written.
#[derive(Debug)]
pub(crate) struct Taken(Vec<(Source, usize)>);

/// One connection's queue. The hub's side pushes without waiting; the connection's task takes.
#[derive(Default)]
pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<(Source, String)>,
    /// Bytes queued or being written, by source. Sources with nothing waiting are removed, so
    /// peers that come and go leave nothing behind.
    waiting: HashMap<Source, usize>,
    bytes: usize,
    close: Option<Close>,
}

impl Outbox {
    /// An empty queue.
    pub(crate) fn new() -> Outbox {
        Outbox::default()
    }

    /// Queues a message unless its source would have more than `share` bytes waiting.
    pub(crate) fn push(&self, source: Source, text: String, share: usize) -> Result<(), Full> {
        let mut queue = self.queue.lock();
        if queue.close.is_some() {
            // Closing: nothing more goes out, and nobody is at fault for sending it.
            return Ok(());
        }
        let waiting = queue.waiting.get(&source).copied().unwrap_or(0);
        if waiting.saturating_add(text.len()) > share {
            return Err(Full);
        }
        queue.waiting.insert(source, waiting + text.len());
        queue.bytes += text.len();
        queue.messages.push_back((source, text));
        drop(queue);
        self.ready.notify_one();
        Ok(())
    }

    /// Closes after what is queued: the first close wins.
    pub(crate) fn close(&self, close: Close) {
        let mut queue = self.queue.lock();
        if queue.close.is_none() {
            queue.close = Some(close);
        }
        drop(queue);
        self.ready.notify_one();
    }

    /// Waits for messages and takes them, about `max_bytes` of them and at least one; or once
    /// none are left and the queue is closed, the close.
    pub(crate) async fn next(&self, max_bytes: usize) -> Next {
        loop {
            if let Some(next) = self.take(max_bytes) {
                return next;
            }
            // A push between `take` and here leaves a permit, so this does not miss it.
            self.ready.notified().await;
        }
    }

    fn take(&self, max_bytes: usize) -> Option<Next> {
        let mut queue = self.queue.lock();
        if queue.messages.is_empty() {
            return queue.close.take().map(Next::Close);
        }
        let (mut texts, mut taken, mut bytes) = (Vec::new(), Vec::new(), 0);
        while let Some((_, text)) = queue.messages.front() {
            if !texts.is_empty() && bytes + text.len() > max_bytes {
                break;
            }
            let Some((source, text)) = queue.messages.pop_front() else {
                break;
            };
            bytes += text.len();
            taken.push((source, text.len()));
            texts.push(text);
        }
        Some(Next::Send(texts, Taken(taken)))
    }

    /// The batch is on the socket: its bytes no longer count against their sources.
    pub(crate) fn written(&self, taken: Taken) {
        let mut queue = self.queue.lock();
        for (source, bytes) in taken.0 {
            queue.bytes = queue.bytes.saturating_sub(bytes);
            if let Some(waiting) = queue.waiting.get_mut(&source) {
                *waiting = waiting.saturating_sub(bytes);
                if *waiting == 0 {
                    queue.waiting.remove(&source);
                }
            }
        }
    }

    /// Bytes queued or being written.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.queue.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::reasons;

    fn text(n: usize) -> String {
        "x".repeat(n)
    }

    async fn batch(outbox: &Outbox, max: usize) -> (Vec<String>, Taken) {
        match outbox.next(max).await {
            Next::Send(texts, taken) => (texts, taken),
            Next::Close(close) => panic!("closed: {close:?}"),
        }
    }

    #[test]
    fn shares_split_the_budget_but_always_hold_a_largest_message() {
        assert_eq!(share(1 << 20, 3, 65_535), 1 << 18);
        assert_eq!(share(1 << 20, 15, 65_535), 65_536);
        assert_eq!(share(1 << 20, 63, 65_535), 65_535);
        assert_eq!(share(1 << 20, 0, 65_535), 1 << 20);
        assert_eq!(share(1 << 20, usize::MAX, 100), 100);
    }

    #[tokio::test]
    async fn each_source_is_held_to_its_share_until_its_bytes_are_written() {
        let outbox = Outbox::new();
        let (a, b) = (Source::Peer(1), Source::Peer(2));
        assert_eq!(outbox.push(a, text(600), 1000), Ok(()));
        assert_eq!(outbox.push(a, text(400), 1000), Ok(()));
        assert_eq!(
            outbox.push(a, text(1), 1000),
            Err(Full),
            "a's share is full"
        );
        assert_eq!(outbox.push(b, text(1000), 1000), Ok(()), "b has its own");
        assert_eq!(outbox.push(Source::Server, text(10), 1000), Ok(()));
        assert_eq!(outbox.bytes(), 2010);

        // Taken is not written yet: it still counts.
        let (texts, taken) = batch(&outbox, 700).await;
        assert_eq!(texts.iter().map(String::len).collect::<Vec<_>>(), [600]);
        assert_eq!(outbox.push(a, text(1), 1000), Err(Full));
        outbox.written(taken);
        assert_eq!(outbox.push(a, text(600), 1000), Ok(()));
        assert_eq!(outbox.bytes(), 2010);

        // In order, about max bytes at a time, at least one message.
        let (texts, taken) = batch(&outbox, 100).await;
        assert_eq!(texts.iter().map(String::len).collect::<Vec<_>>(), [400]);
        outbox.written(taken);
        let (texts, taken) = batch(&outbox, 5000).await;
        assert_eq!(
            texts.iter().map(String::len).collect::<Vec<_>>(),
            [1000, 10, 600]
        );
        outbox.written(taken);
        assert_eq!(outbox.bytes(), 0);
        assert!(
            outbox.queue.lock().waiting.is_empty(),
            "nothing left behind"
        );
    }

    #[tokio::test]
    async fn closing_comes_after_what_is_queued() {
        let outbox = Outbox::new();
        outbox.push(Source::Server, text(5), 100).unwrap();
        outbox.close(reasons::SHUTDOWN);
        outbox.close(reasons::TOO_FAST);
        assert_eq!(outbox.push(Source::Server, text(5), 100), Ok(()), "dropped");
        let (texts, taken) = batch(&outbox, 100).await;
        assert_eq!(texts.len(), 1);
        outbox.written(taken);
        assert!(matches!(outbox.next(100).await, Next::Close(c) if c == reasons::SHUTDOWN));
    }

    #[tokio::test]
    async fn the_writer_wakes_for_a_push() {
        let outbox = std::sync::Arc::new(Outbox::new());
        let pusher = outbox.clone();
        let push = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            pusher.push(Source::Peer(7), text(3), 10).unwrap();
        });
        let (texts, _) = batch(&outbox, 100).await;
        assert_eq!(texts, [text(3)]);
        push.await.unwrap();
    }
}

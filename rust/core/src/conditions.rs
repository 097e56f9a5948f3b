//! Network conditions as a feature: delay, jitter, loss (random and in bursts), duplication, a
//! bandwidth cap and scripted outages, applied to every datagram a connection sends, so ICE,
//! DTLS and SCTP all meet them as they would on a player's link. Seeded: a run repeats.
//!
//! The [`LinkSimulator`] is sans-IO. The driver hands it each datagram as it would send it and
//! sends what [`LinkSimulator::poll_due`] releases; [`LinkSimulator::next_due`] joins the driver's
//! timer deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Conditions applied to what a connection sends (one direction of its link: configure both
/// peers for both). The default is a perfect link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkConditions {
    /// Added to every datagram.
    pub delay: Duration,
    /// Up to this much more, uniformly at random per datagram. Datagrams may overtake each
    /// other by it, as on a real path.
    pub jitter: Duration,
    /// Share of datagrams lost, 0.0 to 1.0.
    pub loss: f64,
    /// Mean length of a run of lost datagrams: 0 or 1 loses each datagram independently; more
    /// makes losses come in bursts of about this length, at the same overall `loss`.
    pub loss_burst: u32,
    /// Share of datagrams sent twice, 0.0 to 1.0.
    pub duplicate: f64,
    /// Bytes per second the link carries; `None` for no cap. Datagrams beyond it wait their
    /// turn, and are dropped once a quarter second of them waits (a router's queue).
    pub bandwidth: Option<u64>,
    /// Times the link is down, as (start, length) from the connection's creation: everything
    /// sent meanwhile is lost.
    pub outages: Vec<(Duration, Duration)>,
    /// Seed of the random choices: the same seed and traffic give the same losses.
    pub seed: u64,
}

impl NetworkConditions {
    /// Whether these conditions change anything.
    pub fn is_perfect(&self) -> bool {
        self.delay.is_zero()
            && self.jitter.is_zero()
            && self.loss <= 0.0
            && self.duplicate <= 0.0
            && self.bandwidth.is_none()
            && self.outages.is_empty()
    }

    /// Checks that shares are within 0 to 1 and a bandwidth cap carries something.
    pub fn validate(&self) -> Result<()> {
        for (name, share) in [("loss", self.loss), ("duplicate", self.duplicate)] {
            if !(0.0..=1.0).contains(&share) {
                return Err(Error::InvalidConfig(format!(
                    "network condition {name} is {share}, not a share from 0.0 to 1.0"
                )));
            }
        }
        if self.bandwidth == Some(0) {
            return Err(Error::InvalidConfig(
                "a bandwidth of 0 bytes per second carries nothing; use None for no cap".into(),
            ));
        }
        Ok(())
    }
}

/// Most bytes the simulator holds back (delayed or queued) per connection; past it datagrams
/// are dropped, as a full queue would drop them.
const HELD_BYTES: usize = 8 * 1024 * 1024;

/// Longest a datagram waits for the bandwidth cap before it is dropped.
const QUEUE_DELAY: Duration = Duration::from_millis(250);

/// One datagram held back: from which local address, to whom, what.
#[derive(Debug)]
pub struct Datagram {
    /// The local address it is sent from.
    pub from: SocketAddr,
    /// Where it goes.
    pub to: SocketAddr,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

struct Held {
    due: Reverse<Instant>,
    order: Reverse<u64>,
    datagram: Datagram,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

/// Applies [`NetworkConditions`] to outgoing datagrams, sans-IO: every connection's driver uses
/// one, and another transport (a benchmark's ENet, say) can put the same conditions on its own
/// socket. Hand it each datagram as it would be sent ([`send`](Self::send)), send what
/// [`poll_due`](Self::poll_due) releases, and come back at [`next_due`](Self::next_due).
pub struct LinkSimulator {
    conditions: NetworkConditions,
    started: Instant,
    random: u64,
    // In a burst of losses (the bad state of a two-state loss model).
    losing: bool,
    // When the bandwidth cap lets the next datagram leave.
    link_free: Instant,
    held: BinaryHeap<Held>,
    held_bytes: usize,
    sent: u64,
}

impl LinkSimulator {
    /// A simulator applying `conditions`; outages count from `now`.
    pub fn new(conditions: NetworkConditions, now: Instant) -> LinkSimulator {
        LinkSimulator {
            // Never zero: the generator would stay at zero.
            random: conditions.seed ^ 0x9e37_79b9_7f4a_7c15,
            conditions,
            started: now,
            losing: false,
            link_free: now,
            held: BinaryHeap::new(),
            held_bytes: 0,
            sent: 0,
        }
    }

    /// A uniform draw from [0, 1) (splitmix64).
    fn draw(&mut self) -> f64 {
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether the next datagram is lost. Two states: after a loss the next is lost with
    /// probability `stay`, otherwise with `start`. With `stay` = `loss` (bursts no longer than
    /// chance makes them) losses are independent; longer bursts raise `stay` to 1 - 1/burst
    /// and lower `start` to keep the overall share at `loss`.
    fn lost(&mut self) -> bool {
        let loss = self.conditions.loss;
        if loss <= 0.0 {
            return false;
        }
        if loss >= 1.0 {
            return true;
        }
        let burst = f64::from(self.conditions.loss_burst.max(1));
        let stay = (1.0 - 1.0 / burst).max(loss);
        // Stationary share of the losing state: start / (start + 1 - stay) = loss.
        let start = (loss * (1.0 - stay) / (1.0 - loss)).min(1.0);
        let p = if self.losing { stay } else { start };
        self.losing = self.draw() < p;
        self.losing
    }

    fn in_outage(&self, now: Instant) -> bool {
        let since = now.saturating_duration_since(self.started);
        self.conditions
            .outages
            .iter()
            .any(|&(start, length)| since >= start && since < start + length)
    }

    /// Takes a datagram sent at `now`: lost, held back, or (duplicated and) held.
    pub fn send(&mut self, now: Instant, mut datagram: Datagram) {
        if self.in_outage(now) || self.lost() {
            return;
        }
        let copies = if self.draw() < self.conditions.duplicate {
            2
        } else {
            1
        };
        let len = datagram.bytes.len();
        for copy in 1..=copies {
            let mut leaves = now;
            if let Some(rate) = self.conditions.bandwidth {
                let start = self.link_free.max(now);
                if start.duration_since(now) > QUEUE_DELAY {
                    continue;
                }
                self.link_free = start + Duration::from_secs_f64(len as f64 / rate as f64);
                leaves = self.link_free;
            }
            if self.held_bytes + len > HELD_BYTES {
                continue;
            }
            let jitter = self.conditions.jitter.mul_f64(self.draw());
            let bytes = if copy == copies {
                std::mem::take(&mut datagram.bytes)
            } else {
                datagram.bytes.clone()
            };
            self.held_bytes += len;
            self.sent += 1;
            self.held.push(Held {
                due: Reverse(leaves + self.conditions.delay + jitter),
                order: Reverse(self.sent),
                datagram: Datagram {
                    from: datagram.from,
                    to: datagram.to,
                    bytes,
                },
            });
        }
    }

    /// These conditions from `now` on (their outages count from it), keeping what is already
    /// held back (due when it was).
    pub(crate) fn change(&mut self, conditions: NetworkConditions, now: Instant) {
        self.started = now;
        self.random = conditions.seed ^ 0x9e37_79b9_7f4a_7c15;
        self.conditions = conditions;
        self.losing = false;
    }

    /// Whether nothing is held back and the conditions are a perfect link: the simulator can
    /// go.
    pub(crate) fn idle_and_perfect(&self) -> bool {
        self.held.is_empty() && self.conditions.is_perfect()
    }

    /// A datagram whose time has come, if any.
    pub fn poll_due(&mut self, now: Instant) -> Option<Datagram> {
        if self.held.peek()?.due.0 > now {
            return None;
        }
        let held = self.held.pop()?;
        self.held_bytes -= held.datagram.bytes.len();
        Some(held.datagram)
    }

    /// When the next datagram is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.peek().map(|held| held.due.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(n: u8) -> Datagram {
        Datagram {
            from: "127.0.0.1:1".parse().unwrap(),
            to: "127.0.0.1:2".parse().unwrap(),
            bytes: vec![n; 100],
        }
    }

    /// Sends `count` datagrams 1 ms apart and collects (sent index, delivered after).
    fn run(conditions: NetworkConditions, count: u32) -> Vec<(u8, Duration)> {
        let start = Instant::now();
        let mut sim = LinkSimulator::new(conditions, start);
        let mut out = Vec::new();
        let mut sent_at = Vec::new();
        for i in 0..count {
            let now = start + Duration::from_millis(u64::from(i));
            sent_at.push(now);
            sim.send(now, datagram(i as u8));
            while let Some(d) = sim.poll_due(now) {
                out.push((d.bytes[0], now));
            }
        }
        let mut now = start + Duration::from_millis(u64::from(count));
        while let Some(due) = sim.next_due() {
            now = now.max(due);
            while let Some(d) = sim.poll_due(now) {
                out.push((d.bytes[0], now));
            }
        }
        out.into_iter()
            .map(|(i, at)| {
                // Indices wrap at 256; with under 256 datagrams each is its own.
                (i, at.duration_since(sent_at[usize::from(i)]))
            })
            .collect()
    }

    #[test]
    fn a_perfect_link_delivers_everything_at_once_in_order() {
        let out = run(NetworkConditions::default(), 200);
        assert_eq!(out.len(), 200);
        assert!(
            out.iter()
                .enumerate()
                .all(|(i, &(n, d))| n == i as u8 && d.is_zero())
        );
    }

    #[test]
    fn delay_and_jitter_hold_each_datagram_within_their_sum() {
        let conditions = NetworkConditions {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            seed: 7,
            ..Default::default()
        };
        let out = run(conditions, 200);
        assert_eq!(out.len(), 200);
        assert!(
            out.iter()
                .all(|&(_, d)| d >= Duration::from_millis(50) && d <= Duration::from_millis(60))
        );
        let overtaken = out.windows(2).filter(|w| w[1].0 < w[0].0).count();
        assert!(
            overtaken > 0,
            "jitter of 10 ms over 1 ms spacing reorders some"
        );
    }

    #[test]
    fn loss_takes_its_share_and_a_seed_repeats_it() {
        let conditions = NetworkConditions {
            loss: 0.05,
            seed: 42,
            ..Default::default()
        };
        let lost = |c: NetworkConditions| 2000 - run(c, 2000).len();
        let first = lost(conditions.clone());
        assert!((60..=140).contains(&first), "{first} of 2000 lost at 5%");
        assert_eq!(lost(conditions.clone()), first, "same seed, same losses");
        let other = NetworkConditions {
            seed: 43,
            ..conditions
        };
        assert_ne!(
            run(other, 2000).len(),
            2000 - first,
            "another seed, other losses"
        );
    }

    #[test]
    fn bursty_loss_keeps_the_share_but_loses_in_runs() {
        let conditions = NetworkConditions {
            loss: 0.05,
            loss_burst: 5,
            seed: 3,
            ..Default::default()
        };
        let mut sim = LinkSimulator::new(conditions, Instant::now());
        let outcomes: Vec<bool> = (0..20_000).map(|_| sim.lost()).collect();
        let lost = outcomes.iter().filter(|&&l| l).count();
        let runs = outcomes.windows(2).filter(|w| w[1] && !w[0]).count();
        assert!((800..=1200).contains(&lost), "{lost} of 20000 lost at 5%");
        let mean = lost as f64 / runs as f64;
        assert!((3.5..=6.5).contains(&mean), "mean burst {mean}");
    }

    #[test]
    fn independent_loss_loses_runs_by_chance_and_full_loss_loses_everything() {
        let mut sim = LinkSimulator::new(
            NetworkConditions {
                loss: 0.5,
                seed: 5,
                ..Default::default()
            },
            Instant::now(),
        );
        let outcomes: Vec<bool> = (0..20_000).map(|_| sim.lost()).collect();
        let pairs = outcomes.windows(2).filter(|w| w[0] && w[1]).count();
        // Independent at 50%: a quarter of consecutive pairs are both lost.
        assert!(
            (4500..=5500).contains(&pairs),
            "{pairs} lost pairs of 20000"
        );
        let mut all = LinkSimulator::new(
            NetworkConditions {
                loss: 1.0,
                ..Default::default()
            },
            Instant::now(),
        );
        assert!((0..1000).all(|_| all.lost()));
    }

    #[test]
    fn an_outage_loses_what_is_sent_during_it() {
        let conditions = NetworkConditions {
            outages: vec![(Duration::from_millis(50), Duration::from_millis(100))],
            ..Default::default()
        };
        let out = run(conditions, 200);
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|&(n, _)| !(50..150).contains(&n)));
    }

    #[test]
    fn a_bandwidth_cap_spaces_datagrams_and_drops_past_its_queue() {
        // 100-byte datagrams every 1 ms is 100 KB/s; the cap is 20 KB/s (one per 5 ms).
        let conditions = NetworkConditions {
            bandwidth: Some(20_000),
            ..Default::default()
        };
        let out = run(conditions, 200);
        // 250 ms of queue holds ~50; the link drains 200 ms' worth meanwhile (~40).
        assert!((80..=110).contains(&out.len()), "{} delivered", out.len());
        assert!(
            out.iter()
                .all(|&(_, d)| d <= QUEUE_DELAY + Duration::from_millis(6))
        );
    }

    #[test]
    fn duplication_sends_some_twice() {
        let conditions = NetworkConditions {
            duplicate: 0.1,
            seed: 9,
            ..Default::default()
        };
        let out = run(conditions, 200);
        assert!((210..=235).contains(&out.len()), "{} delivered", out.len());
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused() {
        for bad in [
            NetworkConditions {
                loss: 1.5,
                ..Default::default()
            },
            NetworkConditions {
                duplicate: -0.1,
                ..Default::default()
            },
            NetworkConditions {
                bandwidth: Some(0),
                ..Default::default()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::InvalidConfig(_))),
                "{bad:?}"
            );
        }
        assert!(NetworkConditions::default().is_perfect());
    }
}

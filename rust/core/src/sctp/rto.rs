//! The retransmission timeout (RFC 6298's estimator, which RFC 9260 §6.3.1 adopts), with bounds
//! chosen for games rather than SCTP's defaults: a 1 s floor would make every lost message
//! cost a second, so the floor is a fifth of that and the ceiling keeps an outage's recovery
//! within a second of the link's return.

use std::time::Duration;

pub(crate) struct Rto {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
}

impl Rto {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration) -> Rto {
        Rto {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min, max),
            min,
            max,
        }
    }

    /// Folds in one round-trip measurement (of a chunk sent once: Karn's rule).
    pub(crate) fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        // The clock granularity term: at least a millisecond of variance.
        self.rto =
            (srtt + (self.rttvar * 4).max(Duration::from_millis(1))).clamp(self.min, self.max);
    }

    /// After a timeout: wait twice as long before the next (RFC 6298 §5.5).
    pub(crate) fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(self.max);
    }

    pub(crate) fn get(&self) -> Duration {
        self.rto
    }

    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_round_trip_within_its_bounds() {
        let ms = Duration::from_millis;
        let mut rto = Rto::new(ms(500), ms(200), ms(1000));
        assert_eq!(rto.get(), ms(500));
        for _ in 0..50 {
            rto.sample(ms(100));
        }
        // A steady 100 ms round trip: srtt + 4 * rttvar approaches 100 ms, held at the floor.
        assert_eq!(rto.get(), ms(200));
        rto.back_off();
        rto.back_off();
        assert_eq!(rto.get(), ms(800));
        rto.back_off();
        assert_eq!(rto.get(), ms(1000));
        for _ in 0..50 {
            rto.sample(ms(400));
        }
        assert!(rto.get() >= ms(400) && rto.get() <= ms(1000));
    }
}

//! Wall time, CPU time of the whole process (every thread of every stack) and memory.

use std::time::{Duration, Instant};

/// CPU time used so far by all threads of the process.
pub fn cpu_time() -> Duration {
    let usage = rusage();
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Largest resident set the process has had, in bytes (`VmHWM`: unlike getrusage's
/// `ru_maxrss`, it starts afresh in a child process).
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(|| rusage().ru_maxrss as u64 * 1024, |kib| kib * 1024)
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage fills the zeroed struct it is given and has no other effect.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}

/// Resident memory now, in bytes (from /proc; 0 where it is not available).
pub fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a constant of the system.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// A measured stretch of work.
pub struct Span {
    wall: Instant,
    cpu: Duration,
}

impl Span {
    /// Starts measuring.
    pub fn start() -> Span {
        Span {
            cpu: cpu_time(),
            wall: Instant::now(),
        }
    }

    /// Wall time and CPU time since the start.
    pub fn finish(&self) -> (Duration, Duration) {
        (self.wall.elapsed(), cpu_time().saturating_sub(self.cpu))
    }
}

/// The value at quantile `q` (0..=1) of `values`, which it sorts.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index]
}

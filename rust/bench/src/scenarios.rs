//! The scenarios: fixed work per round, measured the same way for every stack.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::measure::{Span, quantile};
use crate::net::{Net, Stack};

/// Metric name to value, for one stack in one round.
pub type Metrics = BTreeMap<&'static str, f64>;

/// Bytes a sender may have sent beyond what the receiver got: the same for every stack, so
/// stacks without flow control of their own (ENet, UDP) do not just fill memory or drop.
const WINDOW_BYTES: usize = 1024 * 1024;
/// Messages in flight at most in the message-rate scenarios.
const WINDOW_MESSAGES: usize = 4096;
/// An unreliable transfer that makes no progress this long is over; what did not arrive
/// counts as lost. Reliable ones wait for retransmissions (their stalls are part of the figure)
/// up to `RELIABLE_STALL`.
const STALL: Duration = Duration::from_millis(200);
const RELIABLE_STALL: Duration = Duration::from_secs(10);
/// How often the game-tick loop polls every node (a game polls once per frame; the bench
/// polls more often so latency reflects the stack rather than the frame rate).
const TICK_POLL: Duration = Duration::from_micros(500);
const TICK_RATE: u32 = 60;

/// Lets background threads (ours, libdatachannel) work when there is nothing to do, without
/// spinning the measuring thread.
fn idle() {
    std::thread::sleep(Duration::from_micros(50));
}

/// One way, reliable, `size`-byte messages until `total` bytes arrived.
pub fn bulk(net: &mut dyn Net, size: usize, total: usize) -> Metrics {
    let count = (total / size).max(1);
    let message = vec![0xa5u8; size];
    let window = (WINDOW_BYTES / size).max(2);
    transfer(net, &message, count, window, true)
}

/// Many small messages one way, as fast as the stack takes them.
pub fn rate(net: &mut dyn Net, size: usize, count: usize, reliable: bool) -> Metrics {
    let message = vec![0x5au8; size];
    transfer(net, &message, count, WINDOW_MESSAGES, reliable)
}

fn transfer(
    net: &mut dyn Net,
    message: &[u8],
    count: usize,
    window: usize,
    reliable: bool,
) -> Metrics {
    let (mut sent, mut got, mut given_up) = (0usize, 0usize, 0usize);
    let mut last_progress = Instant::now();
    let stall = if reliable { RELIABLE_STALL } else { STALL };
    let span = Span::start();
    while got + given_up < count {
        let before = (sent, got);
        while sent < count && sent - got - given_up < window && net.send(0, 1, message, reliable) {
            sent += 1;
        }
        net.poll(1, &mut |_, _| got += 1);
        net.poll(0, &mut |_, _| {});
        if (sent, got) != before {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > stall {
            // Lost (unreliable, or a floor): count it and move the window on.
            given_up = sent - got;
            last_progress = Instant::now();
            if sent == count {
                break;
            }
        } else {
            idle();
        }
    }
    let (wall, cpu) = span.finish();
    // The wait that detected the loss is not transfer time.
    let wall = wall.saturating_sub(if given_up > 0 { stall } else { Duration::ZERO });
    let mut metrics = Metrics::new();
    let bytes = (got * message.len()) as f64;
    metrics.insert("goodput_MiB_s", bytes / wall.as_secs_f64() / 1048576.0);
    metrics.insert("msgs_per_s", got as f64 / wall.as_secs_f64());
    metrics.insert(
        "cpu_us_per_msg",
        cpu.as_secs_f64() * 1e6 / got.max(1) as f64,
    );
    metrics.insert("loss_pct", 100.0 * (count - got) as f64 / count as f64);
    metrics
}

/// Waits until `node` receives a message; polls every node meanwhile (ENet and UDP only move
/// data when polled). False after a second without it.
fn await_message(net: &mut dyn Net, nodes: usize, node: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let mut arrived = false;
        for other in 0..nodes {
            if other != node {
                net.poll(other, &mut |_, _| {});
            }
        }
        net.poll(node, &mut |_, _| arrived = true);
        if arrived {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// Round trips of `size`-byte reliable messages, one at a time. The measuring thread spins,
/// as a game's network thread polling in a tight loop does.
pub fn round_trip(net: &mut dyn Net, size: usize, pings: usize) -> Metrics {
    let message = vec![1u8; size];
    let mut rtts = Vec::with_capacity(pings);
    let mut lost = 0;
    for _ in 0..pings {
        let start = Instant::now();
        while !net.send(0, 1, &message, true) {
            net.poll(0, &mut |_, _| {});
        }
        if !await_message(net, 2, 1) {
            lost += 1;
            continue;
        }
        while !net.send(1, 0, &message, true) {
            net.poll(1, &mut |_, _| {});
        }
        if !await_message(net, 2, 0) {
            lost += 1;
            continue;
        }
        rtts.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let mut metrics = Metrics::new();
    metrics.insert("rtt_p50_us", quantile(&mut rtts, 0.5));
    metrics.insert("rtt_p99_us", quantile(&mut rtts, 0.99));
    metrics.insert("lost", lost as f64);
    metrics
}

/// What arrived during a game-tick run: one-way latencies in microseconds.
#[derive(Default)]
struct Arrivals {
    state: Vec<f64>,
    events: Vec<f64>,
}

/// Polls every node each `TICK_POLL` until `until` or `done`, recording latencies from the
/// send time stamped into each message (nanoseconds since `epoch`).
fn poll_until(
    net: &mut dyn Net,
    nodes: usize,
    epoch: Instant,
    arrivals: &mut Arrivals,
    until: Instant,
    done: impl Fn(&Arrivals) -> bool,
) {
    while Instant::now() < until && !done(arrivals) {
        let now = epoch.elapsed().as_nanos() as u64;
        for node in 0..nodes {
            net.poll(node, &mut |_, data| {
                if data.len() < 8 {
                    return;
                }
                let sent = u64::from_le_bytes(data[..8].try_into().unwrap());
                let micros = now.saturating_sub(sent) as f64 / 1000.0;
                if data.len() == STATE_SIZE {
                    arrivals.state.push(micros);
                } else {
                    arrivals.events.push(micros);
                }
            });
        }
        std::thread::sleep(TICK_POLL);
    }
}

/// A game's traffic: every node sends 200 bytes of state to every other node at 60 Hz
/// (unreliable) and a 64-byte reliable event 4 times a second. Includes the mesh's setup time.
pub fn game_tick(stack: &Stack, nodes: usize, ticks: u32) -> Result<Metrics, String> {
    game_tick_on(
        stack.connect,
        nodes,
        ticks,
        Duration::ZERO,
        Duration::from_millis(300),
    )
}

/// [`game_tick`] on nodes `connect` makes. After the last tick, arrivals are awaited for
/// `in_flight` (what a delayed link still carries), then until every event is in or `drain`
/// has passed; they count for loss, not for the load.
pub fn game_tick_on(
    connect: impl FnOnce(usize) -> Result<Box<dyn Net>, String>,
    nodes: usize,
    ticks: u32,
    in_flight: Duration,
    drain: Duration,
) -> Result<Metrics, String> {
    let setup = Instant::now();
    let mut net = connect(nodes)?;
    let setup = setup.elapsed();
    let net = &mut *net;
    let epoch = Instant::now();
    let stamp = |buf: &mut [u8]| {
        buf[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_le_bytes());
    };
    let never = |_: &Arrivals| false;
    // Settle: let connections finish anything left from setup.
    let settle = Instant::now() + Duration::from_millis(200);
    poll_until(net, nodes, epoch, &mut Arrivals::default(), settle, never);
    let mut arrivals = Arrivals::default();
    let mut state = vec![0u8; STATE_SIZE];
    let mut event = vec![0u8; EVENT_SIZE];
    let (mut state_sent, mut events_sent) = (0usize, 0usize);
    let period = Duration::from_secs(1) / TICK_RATE;
    let start = Instant::now();
    let span = Span::start();
    for tick in 0..ticks {
        poll_until(
            net,
            nodes,
            epoch,
            &mut arrivals,
            start + period * tick,
            never,
        );
        for from in 0..nodes {
            for to in (0..nodes).filter(|&to| to != from) {
                stamp(&mut state);
                state_sent += 1;
                net.send(from, to, &state, false);
                if tick % (TICK_RATE / 4) == 0 {
                    stamp(&mut event);
                    events_sent += 1;
                    while !net.send(from, to, &event, true) {
                        net.poll(from, &mut |_, _| {});
                    }
                }
            }
        }
    }
    // The last tick's traffic is part of the load: measure through one more period.
    poll_until(
        net,
        nodes,
        epoch,
        &mut arrivals,
        start + period * ticks,
        never,
    );
    let (wall, cpu) = span.finish();
    // Late arrivals still count for loss, not for the load.
    let drain = Instant::now() + drain;
    poll_until(
        net,
        nodes,
        epoch,
        &mut arrivals,
        Instant::now() + in_flight,
        never,
    );
    poll_until(net, nodes, epoch, &mut arrivals, drain, |a| {
        a.events.len() >= events_sent
    });
    let state_got = arrivals.state.len();
    let events_got = arrivals.events.len();
    let mut metrics = Metrics::new();
    metrics.insert("setup_ms", setup.as_secs_f64() * 1000.0);
    metrics.insert(
        "cpu_pct_core",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
    );
    metrics.insert(
        "cpu_us_per_tick",
        cpu.as_secs_f64() * 1e6 / f64::from(ticks),
    );
    metrics.insert("latency_p50_us", quantile(&mut arrivals.state, 0.5));
    metrics.insert("latency_p99_us", quantile(&mut arrivals.state, 0.99));
    metrics.insert("event_latency_p50_us", quantile(&mut arrivals.events, 0.5));
    metrics.insert("event_latency_p99_us", quantile(&mut arrivals.events, 0.99));
    metrics.insert(
        "loss_pct",
        100.0 * state_sent.saturating_sub(state_got) as f64 / state_sent.max(1) as f64,
    );
    metrics.insert("events_lost", events_sent.saturating_sub(events_got) as f64);
    Ok(metrics)
}

const STATE_SIZE: usize = 200;
const EVENT_SIZE: usize = 64;

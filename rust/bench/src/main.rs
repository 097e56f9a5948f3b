//! Benchmarks of webrtc_mesh's data channels against other stacks and raw floors, all in one
//! process, in interleaved rounds, so ratios hold even where absolute figures drift.
//!
//! `cargo run --release -p webrtc-mesh-bench -- [--rounds N] [--warmup N] [--quick]
//! [--only NAME] [--stack NAME] [--workers N] [--json PATH] [--svg PATH]`

mod coturn;
mod measure;
mod net;
mod report;
mod scenarios;
mod stacks;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::net::{Kind, OURS, Stack};
use crate::report::{Primary, ScenarioResult};
use crate::scenarios::Metrics;
use webrtc_mesh_core::NetworkConditions;

type Run = Box<dyn Fn(&Stack) -> Result<Metrics, String>>;

struct Plan {
    name: String,
    title: String,
    primary: Primary,
    shown: Vec<&'static str>,
    run: Run,
}

struct Options {
    rounds: usize,
    warmup: usize,
    quick: bool,
    only: Vec<String>,
    stacks: Vec<String>,
    // Worker threads of our runtime; `None`: its default.
    workers: Option<usize>,
    json: Option<String>,
    svg: Option<String>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        rounds: 5,
        warmup: 1,
        quick: false,
        only: Vec::new(),
        stacks: Vec::new(),
        workers: None,
        json: None,
        svg: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--rounds" => options.rounds = number(&value("--rounds")?)?,
            "--warmup" => options.warmup = number(&value("--warmup")?)?,
            "--quick" => options.quick = true,
            "--only" => options.only.push(value("--only")?),
            "--stack" => options.stacks.push(value("--stack")?),
            "--workers" => options.workers = Some(number(&value("--workers")?)?.max(1)),
            "--json" => options.json = Some(value("--json")?),
            "--svg" => options.svg = Some(value("--svg")?),
            "--help" | "-h" => {
                println!(
                    "webrtc-mesh-bench [--rounds N (5)] [--warmup N (1)] [--quick] \
                     [--only SCENARIO_PREFIX]... [--stack NAME]... [--workers N] \
                     [--json PATH] [--svg PATH]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if options.quick {
        options.rounds = options.rounds.min(1);
        options.warmup = 0;
    }
    Ok(options)
}

fn number(text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a number"))
}

/// The lossy scenarios' link: 50 ms one way and `loss` percent lost each way.
fn lossy_link(loss: u32) -> NetworkConditions {
    NetworkConditions {
        delay: Duration::from_millis(50),
        loss: f64::from(loss) / 100.0,
        seed: u64::from(loss),
        ..NetworkConditions::default()
    }
}

/// `n` nodes of `stack` connected through `conditions` on every node's socket: ours and ENet
/// only (the other stacks have no simulator to go through).
fn connect_conditioned(
    stack: &Stack,
    n: usize,
    conditions: &NetworkConditions,
) -> Result<Box<dyn net::Net>, String> {
    match stack.name {
        OURS => stacks::ours::connect_conditioned(n, conditions),
        "ENet" => stacks::enet::connect_conditioned(n, conditions),
        _ => Err("not run through simulated loss".into()),
    }
}

/// A scenario between two nodes: connect, run, disconnect.
fn pair(run: impl Fn(&mut dyn net::Net) -> Metrics + 'static) -> Run {
    Box::new(move |stack: &Stack| {
        let mut net = (stack.connect)(2)?;
        Ok(run(&mut *net))
    })
}

fn plans(quick: bool) -> Vec<Plan> {
    let scale = if quick { 8 } else { 1 };
    let mut plans = Vec::new();
    for (size, label) in [
        (1024, "1 KiB"),
        (16 * 1024, "16 KiB"),
        (64 * 1024, "64 KiB"),
    ] {
        let total = 16 * 1024 * 1024 / scale;
        plans.push(Plan {
            name: format!("bulk_reliable_{}k", size / 1024),
            title: format!("Bulk reliable, {label} messages, one way"),
            primary: Primary {
                metric: "goodput_MiB_s",
                higher_is_better: true,
            },
            shown: vec!["cpu_us_per_msg", "loss_pct"],
            run: pair(move |net| scenarios::bulk(net, size, total)),
        });
    }
    for reliable in [false, true] {
        for size in [64, 100] {
            let count = 50_000 / scale;
            let mode = if reliable { "reliable" } else { "unreliable" };
            plans.push(Plan {
                name: format!("rate_{mode}_{size}b"),
                title: format!("Message rate, {size}-byte {mode} messages, one way"),
                primary: Primary {
                    metric: "msgs_per_s",
                    higher_is_better: true,
                },
                shown: vec!["cpu_us_per_msg", "loss_pct"],
                run: pair(move |net| scenarios::rate(net, size, count, reliable)),
            });
        }
    }
    let pings = 2000 / scale;
    plans.push(Plan {
        name: "round_trip_64b".into(),
        title: "Round trip, 64-byte reliable message".into(),
        primary: Primary {
            metric: "rtt_p50_us",
            higher_is_better: false,
        },
        shown: vec!["rtt_p99_us", "lost"],
        run: pair(move |net| scenarios::round_trip(net, 64, pings)),
    });
    let ticks = if quick { 30 } else { 90 };
    for nodes in [2, 4, 8, 16] {
        plans.push(Plan {
            name: format!("game_tick_{nodes}"),
            title: format!(
                "Game tick, {nodes}-node mesh: 200 B state to every peer at 60 Hz + 4 reliable events/s"
            ),
            primary: Primary {
                metric: "cpu_pct_core",
                higher_is_better: false,
            },
            shown: vec![
                "cpu_us_per_tick",
                "latency_p50_us",
                "latency_p99_us",
                "event_latency_p99_us",
                "loss_pct",
                "events_lost",
                "setup_ms",
            ],
            run: Box::new(move |stack| scenarios::game_tick(stack, nodes, ticks)),
        });
    }
    // Game traffic over a bad link: ours and ENet through the same simulated conditions (the
    // core's LinkSimulator on each node's socket), 50 ms each way and 1% or 5% loss each way.
    for loss in [1u32, 5] {
        let conditions = lossy_link(loss);
        plans.push(Plan {
            name: format!("lossy_game_tick_4_{loss}pct"),
            title: format!(
                "Game tick over a lossy link, 4-node mesh: 50 ms one way, {loss}% loss each way \
                 (ours and ENet only)"
            ),
            primary: Primary {
                metric: "event_latency_p99_us",
                higher_is_better: false,
            },
            shown: vec![
                "event_latency_p50_us",
                "latency_p50_us",
                "loss_pct",
                "events_lost",
                "cpu_pct_core",
                "setup_ms",
            ],
            run: Box::new(move |stack| {
                // What the 50 ms link still carries after the last tick; then reliable events
                // lost near the end need a retransmission or two to arrive.
                let in_flight = Duration::from_millis(200);
                let drain = Duration::from_secs(4);
                scenarios::game_tick_on(
                    |n| connect_conditioned(stack, n, &conditions),
                    4,
                    ticks,
                    in_flight,
                    drain,
                )
            }),
        });
    }
    // Bulk reliable through the same conditions: what a lossy link leaves of goodput, with
    // every loss recovered.
    for loss in [1u32, 5] {
        let conditions = lossy_link(loss);
        let total = 512 * 1024 / scale;
        plans.push(Plan {
            name: format!("lossy_bulk_reliable_1k_{loss}pct"),
            title: format!(
                "Bulk reliable over a lossy link, 1 KiB messages, one way: 50 ms one way, {loss}% \
                 loss each way (ours and ENet only)"
            ),
            primary: Primary {
                metric: "goodput_MiB_s",
                higher_is_better: true,
            },
            shown: vec!["cpu_us_per_msg"],
            run: Box::new(move |stack| {
                let mut net = connect_conditioned(stack, 2, &conditions)?;
                Ok(scenarios::bulk(&mut *net, 1024, total))
            }),
        });
    }
    plans.push(Plan {
        name: "idle_memory".into(),
        title: "Idle memory per connection and idle CPU (8-node mesh, 56 connection ends, polled at 100 Hz, own process)".into(),
        primary: Primary {
            metric: "KiB_per_connection",
            higher_is_better: false,
        },
        shown: vec!["peak_rss_MiB", "idle_cpu_pct_core"],
        run: Box::new(idle_memory_in_child),
    });
    plans
}

/// Measures idle memory in a fresh process, so nothing earlier in the run is counted.
fn idle_memory_in_child(stack: &Stack) -> Result<Metrics, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args(["--child-idle-memory", stack.name])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(line).map_err(|_| {
        format!(
            "idle-memory child failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let mut metrics = Metrics::new();
    for key in ["KiB_per_connection", "peak_rss_MiB", "idle_cpu_pct_core"] {
        metrics.insert(key, value[key].as_f64().unwrap_or(f64::NAN));
    }
    Ok(metrics)
}

/// The child's side: warm the stack up, then count what an 8-node mesh adds once idle.
fn child_idle_memory(name: &str) -> Result<(), String> {
    const NODES: usize = 8;
    let stack = stacks::all()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or(format!("no stack {name:?}"))?;
    // Runtime threads, certificates, allocator arenas: paid once per process, not per peer.
    drop((stack.connect)(2)?);
    std::thread::sleep(Duration::from_millis(500));
    let before = measure::rss();
    let mut net = (stack.connect)(NODES)?;
    for _ in 0..100 {
        for node in 0..NODES {
            net.poll(node, &mut |_, _| {});
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = measure::rss();
    // CPU of the idle mesh: timers and keepalives only, polled as a game would at 100 Hz.
    let span = measure::Span::start();
    for _ in 0..200 {
        for node in 0..NODES {
            net.poll(node, &mut |_, _| {});
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (wall, cpu) = span.finish();
    let ends = (NODES * (NODES - 1)) as f64;
    println!(
        "{}",
        json!({
            "KiB_per_connection": after.saturating_sub(before) as f64 / ends / 1024.0,
            "peak_rss_MiB": measure::peak_rss() as f64 / 1048576.0,
            "idle_cpu_pct_core": cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
        })
    );
    drop(net);
    Ok(())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores, {}", std::env::consts::OS)
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--child-idle-memory") {
        let name = args.next().unwrap_or_default();
        let done = child_idle_memory(&name);
        coturn::stop();
        if let Err(e) = done {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    let options = match parse_options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("webrtc-mesh-bench: {e}");
            std::process::exit(2);
        }
    };
    // Profiling one stack: the others would only add noise to the profile.
    let all = stacks::all();
    if let Some(unknown) = options
        .stacks
        .iter()
        .find(|n| !all.iter().any(|s| s.name == n.as_str()))
    {
        let names: Vec<_> = all.iter().map(|s| s.name).collect();
        eprintln!(
            "webrtc-mesh-bench: no stack {unknown:?} in this build; stacks: {}",
            names.join(", ")
        );
        std::process::exit(2);
    }
    let stacks: Vec<_> = all
        .into_iter()
        .filter(|s| options.stacks.is_empty() || options.stacks.iter().any(|n| n == s.name))
        .collect();
    if let Some(workers) = options.workers {
        webrtc_mesh_core::Runtime::configure_shared(webrtc_mesh_core::RuntimeConfig {
            worker_threads: workers,
            ..Default::default()
        });
    }
    // Our runtime stays up for the whole run, as in a game, instead of restarting per round.
    let runtime = webrtc_mesh_core::Runtime::shared();
    let workers = runtime.as_ref().map_or(0, |r| r.worker_threads());
    let plans: Vec<Plan> = plans(options.quick)
        .into_iter()
        .filter(|p| options.only.is_empty() || options.only.iter().any(|o| p.name.starts_with(o)))
        .collect();
    let subtitle = format!(
        "{}; {}; {} rounds after {} warm-up; {} runtime worker thread(s)",
        today(),
        machine(),
        options.rounds,
        options.warmup,
        workers
    );
    println!("# webrtc_mesh benchmarks\n{subtitle}");
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    for plan in plans {
        let mut rounds: Vec<Vec<Metrics>> = vec![Vec::new(); stacks.len()];
        for round in 0..options.warmup + options.rounds {
            // Interleaved: every stack once per round, so drift hits all alike.
            for (i, stack) in stacks.iter().enumerate() {
                match (plan.run)(stack) {
                    Ok(metrics) if round >= options.warmup => rounds[i].push(metrics),
                    Ok(_) => {}
                    Err(e) => eprintln!("{} / {}: {e}", plan.name, stack.name),
                }
                // Closing connections finish before the next stack is measured.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let result = ScenarioResult {
            name: plan.name,
            title: plan.title,
            primary: plan.primary,
            shown: plan.shown,
            stacks: stacks
                .iter()
                .zip(rounds)
                .map(|(s, r)| (s.name, s.kind, r))
                .collect(),
        };
        print!("{}", result.table());
        results.push(result);
    }
    coturn::stop();
    print!("{}", report::summary(&results, OURS));
    let elapsed = started.elapsed();
    println!(
        "\nrun took {:.0} s; peak memory of this process {:.0} MiB",
        elapsed.as_secs_f64(),
        measure::peak_rss() as f64 / 1048576.0
    );
    let mut run = BTreeMap::new();
    run.insert("date", json!(today()));
    run.insert("machine", json!(machine()));
    run.insert("rounds", json!(options.rounds));
    run.insert("warmup", json!(options.warmup));
    run.insert("runtime_workers", json!(workers));
    run.insert("seconds", json!(elapsed.as_secs_f64()));
    run.insert(
        "stacks",
        json!(
            stacks
                .iter()
                .map(|s| json!({"name": s.name, "baseline": s.kind == Kind::Baseline}))
                .collect::<Vec<_>>()
        ),
    );
    run.insert("ours", json!(OURS));
    if let Some(path) = &options.json {
        let report = report::json_report(&results, run);
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        match std::fs::write(path, text) {
            Ok(()) => println!("JSON report: {path}"),
            Err(e) => eprintln!("could not write {path}: {e}"),
        }
    }
    if let Some(path) = &options.svg {
        match std::fs::write(path, report::svg(&results, &subtitle)) {
            Ok(()) => println!("chart: {path}"),
            Err(e) => eprintln!("could not write {path}: {e}"),
        }
    }
}

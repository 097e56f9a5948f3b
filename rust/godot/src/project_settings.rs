//! The addon's project settings, shown under Project Settings > Network > Webrtc Mesh (with
//! Advanced Settings on) and read when the extension loads.

use godot::classes::ProjectSettings;
use godot::global::godot_warn;
use godot::prelude::*;
use godot::register::info::PropertyHint;
use parking_lot::Mutex;
use std::time::Duration;

use webrtc_mesh_core::{
    ConnectionConfig, MIN_RECEIVE_BUDGET, NetworkConditions, Runtime, RuntimeConfig,
};

/// Worker threads of the runtime every connection runs on; 0 picks the default (two where
/// there are two cores or more). One suits a two-core machine whose game thread never sleeps:
/// the round-trip tail stays short. Two carry more traffic.
const WORKER_THREADS: &str = "network/webrtc_mesh/worker_threads";
const MAX_WORKER_THREADS: i64 = 16;

/// KiB of received messages that may wait unread on one connection (every channel together);
/// past it reliable channels hold the sender back and unreliable ones drop their oldest.
const RECEIVE_BUDGET: &str = "network/webrtc_mesh/receive_budget_kib";

/// KiB of received messages that may wait unread on every connection together.
const TOTAL_RECEIVE_BUDGET: &str = "network/webrtc_mesh/total_receive_budget_kib";

/// Network conditions every connection made through Godot applies to what it sends (see
/// `WebRTCMultiplayerPeerExtension.network_conditions`): one-way delay and jitter in
/// milliseconds, loss in percent and the mean length of a run of losses. All 0 (the default)
/// is a perfect link.
const SIMULATE_DELAY: &str = "network/webrtc_mesh/simulate/delay_ms";
const SIMULATE_JITTER: &str = "network/webrtc_mesh/simulate/jitter_ms";
const SIMULATE_LOSS: &str = "network/webrtc_mesh/simulate/loss_percent";
const SIMULATE_LOSS_BURST: &str = "network/webrtc_mesh/simulate/loss_burst";
const MAX_SIMULATED_MS: i64 = 10_000;

/// Largest budget setting, in KiB (16 GiB): beyond any use, and far from overflowing.
const MAX_BUDGET_KIB: i64 = 16 * 1024 * 1024;

// The connection settings every new connection starts from; see `connection_defaults`.
static CONNECTION_DEFAULTS: Mutex<Option<ConnectionConfig>> = Mutex::new(None);

/// What a connection made through Godot starts with: the core's defaults with the project's
/// settings applied.
pub fn connection_defaults() -> ConnectionConfig {
    CONNECTION_DEFAULTS.lock().clone().unwrap_or_default()
}

/// Registers the settings (so the editor lists them with their defaults) and applies them.
pub fn load() {
    let mut settings = ProjectSettings::singleton();
    let connection = ConnectionConfig::default();
    let runtime = RuntimeConfig::default();
    let min_kib = (MIN_RECEIVE_BUDGET / 1024) as i64;
    register(&mut settings, WORKER_THREADS, 0, 0, MAX_WORKER_THREADS);
    register(
        &mut settings,
        RECEIVE_BUDGET,
        (connection.receive_budget / 1024) as i64,
        min_kib,
        MAX_BUDGET_KIB,
    );
    register(
        &mut settings,
        TOTAL_RECEIVE_BUDGET,
        (runtime.receive_budget / 1024) as i64,
        min_kib,
        MAX_BUDGET_KIB,
    );

    register(&mut settings, SIMULATE_DELAY, 0, 0, MAX_SIMULATED_MS);
    register(&mut settings, SIMULATE_JITTER, 0, 0, MAX_SIMULATED_MS);
    register(&mut settings, SIMULATE_LOSS, 0, 0, 100);
    register(&mut settings, SIMULATE_LOSS_BURST, 1, 1, 100);

    let mut runtime_config = RuntimeConfig::default();
    let mut changed = false;
    if let Some(workers) = read(&settings, WORKER_THREADS, 0, MAX_WORKER_THREADS)
        && workers > 0
    {
        runtime_config.worker_threads = workers as usize;
        changed = true;
    }
    if let Some(kib) = read(&settings, TOTAL_RECEIVE_BUDGET, min_kib, MAX_BUDGET_KIB) {
        changed |= kib as usize * 1024 != runtime_config.receive_budget;
        runtime_config.receive_budget = kib as usize * 1024;
    }
    if changed {
        Runtime::configure_shared(runtime_config);
    }
    let mut connection_config = ConnectionConfig::default();
    if let Some(kib) = read(&settings, RECEIVE_BUDGET, min_kib, MAX_BUDGET_KIB) {
        connection_config.receive_budget = kib as usize * 1024;
    }
    let millis = |name| read(&settings, name, 0, MAX_SIMULATED_MS).unwrap_or(0) as u64;
    let conditions = NetworkConditions {
        delay: Duration::from_millis(millis(SIMULATE_DELAY)),
        jitter: Duration::from_millis(millis(SIMULATE_JITTER)),
        loss: read(&settings, SIMULATE_LOSS, 0, 100).unwrap_or(0) as f64 / 100.0,
        loss_burst: read(&settings, SIMULATE_LOSS_BURST, 1, 100).unwrap_or(1) as u32,
        ..NetworkConditions::default()
    };
    if !conditions.is_perfect() {
        // A simulated bad link left on in a shipped game would be a mystery to its players.
        godot_warn!(
            "webrtc_mesh: simulating a bad link on every connection ({} ms delay, {} ms \
             jitter, {}% loss); see the network/webrtc_mesh/simulate/ project settings",
            conditions.delay.as_millis(),
            conditions.jitter.as_millis(),
            conditions.loss * 100.0
        );
    }
    connection_config.network_conditions = conditions;
    *CONNECTION_DEFAULTS.lock() = Some(connection_config);
}

/// Makes an integer setting known to the editor: its default, and the range it takes.
fn register(settings: &mut Gd<ProjectSettings>, name: &str, default: i64, min: i64, max: i64) {
    if !settings.has_setting(name) {
        settings.set_setting(name, &default.to_variant());
    }
    settings.set_initial_value(name, &default.to_variant());
    let mut info = VarDictionary::new();
    info.set("name", name);
    info.set("type", VariantType::INT.ord());
    info.set("hint", PropertyHint::RANGE.ord());
    info.set("hint_string", format!("{min},{max},1"));
    settings.add_property_info(&info);
}

/// An integer setting within `min..=max`, or `None` with a warning (the default applies).
fn read(settings: &Gd<ProjectSettings>, name: &str, min: i64, max: i64) -> Option<i64> {
    let value = settings.get_setting(name);
    match value.try_to::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            godot_warn!(
                "webrtc_mesh: {name} must be an integer from {min} to {max}, not {value}; \
                 using the default"
            );
            None
        }
    }
}

//! The addon's project settings, shown under Project Settings > Network > Webrtc Mesh (with
//! Advanced Settings on) and read when the extension loads.

use godot::classes::ProjectSettings;
use godot::global::godot_warn;
use godot::prelude::*;
use godot::register::info::PropertyHint;
use parking_lot::Mutex;
use webrtc_mesh_core::{ConnectionConfig, MIN_RECEIVE_BUDGET, Runtime, RuntimeConfig};

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

//! The addon's project settings, shown under Project Settings > Network > Webrtc Mesh (with
//! Advanced Settings on) and read when the extension loads.

use godot::classes::ProjectSettings;
use godot::global::godot_warn;
use godot::prelude::*;
use godot::register::info::PropertyHint;
use webrtc_mesh_core::{Runtime, RuntimeConfig};

/// Worker threads of the runtime every connection runs on; 0 picks the default (two where
/// there are two cores or more). One suits a two-core machine whose game thread never sleeps:
/// the round-trip tail stays short. Two carry more traffic.
const WORKER_THREADS: &str = "network/webrtc_mesh/worker_threads";
const MAX_WORKER_THREADS: i64 = 16;

/// Registers the settings (so the editor lists them with their defaults) and applies them.
pub fn load() {
    let mut settings = ProjectSettings::singleton();
    if !settings.has_setting(WORKER_THREADS) {
        settings.set_setting(WORKER_THREADS, &0.to_variant());
    }
    settings.set_initial_value(WORKER_THREADS, &0.to_variant());
    let mut info = VarDictionary::new();
    info.set("name", WORKER_THREADS);
    info.set("type", VariantType::INT.ord());
    info.set("hint", PropertyHint::RANGE.ord());
    info.set("hint_string", format!("0,{MAX_WORKER_THREADS},1"));
    settings.add_property_info(&info);

    let value = settings.get_setting(WORKER_THREADS);
    match value.try_to::<i64>() {
        Ok(0) => {}
        Ok(workers @ 1..=MAX_WORKER_THREADS) => {
            Runtime::configure_shared(RuntimeConfig {
                worker_threads: workers as usize,
                ..Default::default()
            });
        }
        _ => godot_warn!(
            "webrtc_mesh: {WORKER_THREADS} must be an integer from 0 to {MAX_WORKER_THREADS}, \
             not {value}; using the default"
        ),
    }
}

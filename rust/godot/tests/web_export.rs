//! A web export of a project that uses the addon, made by a real Godot editor: the addon's
//! export plugin leaves the native library out (no warning, nothing of it in the pack, the
//! extension off the pack's extension list), and the exported pack, run by an engine without
//! the extension as a browser would, gives the game's `WebRTCMesh.new_session()` the GDScript
//! session, with no error. A Linux export of the same project keeps the library.
//!
//! Needs a Godot 4 editor build (`GODOT_EDITOR`, else `godot-editor` on `PATH`) to export, and
//! runs the pack with the engine the Godot tests use (`GODOT`, else `godot`); skipped with a
//! line saying so without them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../../core/tests/common/programs.rs"]
mod programs;
#[path = "../../core/tests/common/skip.rs"]
mod skip_log;

const PROJECT: &str = r#"config_version=5

[application]
config/name="web export"

[editor_plugins]
enabled=PackedStringArray("res://addons/webrtc_mesh/plugin.cfg")
"#;

const PRESETS: &str = r#"[preset.0]

name="Web"
platform="Web"
runnable=true
export_filter="all_resources"
include_filter=""
exclude_filter=""
export_path=""

[preset.1]

name="Linux"
platform="Linux"
runnable=true
export_filter="all_resources"
include_filter=""
exclude_filter=""
export_path=""
"#;

/// What the exported game finds: one "PROBE key value" line each.
const PROBE: &str = r#"extends SceneTree

func _initialize() -> void:
	var session: Node = WebRTCMesh.new_session()
	var script: Script = session.get_script()
	var list := FileAccess.get_file_as_string("res://.godot/extension_list.cfg")
	print("PROBE native ", WebRTCMesh.is_native())
	print("PROBE session ", script.resource_path if script != null else session.get_class())
	print("PROBE manifest ", FileAccess.file_exists("res://addons/webrtc_mesh/webrtc_mesh.gdextension"))
	var bin := "res://addons/webrtc_mesh/bin"
	var libraries := DirAccess.get_files_at(bin) if DirAccess.dir_exists_absolute(bin) else PackedStringArray()
	print("PROBE libraries ", ",".join(libraries))
	print("PROBE extension_list ", list.strip_edges().replace("\n", ","))
	session.free()
	quit()
"#;

fn godot(engine: &Path, args: &[&str]) -> Output {
    let output = Command::new(engine)
        .args(args)
        .output()
        .expect("the engine starts");
    eprintln!(
        "$ {} {}\n{}{}",
        engine.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Exports `project` with `preset` as a data pack at `pack`.
fn export_pack(editor: &Path, project: &str, preset: &str, pack: &Path) -> Output {
    godot(
        editor,
        &[
            "--headless",
            "--path",
            project,
            "--export-pack",
            preset,
            pack.to_str().unwrap(),
        ],
    )
}

/// Runs the probe in `pack`: what it found, and everything the engine printed.
fn probe(engine: &Path, pack: &Path) -> (BTreeMap<String, String>, String) {
    let pack = pack.to_str().unwrap();
    let output = godot(
        engine,
        &[
            "--headless",
            "--main-pack",
            pack,
            "--script",
            "res://probe.gd",
        ],
    );
    let all = text(&output);
    let found: BTreeMap<String, String> = all
        .lines()
        .filter_map(|l| l.strip_prefix("PROBE "))
        .map(|l| {
            let (key, value) = l.split_once(' ').unwrap_or((l, ""));
            (key.to_owned(), value.to_owned())
        })
        .collect();
    assert!(
        !found.is_empty(),
        "the exported probe printed nothing:\n{all}"
    );
    (found, all)
}

#[test]
fn a_web_export_leaves_the_native_library_out_and_runs_the_gdscript_session() {
    let Some(editor) = programs::godot("GODOT_EDITOR", "godot-editor") else {
        return skip_log::skip(
            "no Godot editor build (set GODOT_EDITOR or put godot-editor on PATH)",
        );
    };
    let engine = programs::godot("GODOT", "godot").unwrap_or_else(|| editor.clone());

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let project =
        std::env::temp_dir().join(format!("webrtc-mesh-web-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    copy_dir(
        &root.join("addons/webrtc_mesh"),
        &project.join("addons/webrtc_mesh"),
    );
    std::fs::write(project.join("project.godot"), PROJECT).unwrap();
    std::fs::write(project.join("export_presets.cfg"), PRESETS).unwrap();
    std::fs::write(project.join("probe.gd"), PROBE).unwrap();
    let path = project.to_str().unwrap();

    // The first start imports the project (global classes, the extension list).
    godot(&editor, &["--headless", "--path", path, "--import"]);
    let list = project.join(".godot/extension_list.cfg");
    let before = std::fs::read_to_string(&list).unwrap_or_default();

    let web = project.join("web.pck");
    let exported = export_pack(&editor, path, "Web", &web);
    let log = text(&exported);
    assert!(exported.status.success(), "the web export failed:\n{log}");
    assert!(
        ![
            "completed with warnings",
            "library found for GDExtension",
            "No suitable library"
        ]
        .iter()
        .any(|warning| log.contains(warning)),
        "the web export warned about the native library:\n{log}"
    );
    assert_eq!(
        std::fs::read_to_string(&list).unwrap_or_default(),
        before,
        "the project's extension list is restored after the export"
    );

    let (found, run_log) = probe(&engine, &web);
    eprintln!("web pack: {found:?}");
    assert_eq!(
        found["native"], "false",
        "the extension is not in a web export"
    );
    assert_eq!(
        found["session"], "res://addons/webrtc_mesh/web/mesh_session.gd",
        "WebRTCMesh.new_session() gives the GDScript session"
    );
    assert_eq!(found["manifest"], "false", "the manifest is left out");
    assert_eq!(found["libraries"], "", "no library in the pack");
    assert!(
        !found["extension_list"].contains("webrtc_mesh"),
        "the extension is off the exported extension list: {found:?}"
    );
    assert!(
        !run_log.contains("ERROR"),
        "the exported game logged an error:\n{run_log}"
    );

    // Other platforms are untouched: a Linux export keeps the manifest and lists it.
    let linux = project.join("linux.pck");
    let exported = export_pack(&editor, path, "Linux", &linux);
    assert!(exported.status.success(), "the Linux export failed");
    let (found, _) = probe(&engine, &linux);
    eprintln!("linux pack: {found:?}");
    assert_eq!(
        found["manifest"], "true",
        "a Linux export keeps the manifest"
    );
    assert!(
        found["extension_list"].contains("res://addons/webrtc_mesh/webrtc_mesh.gdextension"),
        "a Linux export lists the extension: {found:?}"
    );
    let _ = std::fs::remove_dir_all(&project);
}

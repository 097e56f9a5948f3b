//! The addon's manifest (`addons/webrtc_mesh/webrtc_mesh.gdextension`) and the release
//! workflow (`.github/workflows/release.yml`) agree: every platform a Godot game ships to has a
//! library entry, every entry is a file the workflow produces, and the workflow produces nothing
//! the manifest does not name. Only Linux builds here; this keeps the others from drifting.

use std::collections::BTreeSet;
use std::path::Path;

/// The `[libraries]` keys a release must have: desktop, mobile, debug and release.
const REQUIRED: [&str; 14] = [
    "linux.debug.x86_64",
    "linux.release.x86_64",
    "linux.debug.arm64",
    "linux.release.arm64",
    "windows.debug.x86_64",
    "windows.release.x86_64",
    "macos.debug",
    "macos.release",
    "android.debug.arm64",
    "android.release.arm64",
    "android.debug.x86_64",
    "android.release.x86_64",
    "ios.debug",
    "ios.release",
];

const BIN: &str = "res://addons/webrtc_mesh/bin/";

/// (key, file name in bin/) of each `[libraries]` entry.
fn manifest_entries(manifest: &str) -> Result<Vec<(String, String)>, String> {
    let mut entries = Vec::new();
    let mut in_libraries = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_libraries = line == "[libraries]";
            continue;
        }
        if !in_libraries || line.is_empty() || line.starts_with(';') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("not a `key = \"path\"` line: {line}"))?;
        let path = value.trim().trim_matches('"');
        let file = path
            .strip_prefix(BIN)
            .ok_or_else(|| format!("{key}: {path} is not in {BIN}"))?;
        entries.push((key.trim().to_owned(), file.to_owned()));
    }
    Ok(entries)
}

/// The `library:` values of the workflow's build matrix.
fn workflow_libraries(workflow: &str) -> BTreeSet<String> {
    workflow
        .lines()
        .filter_map(|line| line.trim().strip_prefix("library:"))
        .map(|value| value.trim().to_owned())
        .collect()
}

/// What is wrong between the two, if anything.
fn check(manifest: &str, workflow: &str) -> Result<(), String> {
    let entries = manifest_entries(manifest)?;
    let mut problems = Vec::new();
    for key in REQUIRED {
        if !entries.iter().any(|(k, _)| k == key) {
            problems.push(format!("the manifest has no {key} library"));
        }
    }
    let named: BTreeSet<String> = entries.iter().map(|(_, file)| file.clone()).collect();
    let built = workflow_libraries(workflow);
    for file in named.difference(&built) {
        problems.push(format!(
            "the manifest names {file}, which the workflow does not build"
        ));
    }
    for file in built.difference(&named) {
        problems.push(format!(
            "the workflow builds {file}, which the manifest does not name"
        ));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems.join("\n")),
    }
}

#[test]
fn the_manifest_and_the_release_workflow_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest =
        std::fs::read_to_string(root.join("addons/webrtc_mesh/webrtc_mesh.gdextension")).unwrap();
    let workflow = std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap();
    if let Err(problems) = check(&manifest, &workflow) {
        panic!("{problems}");
    }
}

#[test]
fn a_missing_platform_or_an_unbuilt_library_is_caught() {
    let manifest = "[configuration]\nentry_symbol = \"x\"\n[libraries]\n\
                    linux.debug.x86_64 = \"res://addons/webrtc_mesh/bin/a.so\"\n\
                    linux.release.x86_64 = \"res://addons/webrtc_mesh/bin/b.so\"\n";
    let workflow = "          library: a.so\n          library: c.so\n";
    let problems = check(manifest, workflow).unwrap_err();
    assert!(problems.contains("no ios.release library"), "{problems}");
    assert!(
        problems.contains("names b.so, which the workflow does not build"),
        "{problems}"
    );
    assert!(
        problems.contains("builds c.so, which the manifest does not name"),
        "{problems}"
    );
    assert!(!problems.contains("a.so"), "{problems}");
}

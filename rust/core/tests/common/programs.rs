//! Programs the tests start (Chromium, a Godot engine), found on `PATH`. Shared by the crates'
//! tests through `#[path]`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// `program` in a folder of `PATH`.
pub fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(program))
        .find(|p| p.is_file())
}

/// A Godot engine that runs: the one `variable` names, else `program` on `PATH`.
pub fn godot(variable: &str, program: &str) -> Option<PathBuf> {
    let engine = std::env::var_os(variable)
        .map(PathBuf::from)
        .or_else(|| find(program))?;
    Command::new(&engine)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        .then_some(engine)
}

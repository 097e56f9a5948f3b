//! Tests that cannot run (a server or browser is missing) say so where `tests/run.sh` counts
//! them as skipped; libtest itself would count them as passed. Shared by the crates' tests
//! through `#[path]`.

use std::io::Write;

/// Says that the calling test could not run, and why: on standard error, and as a line in the
/// file `WEBRTC_MESH_SKIP_LOG` names.
pub fn skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    eprintln!("SKIP: {test}: {why}");
    if let Some(path) = std::env::var_os("WEBRTC_MESH_SKIP_LOG")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        // One write of the whole line: tests run in parallel, and appends of one write each
        // do not interleave.
        let _ = file.write_all(format!("{test}: {why}\n").as_bytes());
    }
}

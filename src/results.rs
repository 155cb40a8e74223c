//! Where results are written: `target/mcpbench/` (or `$CARGO_TARGET_DIR/mcpbench/`).

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target/` of the workspace.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

/// The directory this project's side files go to: `target/mcpbench/`, or
/// `target/mcpbench/test-mode/` when the bench runs in Criterion's `--test` mode, so
/// a one-shot check never overwrites the figures of a real run that the report reads.
pub fn results_dir() -> PathBuf {
    let dir = target_dir().join("mcpbench");
    if crate::args::BenchArgs::from_env().test {
        dir.join("test-mode")
    } else {
        dir
    }
}

/// The side file of bench `id` of `kind` (`latency`, `memory`, ...):
/// `target/mcpbench/<kind>/<id>.json`, the id's `/` making folders as Criterion does.
pub fn side_file(kind: &str, id: &str) -> PathBuf {
    results_dir().join(kind).join(format!("{id}.json"))
}

/// Writes `value` as pretty JSON to `path`, creating folders, via a temporary file
/// and a rename so a reader never sees half a file.
pub fn write_json(path: &Path, value: &impl Serialize) -> io::Result<()> {
    mcpbench_files::write_json(path, value, false)
        .map(|_| ())
        .map_err(io::Error::other)
}

#![forbid(unsafe_code)]
//! Flamegraphs from pprof's sampling profiler, shared by the Criterion adapter of
//! the benches (`mcpbench::profile`) and `mcpbench-server --flamegraph`.

use std::fs::File;
use std::path::Path;

pub use pprof::ProfilerGuard;
use pprof::ProfilerGuardBuilder;

/// Sampling frequency asked of pprof. The kernel tick caps it (~250 Hz on the
/// project's machines), so profile for 10 s or more.
pub const FREQUENCY_HZ: i32 = 997;

/// Starts the sampling profiler; `None` (with a warning) if it cannot start.
pub fn start() -> Option<ProfilerGuard<'static>> {
    match ProfilerGuardBuilder::default()
        .frequency(FREQUENCY_HZ)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
    {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!("warning: profiler did not start: {e}");
            None
        }
    }
}

/// Writes the flamegraph of what `guard` sampled to `path`.
pub fn write_flamegraph(guard: &ProfilerGuard<'_>, path: &Path) -> Result<(), String> {
    let report = guard
        .report()
        .build()
        .map_err(|e| format!("building the profile: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let file = File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    report
        .flamegraph(file)
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

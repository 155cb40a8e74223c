//! Flamegraphs of any bench, via pprof.
//!
//! pprof's own `criterion` feature targets criterion 0.5's `Profiler` trait, a
//! different trait from criterion 0.8's; this is the same idea for 0.8. Criterion
//! calls it only in `--profile-time` mode: the bench runs for that long under a
//! sampling profiler and `target/criterion/<id>/profile/flamegraph.svg` is written.

use std::fs::File;
use std::path::{Path, PathBuf};

use criterion::profiler::Profiler;
use pprof::{ProfilerGuard, ProfilerGuardBuilder};

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

/// Criterion's profiler hook: one flamegraph per profiled bench.
#[derive(Default)]
pub struct Flamegraph {
    guard: Option<ProfilerGuard<'static>>,
}

impl Profiler for Flamegraph {
    fn start_profiling(&mut self, _benchmark_id: &str, _benchmark_dir: &Path) {
        self.guard = start();
    }

    fn stop_profiling(&mut self, benchmark_id: &str, benchmark_dir: &Path) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let path: PathBuf = benchmark_dir.join("flamegraph.svg");
        match write_flamegraph(&guard, &path) {
            Ok(()) => println!("flamegraph of {benchmark_id}: {}", path.display()),
            Err(e) => eprintln!("warning: no flamegraph for {benchmark_id}: {e}"),
        }
    }
}

//! Flamegraphs of any bench, via pprof.
//!
//! pprof's own `criterion` feature targets criterion 0.5's `Profiler` trait, a
//! different trait from criterion 0.8's; this is the same idea for 0.8. Criterion
//! calls it only in `--profile-time` mode: the bench runs for that long under a
//! sampling profiler and `target/criterion/<id>/profile/flamegraph.svg` is written.

use std::path::{Path, PathBuf};

use criterion::profiler::Profiler;
use pprof::ProfilerGuard;

pub use mcpbench_profile::{FREQUENCY_HZ, start, write_flamegraph};

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

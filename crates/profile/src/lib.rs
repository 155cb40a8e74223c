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

/// Why a flamegraph could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FlamegraphError {
    /// The samples could not be turned into a report.
    #[error("building the profile: {0}")]
    Build(pprof::Error),
    /// The file or its folder could not be made or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// `creating`, `writing`.
        action: &'static str,
        /// The file or folder.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Writes the flamegraph of what `guard` sampled to `path`.
pub fn write_flamegraph(guard: &ProfilerGuard<'_>, path: &Path) -> Result<(), FlamegraphError> {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FlamegraphError {
        let path = path.to_path_buf();
        move |source| FlamegraphError::Io {
            action,
            path,
            source,
        }
    }
    let report = guard.report().build().map_err(FlamegraphError::Build)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    }
    let file = File::create(path).map_err(io("creating", path))?;
    report.flamegraph(file).map_err(|e| match e {
        pprof::Error::IoError(source) => FlamegraphError::Io {
            action: "writing",
            path: path.to_path_buf(),
            source,
        },
        other => FlamegraphError::Build(other),
    })
}

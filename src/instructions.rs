//! Instruction counts of CPU-bound workloads under valgrind's callgrind: the
//! pull-request gate's signal for code whose speed does not depend on I/O.
//!
//! Wall-clock times on a shared machine move by 5-50% between runs; the number of
//! instructions a workload executes does not move with the machine's load. Each
//! workload of `benches/instructions.rs` runs in a child process under
//! `valgrind --tool=callgrind` with collection switched off, except inside
//! [`mcpbench_measured`] (`--toggle-collect`), so set-up, the warm-up iteration and
//! teardown are not counted. The count is per iteration of the time bench with the
//! same id, so the two sit side by side in a baseline.
//!
//! Why a runner of our own and not the `gungraun` crate: gungraun needs its runner
//! binary installed (`cargo install`) at exactly the library's version, and a
//! harness of its own; what we need is one valgrind invocation per workload and one
//! number from its output file, which is this module.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use mcpbench_files::instructions::{Count, INSTRUCTIONS_SCHEMA, InstructionsFile};

/// The environment variable that makes the bench binary run one workload as
/// valgrind's child instead of driving valgrind.
pub const CHILD_ENV: &str = "MCPBENCH_INSTRUCTIONS_CHILD";

/// Where `benches/instructions.rs` writes its file in this target directory.
pub fn default_path() -> PathBuf {
    crate::results::target_dir()
        .join("mcpbench")
        .join("instructions.json")
}

pub use crate::workloads::Workload;

/// The measured region: callgrind counts only inside this function
/// (`--toggle-collect=mcpbench_measured`). Unmangled so the name is exact;
/// never inlined so it exists as a function at all.
#[inline(never)]
// SAFETY: `no_mangle` is unsafe because two symbols of one name would collide at
// link time; `mcpbench_measured` is defined here only, and no library we link
// exports that name.
#[unsafe(no_mangle)]
pub extern "Rust" fn mcpbench_measured(iteration: &mut dyn FnMut()) {
    iteration();
}

/// Runs `workload` in this process: set-up, one warm-up iteration (lazy
/// initialisation, first growth of tables), then one iteration in the measured
/// region, each after its `prepare` (outside). Under callgrind that iteration is
/// what gets counted.
pub fn run_child(workload: &Workload) {
    let mut iteration = (workload.build)();
    iteration.prepare();
    iteration.run();
    iteration.prepare();
    mcpbench_measured(&mut || iteration.run());
}

/// Why a count could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    /// valgrind is not on the PATH.
    #[error("valgrind not found ({0}): install it (Debian: apt-get install valgrind)")]
    NoValgrind(std::io::Error),
    /// The child under valgrind failed.
    #[error("{id}: the workload under valgrind exited with {status}: {stderr}")]
    Child {
        /// The workload.
        id: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of what it printed.
        stderr: String,
    },
    /// callgrind's output file has no `totals:` line, or an unreadable one.
    #[error("{}: no instruction total in callgrind's output ({reason})", path.display())]
    Output {
        /// The callgrind output file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// `valgrind --version`, or the reason it cannot run.
pub fn valgrind_version() -> Result<String, CountError> {
    let out = Command::new("valgrind")
        .arg("--version")
        .output()
        .map_err(CountError::NoValgrind)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Counts the instructions of one iteration of `workload`: runs `exe` (the bench
/// binary) under callgrind with [`CHILD_ENV`] naming the workload, and reads the
/// total from the output file written into `scratch`.
pub fn count(exe: &Path, workload: &Workload, scratch: &Path) -> Result<Count, CountError> {
    let out_file = scratch.join(format!("callgrind.{}.out", workload.id.replace('/', "_")));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=mcpbench_measured")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(exe)
        .env(CHILD_ENV, workload.id)
        .output()
        .map_err(CountError::NoValgrind)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The workload's own last lines, without valgrind's (`==PID==`).
        let tail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("=="))
            .rev()
            .take(8)
            .collect();
        return Err(CountError::Child {
            id: workload.id.to_string(),
            status: output.status,
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    let text = std::fs::read_to_string(&out_file).map_err(|e| CountError::Output {
        path: out_file.clone(),
        reason: e.to_string(),
    })?;
    let instructions = parse_totals(&text, &out_file)?;
    let _ = std::fs::remove_file(&out_file);
    Ok(Count {
        instructions,
        per_iteration: workload.per_iteration,
        note: String::new(),
    })
}

/// The `totals:` line of a callgrind output file (the first event, `Ir`). A zero
/// total means the measured region never ran under collection: refused. `path`
/// names the file in the error.
pub fn parse_totals(text: &str, path: &Path) -> Result<u64, CountError> {
    let refused = |reason: String| CountError::Output {
        path: path.to_path_buf(),
        reason,
    };
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .ok_or_else(|| refused("no `totals:` line".into()))?;
    let first = line
        .split_whitespace()
        .next()
        .ok_or_else(|| refused("empty `totals:` line".into()))?;
    let total: u64 = first
        .parse()
        .map_err(|e| refused(format!("`totals: {first}`: {e}")))?;
    if total == 0 {
        return Err(refused(
            "0 instructions: mcpbench_measured was never called".into(),
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_total_of_a_callgrind_file() {
        let text =
            "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 5012\ntotals: 5012\n";
        assert_eq!(parse_totals(text, Path::new("out")).ok(), Some(5012));
    }

    #[test]
    fn refuses_a_file_without_a_total_or_with_zero() {
        let file = Path::new("callgrind.out");
        assert!(parse_totals("events: Ir\n", file).is_err());
        assert!(parse_totals("totals: x\n", file).is_err());
        let zero = parse_totals("totals: 0\n", file).unwrap_err().to_string();
        assert!(
            zero.contains("never called") && zero.contains("callgrind.out"),
            "{zero}"
        );
    }

    #[test]
    fn the_child_counts_one_iteration_after_a_warm_up() {
        use crate::workloads::{Iteration, Prepared, Unit};
        use std::sync::atomic::{AtomicU32, Ordering};
        static PREPARED: AtomicU32 = AtomicU32::new(0);
        static RUNS: AtomicU32 = AtomicU32::new(0);
        fn build() -> Box<dyn Iteration> {
            Prepared::boxed(
                (),
                |_: &mut ()| {
                    PREPARED.fetch_add(1, Ordering::SeqCst);
                },
                |_: &mut ()| {
                    RUNS.fetch_add(1, Ordering::SeqCst);
                },
            )
        }
        let w = Workload {
            id: "t/x/1",
            per_iteration: 4,
            unit: Unit::Elements,
            threads: 1,
            batch: None,
            counted: true,
            build,
        };
        run_child(&w);
        assert_eq!(RUNS.load(Ordering::SeqCst), 2);
        assert_eq!(PREPARED.load(Ordering::SeqCst), 2);
    }
}

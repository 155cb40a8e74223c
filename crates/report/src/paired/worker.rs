//! A worker process of one side (`benches/paired.rs`, built in that side's
//! checkout): spawned pinned where `taskset` exists, spoken to in JSON lines.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use super::{Command, PairedError, Reply, WorkerWorkload};

/// One side's worker process.
pub struct Worker {
    side: String,
    dir: PathBuf,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    /// Starts the worker `exe` (a side's `paired` bench binary, [`worker_exe`])
    /// in `dir`, pinned to CPU `cpu` when given (with `taskset`, where it exists).
    pub fn spawn(
        side: &str,
        dir: &Path,
        exe: &Path,
        cpu: Option<usize>,
    ) -> Result<Worker, PairedError> {
        let pin = cpu.filter(|_| taskset_available());
        let mut command = match pin {
            Some(c) => {
                let mut t = std::process::Command::new("taskset");
                t.arg("-c").arg(c.to_string()).arg(exe);
                t
            }
            None => std::process::Command::new(exe),
        };
        let mut child = command
            .arg("--worker")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| PairedError::Spawn {
                side: side.into(),
                dir: dir.into(),
                source,
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(PairedError::Gone {
                side: side.into(),
                dir: dir.into(),
                reason: "no pipes".into(),
            });
        };
        Ok(Worker {
            side: side.into(),
            dir: dir.into(),
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    fn gone(&self, reason: impl Into<String>) -> PairedError {
        PairedError::Gone {
            side: self.side.clone(),
            dir: self.dir.clone(),
            reason: reason.into(),
        }
    }

    fn ask(&mut self, command: &Command) -> Result<Reply, PairedError> {
        // (One line out, one line back; a worker that dies is named by its side.)
        let line = serde_json::to_string(command).map_err(|e| self.gone(e.to_string()))?;
        writeln!(self.stdin, "{line}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| self.gone(e.to_string()))?;
        let mut reply = String::new();
        let n = self
            .stdout
            .read_line(&mut reply)
            .map_err(|e| self.gone(e.to_string()))?;
        if n == 0 {
            return Err(self.gone("end of its output"));
        }
        match serde_json::from_str::<Reply>(&reply) {
            Ok(Reply::Error { message }) => Err(PairedError::Reply {
                side: self.side.clone(),
                message,
            }),
            Ok(r) => Ok(r),
            Err(e) => Err(self.gone(format!("not a reply ({e}): {:?}", reply.trim()))),
        }
    }

    fn unexpected(&self, wanted: &str, got: &Reply) -> PairedError {
        PairedError::Reply {
            side: self.side.clone(),
            message: format!("expected {wanted}, got {got:?}"),
        }
    }

    /// The workloads this side has, and its commit.
    pub fn list(&mut self) -> Result<(Vec<WorkerWorkload>, String), PairedError> {
        match self.ask(&Command::List)? {
            Reply::Workloads { workloads, commit } => Ok((workloads, commit)),
            other => Err(self.unexpected("workloads", &other)),
        }
    }

    /// Builds `id` with `inject_ns` per iteration; the warm-up iteration's time.
    pub fn prepare(&mut self, id: &str, inject_ns: u64) -> Result<u64, PairedError> {
        let command = Command::Prepare {
            id: id.into(),
            inject_ns,
        };
        match self.ask(&command)? {
            Reply::Ready { warm_up_ns } => Ok(warm_up_ns),
            other => Err(self.unexpected("ready", &other)),
        }
    }

    /// One sample of `iterations`: its time in ns.
    pub fn sample(&mut self, iterations: u64) -> Result<f64, PairedError> {
        match self.ask(&Command::Sample { iterations })? {
            Reply::Sample { ns } => Ok(ns.max(1) as f64),
            other => Err(self.unexpected("sample", &other)),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin ends the worker's loop; wait so no process is left behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `taskset` (util-linux) can pin a worker here.
fn taskset_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::process::Command::new("taskset")
            .arg("-p")
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Builds the checkout `dir`'s `paired` bench (`cargo bench --no-run`, in its
/// own target directory: `CARGO_TARGET_DIR` is removed so two checkouts never
/// share a build) and returns its executable.
pub fn worker_exe(side: &str, dir: &Path) -> Result<PathBuf, PairedError> {
    let gone = |reason: String| PairedError::Gone {
        side: side.into(),
        dir: dir.into(),
        reason,
    };
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args([
            "bench",
            "--quiet",
            "--no-run",
            "--bench",
            "paired",
            "--message-format=json",
        ])
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| PairedError::Spawn {
            side: side.into(),
            dir: dir.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(gone(format!(
            "`cargo bench --no-run --bench paired` exited with {}; does that checkout have benches/paired.rs?",
            out.status
        )));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "paired")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| gone("cargo named no `paired` executable".into()))
}

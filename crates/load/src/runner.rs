//! One load against one started server, as `compare`, `capacity`, `lifecycle` and
//! `scaling` all run it: the load is `connections --target URL --server-pid PID`,
//! a child process of its own (so its RSS reading and its processes are the same
//! as any user's run), and its result file becomes one row of the experiment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mcpbench_files::compare::{CompareEntry, Outcome};
use mcpbench_files::{ConnectionsFile, results_dir};

use crate::cli::{Plan, RunShape};
use crate::error::LoadError;
use crate::peers::{Peer, PeerName, PeerPaths};
use crate::procs::{Binaries, LoadChild, Running};
use crate::schedule::GRACE;
use crate::target::Target;

/// What every experiment starts from: the servers (in order), the programs, the
/// repository (the current directory) and a scratch directory for each run's
/// `connections` file.
pub struct Setup {
    /// The servers, in order.
    pub names: Vec<PeerName>,
    /// The load and server programs.
    pub bins: Binaries,
    /// Where the peers are.
    pub peers: PeerPaths,
    /// The repository.
    pub root: PathBuf,
    /// `target/mcpbench/<scratch>/`.
    pub dir: PathBuf,
}

impl Setup {
    /// Makes `target/mcpbench/<scratch>/` under the current directory (the
    /// repository: `scripts/sdk/`, `target/peers/`).
    pub fn new(names: &[PeerName], scratch: &str, bins: Binaries) -> Result<Setup, LoadError> {
        let root = std::env::current_dir()
            .map_err(|e| LoadError::io("read", "the current directory", e))?;
        Setup::at(names, root, scratch, bins)
    }

    /// Makes `target/mcpbench/<scratch>/` under `root`, the repository.
    pub fn at(
        names: &[PeerName],
        root: PathBuf,
        scratch: &str,
        bins: Binaries,
    ) -> Result<Setup, LoadError> {
        if names.is_empty() {
            return Err(LoadError::Plan(
                "--servers: name at least one server".into(),
            ));
        }
        let dir = results_dir(&root).join(scratch);
        std::fs::create_dir_all(&dir).map_err(|e| LoadError::io("create", &dir, e))?;
        Ok(Setup {
            names: names.to_vec(),
            peers: PeerPaths::new(bins.server.clone(), &root),
            bins,
            root,
            dir,
        })
    }

    /// How to start `name` with `size`-byte results, or why it cannot be.
    pub fn peer(&self, name: PeerName, size: usize) -> Result<Peer, LoadError> {
        crate::peers::peer(name, &self.peers, size)
    }
}

/// What one load against a started server is: its size and shape.
pub struct LoadArgs<'a> {
    /// Connections.
    pub count: u64,
    /// Calls per second per connection.
    pub rate: f64,
    /// Duration, size, protocol, processes.
    pub shape: &'a RunShape,
    /// Leave the sessions open at the end (no DELETE).
    pub abandon: bool,
    /// `connections --give-up-after`.
    pub give_up_after: Option<u64>,
}

/// A row for `p` before anything ran.
pub fn entry(p: &Peer) -> CompareEntry {
    CompareEntry {
        name: p.name.name().into(),
        description: p.description.clone(),
        command: p.command(),
        protocol: None,
        outcome: Outcome::NotRun,
        why: Vec::new(),
        crashed: false,
        result: None,
    }
}

/// A row for a server that could not even be prepared (not installed...).
pub fn not_run(name: PeerName, why: &LoadError) -> CompareEntry {
    CompareEntry {
        name: name.name().into(),
        description: String::new(),
        command: Vec::new(),
        protocol: None,
        outcome: Outcome::NotRun,
        why: vec![why.to_string()],
        crashed: false,
        result: None,
    }
}

/// Starts one server, loads it, stops it.
pub async fn one(p: &Peer, a: &LoadArgs<'_>, bins: &Binaries, out: &Path) -> CompareEntry {
    let mut e = entry(p);
    let mut server = match Running::start(p).await {
        Ok(s) => s,
        Err(why) => {
            e.why.push(why.to_string());
            return e;
        }
    };
    println!(
        "compare: {} listening on {} (pid {})",
        p.name, server.url, server.pid
    );
    load_into(&mut e, &mut server, a, bins, out).await;
    server.stop().await;
    e
}

/// Runs one load (`connections --target`, a child process) against `server`; its
/// result, outcome and reasons go into `entry`.
pub async fn load_into(
    entry: &mut CompareEntry,
    server: &mut Running,
    a: &LoadArgs<'_>,
    bins: &Binaries,
    out: &Path,
) {
    let _ = std::fs::remove_file(out);
    let target = match server.url.parse::<Target>() {
        Ok(t) => t,
        Err(e) => {
            entry.why.push(format!("the server's URL: {e}"));
            return;
        }
    };
    let plan = Plan {
        target: Some(target),
        server_pid: Some(server.pid),
        ..a.plan(out)
    };
    let status = LoadChild::run(&bins.load, &plan, &entry.name, limit(a)).await;
    entry.crashed = server.gone();
    read_result(entry, out, &status);
}

impl LoadArgs<'_> {
    /// The `connections` plan of one load, writing to `out` (no target yet).
    pub fn plan(&self, out: &Path) -> Plan {
        Plan {
            rate: self.rate,
            duration: self.shape.duration,
            protocol: self.shape.protocol,
            size: self.shape.size,
            processes: self.shape.processes,
            out: Some(out.to_path_buf()),
            abandon: self.abandon,
            give_up_after: self.give_up_after,
            ..Plan::with_defaults(self.count)
        }
    }
}

/// How long one load may take: the connect phase's own limit, the run, twice the
/// grace, a margin.
pub fn limit(a: &LoadArgs<'_>) -> Duration {
    Duration::from_secs(60 + a.count / 100 + 60)
        + Duration::from_secs_f64(a.shape.duration)
        + 2 * GRACE
}

/// Reads the load's result file into `entry`: outcome, reasons, result.
pub fn read_result(entry: &mut CompareEntry, out: &Path, status: &str) {
    match ConnectionsFile::load(out) {
        Ok(r) => {
            entry.why = crate::verdict::failures(&r);
            entry.outcome = if entry.why.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Failed
            };
            entry.result = Some(r);
        }
        // The server ran: a load that left no result failed (it is not a
        // server that could not be started, which `NotRun` means).
        Err(e) => {
            entry.outcome = Outcome::Failed;
            entry.why.push(format!("no result ({status}): {e}"));
        }
    }
    if entry.crashed {
        entry
            .why
            .push("the server process was gone at the end of the load (crashed or exited)".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_without_a_result_failed_it_did_not_not_run() {
        let mut e = CompareEntry {
            name: "x".into(),
            description: String::new(),
            command: vec![],
            protocol: None,
            outcome: Outcome::NotRun,
            why: vec![],
            crashed: false,
            result: None,
        };
        let missing = std::env::temp_dir().join("mcpbench-no-such-result.json");
        read_result(&mut e, &missing, "timed out");
        assert_eq!(e.outcome, Outcome::Failed);
        assert!(e.why[0].starts_with("no result (timed out)"), "{:?}", e.why);
    }
}

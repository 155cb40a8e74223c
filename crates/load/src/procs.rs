//! The processes the load tool starts. Every one is a [`Proc`] (started by
//! [`Proc::spawn`]: stdin and stdout piped, killed when dropped, and it exits by
//! itself when its stdin closes): the harness's servers and client shards (their
//! stats and reports), the server of an experiment ([`Running`]: a `Proc` whose
//! URL was read from its ready line, stopped with SIGTERM) and the load of an
//! experiment ([`LoadChild`]: a `Proc` sent its plan, its progress lines echoed).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mcpbench_files::ServerStats;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::cli::Plan;
use crate::counters::{ClientReport, Phase};
use crate::error::LoadError;
use crate::peers::Peer;
use crate::wire::ToChild;

/// The programs a run starts: the load tool itself (its shards and the load of
/// each experiment) and our server.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `mcpbench-load`.
    pub load: PathBuf,
    /// `mcpbench-server`.
    pub server: PathBuf,
}

impl Binaries {
    /// This executable, and the `mcpbench-server` beside it (cargo builds both
    /// into one folder).
    pub fn beside_current_exe() -> Result<Binaries, LoadError> {
        let load =
            std::env::current_exe().map_err(|e| LoadError::io("find", "my own executable", e))?;
        Ok(Binaries {
            server: load.with_file_name("mcpbench-server"),
            load,
        })
    }
}

/// A started child: killed when dropped (`kill_on_drop`), and it exits by itself
/// when its stdin closes, which happens when this process ends however it ends.
pub struct Proc {
    /// "server 2", "client 5": how errors name it.
    pub name: String,
    /// The process.
    pub child: Child,
    /// Its stdin; taken (closed) to make it exit.
    pub stdin: Option<ChildStdin>,
    /// Its stdout, line by line.
    pub lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Proc {
    /// Starts `program` with `args`, stdin and stdout piped, stderr inherited.
    pub fn spawn(name: String, program: &Path, args: &[String]) -> std::io::Result<Proc> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        Ok(Proc {
            name,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }
}

/// Writes `line` and a newline to every process's stdin.
pub async fn tell(procs: &mut [Proc], line: &str) {
    for p in procs {
        if let Some(stdin) = p.stdin.as_mut() {
            let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
        }
    }
}

/// The servers' stats, summed.
#[derive(Debug, Clone, Copy)]
pub struct StatsSum {
    /// Allocator-counted live heap bytes.
    pub live: i64,
    /// RSS (context only).
    pub rss: u64,
    /// Every server answered and counts its allocations.
    pub counted: bool,
    /// Sessions open.
    pub sessions: u64,
    /// Server-to-client streams open.
    pub listeners: u64,
    /// Streams closed for falling behind, since the servers started.
    pub listeners_lagged: u64,
    /// Updates published, since the servers started.
    pub events_published: u64,
    /// Servers whose reply was missing or malformed.
    pub unreadable: u64,
}

/// Asks every server for its stats over its stdin/stdout (so each server answers
/// for itself, whatever listener the kernel would pick for a new connection).
pub async fn ask_servers(servers: &mut [Proc]) -> StatsSum {
    let mut sum = StatsSum {
        live: 0,
        rss: 0,
        counted: true,
        sessions: 0,
        unreadable: 0,
        listeners: 0,
        listeners_lagged: 0,
        events_published: 0,
    };
    for s in servers.iter_mut() {
        if let Some(stdin) = s.stdin.as_mut() {
            let _ = stdin.write_all(b"stats\n").await;
        }
        let reply = tokio::time::timeout(Duration::from_secs(10), s.lines.next_line()).await;
        match reply {
            Ok(Ok(Some(line))) => match mcpbench_files::parse::<ServerStats>(&line, &s.name) {
                Ok(v) => {
                    sum.live += v.live_bytes;
                    // RSS is context only; a server that cannot read it adds 0.
                    sum.rss += v.rss_bytes.unwrap_or(0);
                    sum.sessions += v.sessions;
                    sum.listeners += v.listeners;
                    sum.listeners_lagged += v.listeners_lagged;
                    sum.events_published += v.events_published;
                    sum.counted &= v.allocator_counted;
                }
                Err(e) => {
                    // A reply we cannot read is not "no session left".
                    eprintln!("mcpbench-load: {e}");
                    sum.counted = false;
                    sum.unreadable += 1;
                }
            },
            _ => {
                eprintln!("mcpbench-load: {} gave no stats reply within 10 s", s.name);
                sum.counted = false;
                sum.unreadable += 1;
            }
        }
    }
    sum
}

/// Once every client process has ended (so every connection is closed): the
/// servers' stats when their last session is gone, or after 30 s.
pub async fn stats_after_close(
    servers: &mut [Proc],
    clients: &mut [Proc],
    sessions_end: bool,
) -> StatsSum {
    for c in clients.iter_mut() {
        c.stdin.take();
        let _ = tokio::time::timeout(Duration::from_secs(10), c.child.wait()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = ask_servers(servers).await;
        if (stats.sessions == 0 && stats.unreadable == 0)
            || !sessions_end
            || !stats.counted
            || Instant::now() > deadline
        {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Reads report lines from every client for up to `wait`, keeping each client's
/// latest in `latest`; returns how many clients have ended their output.
pub async fn poll_reports(
    clients: &mut [Proc],
    latest: &mut [ClientReport],
    wait: Duration,
) -> usize {
    let deadline = tokio::time::Instant::now() + wait;
    let mut ended = 0;
    for (i, c) in clients.iter_mut().enumerate() {
        loop {
            match tokio::time::timeout_at(deadline, c.lines.next_line()).await {
                Ok(Ok(Some(line))) => match serde_json::from_str::<ClientReport>(&line) {
                    Ok(r) => {
                        let last = r.phase == Phase::Done;
                        latest[i] = r;
                        if last {
                            break;
                        }
                    }
                    Err(e) => eprintln!("mcpbench-load: {}: unreadable report: {e}", c.name),
                },
                Ok(_) => {
                    ended += 1;
                    break;
                }
                Err(_) => break,
            }
        }
    }
    ended
}

/// A server process started for a load, with its URL.
pub struct Running {
    /// The process (its stdout drained by a task once the URL is read).
    child: Child,
    /// Kept open: the server's stdin closes only when this is dropped.
    _stdin: Option<ChildStdin>,
    /// Where it listens (from its ready line).
    pub url: String,
    /// Its process id.
    pub pid: u32,
}

impl Running {
    /// Starts `p` and waits (at most 30 s) for the line naming its URL.
    pub async fn start(p: &Peer) -> Result<Running, LoadError> {
        let Proc {
            child,
            stdin,
            mut lines,
            ..
        } = Proc::spawn(p.name.to_string(), &p.program, &p.args).map_err(|source| {
            LoadError::Spawn {
                program: p.program.clone(),
                source,
            }
        })?;
        let child_error = |why: &str| LoadError::Child {
            program: p.program.display().to_string(),
            why: why.to_string(),
        };
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = url_in(&line) {
                    return Some(url);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| child_error("printed no URL within 30 s"))?;
        // Keep reading its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let pid = child.id().ok_or_else(|| child_error("exited at once"))?;
        Ok(Running {
            child,
            _stdin: stdin,
            url,
            pid,
        })
    }

    /// The process is gone (crashed or exited).
    pub fn gone(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// SIGTERM, then kill after 5 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on a pid we started and have not reaped.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The first `http://...` in `line`.
fn url_in(line: &str) -> Option<String> {
    let at = line.find("http://")?;
    Some(
        line[at..]
            .split(|c: char| c.is_whitespace() || c == ')' || c == ',')
            .next()?
            .to_string(),
    )
}

/// The load of an experiment: `mcpbench-load child`, sent its plan on stdin.
pub struct LoadChild;

impl LoadChild {
    /// The command of a load child with `plan`, as result files record it: a
    /// shell line that sends the plan to `load child` on its stdin.
    pub fn command(load: &Path, plan: &Plan) -> Vec<String> {
        let message = ToChild::Plan {
            plan: Box::new(plan.clone()),
        }
        .line()
        .unwrap_or_else(|e| e.to_string());
        let quoted = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        vec![
            "sh".into(),
            "-c".into(),
            format!(
                "printf '%s\\n' {} | {} child",
                quoted(message.trim_end()),
                quoted(&load.display().to_string())
            ),
        ]
    }

    /// Runs `load child` with `plan` for at most `limit`, its progress lines
    /// prefixed with `name`; returns how it ended, in words (the row's reason
    /// when it left no result).
    pub async fn run(load: &Path, plan: &Plan, name: &str, limit: Duration) -> String {
        let message = match (ToChild::Plan {
            plan: Box::new(plan.clone()),
        })
        .line()
        {
            Ok(line) => line,
            Err(e) => return e.to_string(),
        };
        let mut child = match Proc::spawn(name.to_string(), load, &["child".to_string()]) {
            Ok(c) => c,
            Err(e) => return format!("the load could not start: {e}"),
        };
        // The plan, then stdin closes: the load reads nothing more.
        match child.stdin.take() {
            Some(mut stdin) => {
                if let Err(e) = stdin.write_all(message.as_bytes()).await {
                    return format!("the load did not take its plan: {e}");
                }
            }
            None => return "the load has no stdin".into(),
        }
        let follow = async {
            while let Ok(Some(line)) = child.lines.next_line().await {
                // Progress and summary lines, not the JSON it also prints.
                if line.starts_with("load:") {
                    println!("[{name}] {line}");
                }
            }
            child.child.wait().await
        };
        match tokio::time::timeout(limit, follow).await {
            Ok(Ok(status)) => format!("load {status}"),
            Ok(Err(e)) => format!("load: {e}"),
            Err(_) => format!("load stopped after {} s", limit.as_secs()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_found_in_each_servers_ready_line() {
        assert_eq!(
            url_in("mcpbench-server: ready on http://127.0.0.1:5/mcp (pid 9)").as_deref(),
            Some("http://127.0.0.1:5/mcp")
        );
        assert_eq!(
            url_in("listening on http://127.0.0.1:8000/mcp").as_deref(),
            Some("http://127.0.0.1:8000/mcp")
        );
        assert_eq!(url_in("starting"), None);
    }
}

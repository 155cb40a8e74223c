//! The processes the harness starts: servers and clients, each killed when dropped
//! and exiting by itself when its stdin closes; their stats and reports.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mcpbench_files::ServerStats;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::counters::{ClientReport, Phase};

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

/// Starts `program` with `args`, stdin and stdout piped.
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

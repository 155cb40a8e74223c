//! `mcpbench-load connections --count N`: N concurrent MCP connections, actually
//! opened, against `mcpbench-server`, measured.
//!
//! A process here may hold 20,000 open files and a loopback source address has about
//! 28,000 ephemeral ports per destination, so the harness runs as many server
//! processes (sharing one port with `SO_REUSEPORT`) and client processes (each from
//! its own source address 127.0.0.x) as N needs. Every child watches its stdin and
//! exits when the harness goes away, whatever the reason.
//!
//! Phases: connect + `initialize` every connection; read the servers' allocator-
//! counted heap (idle connections); then each connection calls `tools/call` at the
//! given rate, open-loop (latency from the intended send time), for the duration.
//! Result: `target/mcpbench/connections.json` and a summary; exit 1 when a
//! connection failed or a message was lost.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use mcpbench_files::{
    CONNECTIONS_SCHEMA, Connections, ConnectionsFile, Messages, OpenLoopLatency, PerConnection,
    Processes, Requested, ServerKind as FileServerKind, ServerMemory, ServerStats,
};
use mcpbench_netio::Client;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Semaphore, watch};

/// Connections per process: leaves room under the 20,000-file limit.
const PER_PROCESS: u64 = 15_000;

#[derive(Parser)]
#[command(
    name = "mcpbench-load",
    about = "Concurrent MCP connections against mcpbench-server, measured"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open N connections, call tools/call at a rate, report.
    Connections(Plan),
    /// One client process (started by `connections`; talks JSON lines on stdio).
    #[command(hide = true)]
    Client(ClientArgs),
}

/// What `connections` runs.
#[derive(clap::Args)]
struct Plan {
    /// Concurrent connections to open.
    #[arg(long)]
    count: u64,
    /// tools/call messages per second per connection.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of calls after every connection is up.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Bytes of the text each call returns (the server's --result-size).
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Connects in flight at once per client process.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Which server to load: `mcp` (mcpbench-server) or `bare` (the ceiling beside
    /// it: the same reply bytes from a plain tokio loop, nothing parsed).
    #[arg(long, value_enum, default_value_t = ServerKind::Mcp)]
    server: ServerKind,
    /// Where to write the result (default target/mcpbench/connections.json, or
    /// connections-bare.json for `--server bare`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Profile every server process; server K writes FILE with `-serverK` before
    /// its extension.
    #[arg(long)]
    flamegraph: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum ServerKind {
    Mcp,
    Bare,
}

/// One client process's share (set by `connections`).
#[derive(clap::Args)]
struct ClientArgs {
    #[arg(long)]
    server: SocketAddr,
    #[arg(long)]
    source: IpAddr,
    #[arg(long)]
    count: u64,
    #[arg(long)]
    rate: f64,
    #[arg(long)]
    duration: f64,
    #[arg(long)]
    connect_concurrency: usize,
}

/// How long after the run's end a client still sends due calls and waits for
/// replies; a reply not in by then is lost, a call not sent by then is "not sent".
const GRACE: Duration = Duration::from_secs(10);

/// What a client process reports, one JSON object per line.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct ClientReport {
    phase: String,
    connected: u64,
    failed: u64,
    /// Calls scheduled during the run (over every connection).
    due: u64,
    sent: u64,
    answered: u64,
    /// Answered before the run's end (the achieved rate counts these).
    answered_in_run: u64,
    /// The server answered with a JSON-RPC error.
    error_replies: u64,
    /// No reply by the run's end + [`GRACE`], or the connection broke.
    unanswered: u64,
    /// Calls never sent: due so late (after the run's end + [`GRACE`]) that the
    /// client stopped, or after its connection broke.
    not_sent: u64,
    /// Latency samples recorded at the deadline, as lower bounds: calls with no
    /// reply (or not sent) by the run's end + [`GRACE`].
    censored: u64,
    /// Connections whose every due call was answered with a result.
    fully_answered: u64,
    /// Connections with calls due and at least one not answered with a result.
    short: u64,
    /// Connections with no call due (a run shorter than one interval).
    no_calls_due: u64,
    errors: BTreeMap<String, u64>,
    /// Latency histogram as (value ns, count) pairs (final report only).
    latency: Vec<(u64, u64)>,
}

/// A client process's counters, shared by its connection tasks.
#[derive(Default)]
struct Tally {
    connected: AtomicU64,
    failed: AtomicU64,
    due: AtomicU64,
    sent: AtomicU64,
    answered: AtomicU64,
    answered_in_run: AtomicU64,
    error_replies: AtomicU64,
    unanswered: AtomicU64,
    not_sent: AtomicU64,
    censored: AtomicU64,
    fully_answered: AtomicU64,
    short: AtomicU64,
    no_calls_due: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<Option<Histogram<u64>>>,
}

impl Tally {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn note(&self, why: String) {
        if let Ok(mut errors) = self.errors.lock() {
            *errors.entry(why).or_default() += 1;
        }
    }

    fn record(&self, ns: u64) {
        if let Ok(mut h) = self.latency.lock() {
            let _ = h.get_or_insert_with(histogram).record(ns.max(1));
        }
    }

    /// Calls `from..to` of `schedule` had no reply by `deadline` (or were never
    /// sent): each is a latency sample of at least `deadline - due`, recorded as
    /// that lower bound so percentiles keep every late call (docs/method.md: every
    /// sample), not only the ones that made it.
    fn censor(&self, schedule: &Schedule, from: u64, to: u64, deadline: tokio::time::Instant) {
        Tally::add(&self.censored, to.saturating_sub(from));
        if let Ok(mut h) = self.latency.lock() {
            let h = h.get_or_insert_with(histogram);
            for n in from..to {
                let ns = deadline
                    .saturating_duration_since(schedule.at(n))
                    .as_nanos() as u64;
                let _ = h.record(ns.max(1));
            }
        }
    }

    /// The counters now, as a report of `phase`; the final one carries the errors
    /// and the latency histogram.
    fn report(&self, phase: &str) -> ClientReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let last = phase == "done";
        ClientReport {
            phase: phase.to_string(),
            connected: get(&self.connected),
            failed: get(&self.failed),
            due: get(&self.due),
            sent: get(&self.sent),
            answered: get(&self.answered),
            answered_in_run: get(&self.answered_in_run),
            error_replies: get(&self.error_replies),
            unanswered: get(&self.unanswered),
            not_sent: get(&self.not_sent),
            censored: get(&self.censored),
            fully_answered: get(&self.fully_answered),
            short: get(&self.short),
            no_calls_due: get(&self.no_calls_due),
            errors: match self.errors.lock() {
                Ok(e) if last => e.clone(),
                _ => BTreeMap::new(),
            },
            latency: match self.latency.lock() {
                Ok(h) if last => h
                    .iter()
                    .flat_map(|h| h.iter_recorded())
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect(),
                _ => Vec::new(),
            },
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One thread per process: the harness runs several processes per core already,
    // and a second worker only adds cross-thread wake-ups (~35 us each here).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcpbench-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Cmd::Client(args) => rt.block_on(client(args)),
        Cmd::Connections(plan) => {
            let Plan {
                count,
                rate,
                duration,
                ..
            } = plan;
            if count == 0 || rate.is_nan() || rate <= 0.0 || duration.is_nan() || duration <= 0.0 {
                eprintln!("mcpbench-load: --count, --rate and --duration must be positive");
                return ExitCode::from(2);
            }
            rt.block_on(async {
                tokio::select! {
                    code = orchestrate(plan) => code,
                    _ = tokio::signal::ctrl_c() => {
                        eprintln!("mcpbench-load: interrupted; stopping every process it started");
                        ExitCode::from(130)
                    }
                }
            })
        }
    }
}

/// Checks the machine-wide limits N connections need: two descriptors each (client
/// and server side) under `fs.file-max`, and `per_address` ephemeral ports per
/// source address (one client process's share). A limit that cannot be read is not checked.
fn system_limits_allow(count: u64, per_address: u64) -> Result<(), String> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    limits_allow(
        count,
        per_address,
        read("/proc/sys/fs/file-max").as_deref(),
        read("/proc/sys/net/ipv4/ip_local_port_range").as_deref(),
    )
}

/// [`system_limits_allow`] on the two files' contents.
fn limits_allow(
    count: u64,
    per_address: u64,
    file_max: Option<&str>,
    port_range: Option<&str>,
) -> Result<(), String> {
    if let Some(max) = file_max.and_then(|s| s.trim().parse::<u64>().ok())
        && 2 * count + 10_000 > max
    {
        return Err(format!(
            "{} descriptors needed (client and server side of each connection, plus slack), fs.file-max is {max}",
            2 * count + 10_000
        ));
    }
    if let Some(range) = port_range {
        let ends: Vec<u64> = range
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if let [low, high] = ends[..]
            && high.saturating_sub(low) + 1 < per_address
        {
            return Err(format!(
                "{per_address} connections per source address need as many ephemeral ports; net.ipv4.ip_local_port_range {low}-{high} has {}",
                high.saturating_sub(low) + 1
            ));
        }
    }
    Ok(())
}

/// Soft limit on open files of this process.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A started child: killed when dropped (`kill_on_drop`), and it exits by itself
/// when its stdin closes, which happens when this process ends however it ends.
struct Proc {
    /// "server 2", "client 5": how errors name it.
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

fn spawn(name: String, program: &PathBuf, args: &[String]) -> std::io::Result<Proc> {
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

async fn orchestrate(plan: Plan) -> ExitCode {
    let Plan {
        count,
        rate,
        duration,
        size,
        connect_concurrency,
        server: kind,
        out,
        flamegraph,
    } = plan;
    let limit = open_file_limit().unwrap_or(1024);
    let per_process = PER_PROCESS.min(limit.saturating_sub(200)).max(1);
    let processes = count.div_ceil(per_process);
    if processes > 250 {
        eprintln!(
            "mcpbench-load: {count} connections would need {processes} processes of {per_process}; refusing (source addresses 127.0.0.2-251)"
        );
        return ExitCode::from(2);
    }
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("mcpbench-load: cannot find my own executable");
        return ExitCode::FAILURE;
    };
    if let Err(why) = system_limits_allow(count, count.div_ceil(processes)) {
        eprintln!("mcpbench-load: cannot run {count} connections here: {why}");
        return ExitCode::from(2);
    }
    let server_bin = exe.with_file_name("mcpbench-server");
    if !server_bin.exists() {
        eprintln!(
            "mcpbench-load: {} not found; build it: cargo build --release -p mcpbench-server",
            server_bin.display()
        );
        return ExitCode::FAILURE;
    }
    let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => {
            eprintln!("mcpbench-load: no free port: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    println!(
        "load: {count} connections, {rate} msg/s each for {duration} s, {size}-byte results, against {}. Open-file limit {limit} per process: \
         {processes} server process(es) sharing {server} (SO_REUSEPORT) and {processes} client process(es) from 127.0.0.2..127.0.0.{}, ≤ {per_process} connections each.",
        match kind {
            ServerKind::Mcp => "mcpbench-server",
            ServerKind::Bare => "the bare ceiling (mcpbench-server --bare: no MCP)",
        },
        processes + 1
    );

    // Servers.
    let mut servers = Vec::new();
    for k in 0..processes {
        let mut args: Vec<String> = vec![
            "--listen".into(),
            server.to_string(),
            "--reuse-port".into(),
            "--result-size".into(),
            size.to_string(),
            "--threads".into(),
            "1".into(),
            "--exit-on-stdin-eof".into(),
        ];
        if kind == ServerKind::Bare {
            args.push("--bare".into());
        }
        if let Some(f) = &flamegraph {
            let stem = f
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("flamegraph");
            args.push("--flamegraph".into());
            args.push(
                f.with_file_name(format!("{stem}-server{k}.svg"))
                    .display()
                    .to_string(),
            );
        }
        match spawn(format!("server {k}"), &server_bin, &args) {
            Ok(mut p) => {
                match tokio::time::timeout(Duration::from_secs(10), p.lines.next_line()).await {
                    Ok(Ok(Some(line))) if line.contains("ready") => servers.push(p),
                    other => {
                        eprintln!("mcpbench-load: a server did not start: {other:?}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            Err(e) => {
                eprintln!("mcpbench-load: cannot start {}: {e}", server_bin.display());
                return ExitCode::FAILURE;
            }
        }
    }
    // Each server answers for itself on its stdin/stdout: a new connection through
    // the shared port would reach whichever listener the kernel picks.
    let heap_before = ask_servers(&mut servers).await;

    // Clients.
    let mut clients = Vec::new();
    // Even shares: a process with more connections than the others falls behind
    // first (each client process is one thread with an equal share of the CPU).
    for k in 0..processes {
        let n = count / processes + u64::from(k < count % processes);
        let args: Vec<String> = vec![
            "client".into(),
            "--server".into(),
            server.to_string(),
            "--source".into(),
            format!("127.0.0.{}", k + 2),
            "--count".into(),
            n.to_string(),
            "--rate".into(),
            rate.to_string(),
            "--duration".into(),
            duration.to_string(),
            "--connect-concurrency".into(),
            connect_concurrency.to_string(),
        ];
        match spawn(format!("client {k}"), &exe, &args) {
            Ok(p) => clients.push(p),
            Err(e) => {
                eprintln!("mcpbench-load: cannot start a client process: {e}");
                return ExitCode::FAILURE;
            }
        }
    }

    // Connect phase: wait for every client to report "connected".
    let connect_start = Instant::now();
    let mut latest: Vec<ClientReport> = vec![ClientReport::default(); clients.len()];
    let connect_deadline = connect_start + Duration::from_secs(60 + count / 100);
    loop {
        let done = poll_reports(&mut clients, &mut latest, Duration::from_secs(1)).await;
        let (c, f): (u64, u64) = latest
            .iter()
            .fold((0, 0), |a, r| (a.0 + r.connected, a.1 + r.failed));
        let secs = connect_start.elapsed().as_secs_f64();
        println!(
            "load: connecting {c}/{count} ({:.0}/s), failed {f}, {secs:.0} s",
            c as f64 / secs.max(1e-9)
        );
        if latest.iter().all(|r| r.phase == "connected") || done {
            break;
        }
        if Instant::now() > connect_deadline {
            eprintln!("mcpbench-load: connect phase exceeded its time limit");
            break;
        }
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
    let established: u64 = latest.iter().map(|r| r.connected).sum();
    let heap_idle = ask_servers(&mut servers).await;

    // Run phase.
    for c in &mut clients {
        if let Some(stdin) = c.stdin.as_mut() {
            let _ = stdin.write_all(b"go\n").await;
        }
    }
    let run_start = Instant::now();
    // Clients stop sending and waiting GRACE after the end; allow as much again.
    let run_deadline =
        run_start + Duration::from_secs_f64(duration) + 2 * GRACE + Duration::from_secs(10);
    loop {
        let done = poll_reports(&mut clients, &mut latest, Duration::from_secs(1)).await;
        let (s, a): (u64, u64) = latest
            .iter()
            .fold((0, 0), |x, r| (x.0 + r.sent, x.1 + r.answered));
        println!(
            "load: {:.0} s / {duration} s, sent {s}, answered {a}",
            run_start.elapsed().as_secs_f64()
        );
        if latest.iter().all(|r| r.phase == "done") || done || Instant::now() > run_deadline {
            break;
        }
    }
    let run_secs = run_start.elapsed().as_secs_f64();
    println!("load: closing every connection");
    let heap_after = stats_after_close(&mut servers, &mut clients).await;

    // Merge.
    let mut merged = histogram();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for r in &latest {
        for (v, n) in &r.latency {
            let _ = merged.record_n(*v, *n);
        }
        for (k, n) in &r.errors {
            *errors.entry(k.clone()).or_default() += n;
        }
    }
    let total = |f: fn(&ClientReport) -> u64| latest.iter().map(f).sum::<u64>();
    let (failed, due, sent, answered, answered_in_run) = (
        total(|r| r.failed),
        total(|r| r.due),
        total(|r| r.sent),
        total(|r| r.answered),
        total(|r| r.answered_in_run),
    );
    let (error_replies, unanswered, not_sent, censored) = (
        total(|r| r.error_replies),
        total(|r| r.unanswered),
        total(|r| r.not_sent),
        total(|r| r.censored),
    );
    let lost = error_replies + unanswered;
    let (fully_answered, short, no_calls_due) = (
        total(|r| r.fully_answered),
        total(|r| r.short),
        total(|r| r.no_calls_due),
    );
    let unfinished = latest.iter().filter(|r| r.phase != "done").count();
    let bytes_per_conn =
        (established > 0).then(|| (heap_idle.live - heap_before.live) as f64 / established as f64);
    let retained_per_conn =
        (established > 0).then(|| (heap_after.live - heap_before.live) as f64 / established as f64);
    let q = |p: f64| {
        if merged.is_empty() {
            0
        } else {
            merged.value_at_quantile(p)
        }
    };
    let result = ConnectionsFile {
        schema: CONNECTIONS_SCHEMA.to_string(),
        requested: Requested {
            connections: count,
            rate_per_connection: rate,
            duration_s: duration,
            result_bytes: size as u64,
            server: match kind {
                ServerKind::Mcp => FileServerKind::Mcp,
                ServerKind::Bare => FileServerKind::Bare,
            },
        },
        processes: Processes {
            servers: servers.len() as u64,
            clients: clients.len() as u64,
            per_process,
            open_file_limit: limit,
        },
        connections: Connections {
            established,
            failed,
            errors: errors.clone(),
            connect_s: connect_secs,
            connect_per_s: established as f64 / connect_secs.max(1e-9),
        },
        messages: Messages {
            due,
            sent,
            answered,
            lost,
            error_replies,
            unanswered,
            not_sent_too_late: not_sent,
            answered_in_run,
            achieved_per_s: answered_in_run as f64 / duration,
            answered_per_s_with_grace: answered as f64 / run_secs,
            requested_per_s: established as f64 * rate,
        },
        per_connection: PerConnection {
            every_call_answered: fully_answered,
            some_call_not_answered: short,
            no_call_due: no_calls_due,
        },
        latency_ns: OpenLoopLatency {
            method: "per-op, open-loop (from the intended send time); calls with no reply by the run's end + 10 s, or never sent, counted at that deadline (lower bounds); failed calls (error reply, broken connection) have no latency".into(),
            count: merged.len(),
            censored,
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: merged.max(),
        },
        server_memory: ServerMemory {
            live_bytes_before: heap_before.live,
            live_bytes_idle: heap_idle.live,
            bytes_per_idle_connection: bytes_per_conn,
            rss_bytes_idle: heap_idle.rss,
            live_bytes_after_close: heap_after.live,
            sessions_after_close: heap_after.sessions,
            retained_bytes_per_connection_after_close: retained_per_conn,
            retained_note: "after every connection closed, minus before any, per connection: the session and connection tables keep their capacity and tokio its I/O slab pages for reuse, so this is an upper bound, not a leak figure (benches/memory.rs measures leaks over a second cycle); sessions_after_close must be 0".into(),
            counted: heap_idle.counted && heap_after.counted,
        },
        unfinished_clients: unfinished as u64,
    };
    let text = serde_json::to_string_pretty(&result).unwrap_or_default() + "\n";
    print!("{text}");
    let path = out.unwrap_or_else(|| {
        let name = match kind {
            ServerKind::Mcp => "connections.json",
            ServerKind::Bare => "connections-bare.json",
        };
        // The folder the report reads: $CARGO_TARGET_DIR/mcpbench, else the
        // workspace's target/mcpbench.
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let workspace = workspace.canonicalize().unwrap_or(workspace);
        mcpbench_files::results_dir(&workspace).join(name)
    });
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("mcpbench-load: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!("load: wrote {}", path.display());
    let ms = |ns: u64| ns as f64 / 1e6;
    println!(
        "load: summary: {established}/{count} connections ({failed} failed) in {connect_secs:.1} s ({:.0}/s); \
         calls due {due}, sent {sent}, answered {answered}, lost {lost} ({error_replies} error replies, {unanswered} unanswered), not sent {not_sent}; \
         {fully_answered} connections had every call answered, {short} did not; \
         {:.0} msg/s answered during the {duration} s of {:.0} requested; latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms over {} calls, {censored} of them counted at the deadline (target P99 <= 15 ms); \
         server heap {} per idle connection, RSS {:.0} MB; after every connection closed: {} sessions left, {} per connection retained",
        established as f64 / connect_secs.max(1e-9),
        answered_in_run as f64 / duration,
        established as f64 * rate,
        ms(q(0.5)),
        ms(q(0.99)),
        ms(q(0.999)),
        ms(merged.max()),
        merged.len(),
        bytes_per_conn.map_or("unknown".to_string(), |b| format!("{b:.0} B")),
        heap_idle.rss as f64 / 1e6,
        heap_after.sessions,
        retained_per_conn.map_or("unknown".to_string(), |b| format!("{b:.0} B")),
    );
    drop(clients);
    // Close the servers' stdin and let them shut down (and write flamegraphs);
    // whatever is still running after 15 s is killed when dropped.
    for s in &mut servers {
        s.stdin.take();
    }
    for s in &mut servers {
        let _ = tokio::time::timeout(Duration::from_secs(15), s.child.wait()).await;
    }
    drop(servers);
    if failed > 0
        || lost > 0
        || not_sent > 0
        || short > 0
        || established < count
        || unfinished > 0
        || answered < sent
        || heap_after.sessions > 0
        || heap_after.unreadable > 0
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The servers' `mcpbench/stats`, summed.
#[derive(Debug, Clone, Copy)]
struct StatsSum {
    /// Allocator-counted live heap bytes.
    live: i64,
    rss: u64,
    /// Every server answered and counts its allocations.
    counted: bool,
    sessions: u64,
    /// Servers whose reply was missing or malformed.
    unreadable: u64,
}

/// Asks every server for its stats over its stdin/stdout (so each server answers
/// for itself, whatever listener the kernel would pick for a new connection).
async fn ask_servers(servers: &mut [Proc]) -> StatsSum {
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
async fn stats_after_close(servers: &mut [Proc], clients: &mut [Proc]) -> StatsSum {
    for c in clients.iter_mut() {
        c.stdin.take();
        let _ = tokio::time::timeout(Duration::from_secs(10), c.child.wait()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = ask_servers(servers).await;
        if (stats.sessions == 0 && stats.unreadable == 0)
            || !stats.counted
            || Instant::now() > deadline
        {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Reads report lines from every client for up to `wait`; true when every client
/// has ended its output.
async fn poll_reports(clients: &mut [Proc], latest: &mut [ClientReport], wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    let mut ended = 0;
    for (i, c) in clients.iter_mut().enumerate() {
        loop {
            match tokio::time::timeout_at(deadline, c.lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    if let Ok(r) = serde_json::from_str::<ClientReport>(&line) {
                        let last = r.phase == "done";
                        latest[i] = r;
                        if last {
                            break;
                        }
                    }
                }
                Ok(_) => {
                    ended += 1;
                    break;
                }
                Err(_) => break,
            }
        }
    }
    ended == clients.len()
}

/// One client process: `count` connections from `source`.
async fn client(args: ClientArgs) -> ExitCode {
    let ClientArgs {
        server,
        source,
        count,
        rate,
        duration,
        connect_concurrency,
    } = args;
    let tally = Arc::new(Tally::default());
    let (go_tx, go_rx) = watch::channel::<Option<tokio::time::Instant>>(None);
    let gate = Arc::new(Semaphore::new(connect_concurrency.max(1)));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let run_for = Duration::from_secs_f64(duration);

    let mut tasks = Vec::with_capacity(count as usize);
    for k in 0..count {
        let (tally, gate, mut go) = (tally.clone(), gate.clone(), go_rx.clone());
        tasks.push(tokio::spawn(async move {
            let conn = {
                let _permit = gate.acquire().await;
                match open(server, source).await {
                    Ok(c) => c,
                    Err(e) => {
                        Tally::add(&tally.failed, 1);
                        tally.note(e);
                        return None;
                    }
                }
            };
            Tally::add(&tally.connected, 1);
            let start = loop {
                if let Some(t) = *go.borrow() {
                    break t;
                }
                if go.changed().await.is_err() {
                    return None;
                }
            };
            // Spread the connections' phases over one interval.
            let phase = interval.mul_f64((k as f64 * 0.618_033_988_7) % 1.0);
            let schedule = Schedule {
                first: start + phase,
                interval,
                end: start + run_for,
            };
            let mut conn = conn;
            calls(&mut conn, schedule, &tally).await;
            // Stays open until every connection of this process is done, so the
            // load keeps its concurrency to the end.
            Some(conn)
        }));
    }

    let say = |phase: &str| {
        println!(
            "{}",
            serde_json::to_string(&tally.report(phase)).unwrap_or_default()
        )
    };
    // Connect phase, with a progress line every second.
    loop {
        let done = tally.connected.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed);
        if done >= count {
            break;
        }
        say("connecting");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    say("connected");
    // Wait for "go" on stdin; EOF means the harness is gone: exit.
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    match stdin.next_line().await {
        Ok(Some(line)) if line.trim() == "go" => {}
        _ => return ExitCode::FAILURE,
    }
    let _ = go_tx.send(Some(tokio::time::Instant::now()));
    let all = futures_join(tasks);
    tokio::pin!(all);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let _open = loop {
        tokio::select! {
            open = &mut all => break open,
            _ = tick.tick() => say("running"),
            line = stdin.next_line() => if !matches!(line, Ok(Some(_))) { return ExitCode::FAILURE },
        }
    };
    say("done");
    ExitCode::SUCCESS
}

/// When one connection's calls are due: `first`, then every `interval`, while
/// before `end`.
#[derive(Clone, Copy)]
struct Schedule {
    first: tokio::time::Instant,
    interval: Duration,
    end: tokio::time::Instant,
}

impl Schedule {
    /// When call `n` (from 0) is due.
    fn at(&self, n: u64) -> tokio::time::Instant {
        self.first
            + self
                .interval
                .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn due(&self) -> u64 {
        if self.first >= self.end {
            return 0;
        }
        let span = self.end.duration_since(self.first).as_nanos();
        let interval = self.interval.as_nanos().max(1);
        u64::try_from(span.div_ceil(interval)).unwrap_or(u64::MAX)
    }
}

/// One connection's calls, open-loop: each is sent at its due time (or as soon as
/// the previous reply is in, when late) and its latency counts from the due time.
async fn calls(conn: &mut Client, schedule: Schedule, tally: &Tally) {
    let due = schedule.due();
    Tally::add(&tally.due, due);
    let deadline = schedule.end + GRACE;
    let mut answered = 0;
    for n in 0..due {
        let at = schedule.at(n);
        if tokio::time::Instant::now() > deadline {
            Tally::add(&tally.not_sent, due - n);
            tally.censor(&schedule, n, due, deadline);
            break;
        }
        tokio::time::sleep_until(at).await;
        let request = format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"text","arguments":{{}}}}}}"#,
            n + 1
        );
        Tally::add(&tally.sent, 1);
        match tokio::time::timeout_at(deadline, conn.call(request.as_bytes())).await {
            Ok(Ok(reply)) if memchr::memmem::find(&reply, b"\"result\":").is_some() => {
                answered += 1;
                Tally::add(&tally.answered, 1);
                let now = tokio::time::Instant::now();
                if now <= schedule.end {
                    Tally::add(&tally.answered_in_run, 1);
                }
                tally.record(now.duration_since(at).as_nanos() as u64);
            }
            Ok(Ok(reply)) => {
                Tally::add(&tally.error_replies, 1);
                tally.note(format!(
                    "error reply: {}",
                    String::from_utf8_lossy(&reply[..reply.len().min(120)])
                ));
            }
            Ok(Err(e)) => {
                Tally::add(&tally.unanswered, 1);
                Tally::add(&tally.not_sent, due - n - 1);
                tally.note(format!("connection: {e}"));
                break;
            }
            Err(_) => {
                Tally::add(&tally.unanswered, 1);
                Tally::add(&tally.not_sent, due - n - 1);
                tally.censor(&schedule, n, due, deadline);
                tally.note(format!("no reply by the run's end + {} s", GRACE.as_secs()));
                break;
            }
        }
    }
    let outcome = match due {
        0 => &tally.no_calls_due,
        _ if answered == due => &tally.fully_answered,
        _ => &tally.short,
    };
    Tally::add(outcome, 1);
}

/// Awaits every task; returns what they returned (a task that panicked counts as
/// `None`).
async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<Option<T>>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(Some(v)) = t.await {
            out.push(v);
        }
    }
    out
}

/// An unconnected TCP socket bound to `source` with `IP_BIND_ADDRESS_NO_PORT`: the
/// kernel picks the port at `connect`, by the whole 4-tuple. A plain `bind(source:0)`
/// reserves a port at bind time and checks it against every socket bound to that
/// address, TIME_WAIT ones included: measured here, 95% of the CPU during the connect
/// phase and ~300 connects/s once a previous run's 46,000 TIME_WAIT sockets linger
/// (`perf record -a`: `inet_bhash2_conflict`, `inet_bind2_bucket_match_addr_any`).
fn bind_source(source: IpAddr) -> std::io::Result<tokio::net::TcpSocket> {
    use std::os::fd::AsRawFd;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(SocketAddr::new(source, 0)),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, a pointer to a c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    Ok(tokio::net::TcpSocket::from_std_stream(socket.into()))
}

/// Connects from `source`, then `initialize` and `notifications/initialized`.
async fn open(server: SocketAddr, source: IpAddr) -> Result<Client, String> {
    let socket = bind_source(source).map_err(|e| format!("bind {source}: {}", e.kind()))?;
    let stream = socket
        .connect(server)
        .await
        .map_err(|e| format!("connect: {}", e.kind()))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let mut c = Client::from_stream(stream, 1 << 20);
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpbench-load","version":"1"}}}"#;
    let reply = c
        .call(init.as_bytes())
        .await
        .map_err(|e| format!("initialize: {e}"))?;
    if memchr::memmem::find(&reply, b"\"result\":").is_none() {
        return Err(format!(
            "initialize refused: {}",
            String::from_utf8_lossy(&reply)
        ));
    }
    c.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .map_err(|e| e.to_string())?;
    c.flush().await.map_err(|e| format!("initialized: {e}"))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(first_ms: u64, interval_ms: u64, end_ms: u64) -> Schedule {
        let t0 = tokio::time::Instant::now();
        Schedule {
            first: t0 + Duration::from_millis(first_ms),
            interval: Duration::from_millis(interval_ms),
            end: t0 + Duration::from_millis(end_ms),
        }
    }

    #[test]
    fn limits_say_which_one_is_short() {
        assert_eq!(
            limits_allow(100_000, 14_286, Some("2466170\n"), Some("32768\t60999\n")),
            Ok(())
        );
        let files = limits_allow(100_000, 14_286, Some("150000\n"), None).unwrap_err();
        assert!(files.contains("fs.file-max is 150000"), "{files}");
        let ports = limits_allow(100_000, 14_286, None, Some("50000 60000")).unwrap_err();
        assert!(ports.contains("has 10001"), "{ports}");
        assert_eq!(
            limits_allow(100_000, 14_286, Some("garbage"), Some("")),
            Ok(()),
            "unreadable limits are not checked"
        );
    }

    #[test]
    fn calls_without_a_reply_count_at_the_deadline() {
        let s = schedule(0, 1000, 3000);
        let deadline = s.end + Duration::from_secs(2);
        let tally = Tally::default();
        tally.record(1_000_000);
        tally.censor(&s, 1, 3, deadline);
        let r = tally.report("done");
        assert_eq!(r.censored, 2);
        let samples: Vec<(u64, u64)> = r.latency;
        assert_eq!(
            samples.iter().map(|(_, n)| n).sum::<u64>(),
            3,
            "every call is a sample"
        );
        let max = samples.iter().map(|(v, _)| *v).max().unwrap();
        // Call 1 was due at 1 s: 4 s before the deadline (3 significant digits).
        assert!((3_990_000_000..=4_010_000_000).contains(&max), "{max}");
    }

    #[test]
    fn calls_due_are_those_before_the_end() {
        assert_eq!(schedule(0, 1000, 3000).due(), 3, "0, 1, 2 s");
        assert_eq!(schedule(500, 1000, 3000).due(), 3, "0.5, 1.5, 2.5 s");
        assert_eq!(schedule(2900, 1000, 3000).due(), 1, "2.9 s");
        assert_eq!(
            schedule(3000, 1000, 3000).due(),
            0,
            "due at the end is after it"
        );
        assert_eq!(schedule(0, 100, 1000).due(), 10, "10 msg/s for 1 s");
    }
}

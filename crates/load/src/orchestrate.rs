//! `mcpbench-load connections`: the harness, one function per phase: lay out the
//! processes, start the servers, start the clients, connect, run, close, merge,
//! write the result, print the summary, apply the exit policy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use mcpbench_files::{
    ConnectionsFile, Processes, ServerKind as FileServerKind, ServerMemory, ServerRss,
};

use crate::cli::{Plan, ServerKind, ShardSpec, StartAt, TransportKind};
use crate::counters::{ClientReport, Phase};
use crate::error::LoadError;
use crate::output::{default_dir, shard_file, summary, verdict, write_file};
use crate::procs::{Binaries, Proc, StatsSum, ask_servers, poll_reports, stats_after_close, tell};
use crate::schedule::GRACE;
use crate::socket::{PER_PROCESS, open_file_limit, system_limits_allow};
use crate::target::Target;
use crate::wire::ToChild;

/// How many processes of each kind, and how many connections each.
struct Layout {
    limit: u64,
    per_process: u64,
    processes: u64,
}

/// Runs the whole load; the exit code is the verdict.
pub async fn run(plan: Plan, bins: Binaries) -> ExitCode {
    match run_connections(&plan, &bins).await {
        Ok(result) => verdict(&result),
        Err(e) => {
            eprintln!("mcpbench-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs `plan`: lays out the processes, starts the servers (unless `--target`)
/// and the client shards (`bins.load connections --shard K/N`), connects, calls,
/// closes, merges the shards, writes the result (and prints it with its summary)
/// and returns it. Whether the run passed is [`crate::verdict::failures`] of it.
pub async fn run_connections(plan: &Plan, bins: &Binaries) -> Result<ConnectionsFile, LoadError> {
    let layout = lay_out(plan.count, plan.processes)?;
    let (target, mut servers) = match &plan.target {
        Some(target) => (target.clone(), Vec::new()),
        None => {
            let server_bin = &bins.server;
            if !server_bin.exists() {
                return Err(LoadError::NotInstalled {
                    name: "mcpbench-server",
                    missing: server_bin.clone(),
                    hint: "build it: cargo build --release -p mcpbench-server",
                });
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("no free port: {e}"))?
                .port();
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
            let target = match plan.transport {
                TransportKind::Tcp => Target::Tcp { addr },
                TransportKind::Http => Target::Http {
                    addr,
                    authority: addr.to_string(),
                    path: "/mcp".into(),
                },
            };
            announce(plan, &layout, &target);
            let servers = start_servers(plan, &layout, server_bin, addr).await?;
            (target, servers)
        }
    };
    if plan.target.is_some() {
        announce(plan, &layout, &target);
        println!(
            "load: --target given: starting no server; the server's memory and sessions cannot be read"
        );
    }

    // Each server answers for itself on its stdin/stdout: a new connection through
    // the shared port would reach whichever listener the kernel picks.
    let rss = || plan.server_pid.and_then(mcpbench_alloc::rss_bytes_of);
    let rss_before = rss();
    let heap_before = ask_servers(&mut servers).await;
    let dir = shard_dir(plan);
    let mut clients = start_shards(plan, &layout, &bins.load, &target, &dir).await?;
    let connected = connect(&mut clients, plan.count).await;
    let heap_idle = ask_servers(&mut servers).await;
    let rss_idle = rss();
    if let Some(latest) = connected {
        calls(&mut clients, latest, plan.duration).await;
    }
    println!(
        "load: {} every connection",
        if plan.abandon {
            "closing (sessions abandoned, no DELETE)"
        } else {
            "ending the sessions and closing"
        }
    );
    let heap_after = stats_after_close(&mut servers, &mut clients, !plan.abandon).await;
    let rss_after = rss();

    // The same merge as `mcpbench-load merge`, of the shards' files (one that is
    // absent is named by the merge: "shard K of N missing").
    let files: Vec<PathBuf> = (0..clients.len())
        .map(|k| shard_file(&dir, k as u64))
        .filter(|f| f.exists())
        .collect();
    let shards = crate::merge::read(&files)?;
    let mut result = crate::merge::merge(&shards)?;
    result.requested.server = match (&plan.target, plan.server) {
        (Some(_), _) => FileServerKind::External,
        (None, ServerKind::Mcp) => FileServerKind::Mcp,
        (None, ServerKind::Bare) => FileServerKind::Bare,
    };
    result.processes = Processes {
        servers: servers.len() as u64,
        clients: clients.len() as u64,
        per_process: layout.per_process,
        open_file_limit: layout.limit,
    };
    result.server_memory = (!servers.is_empty())
        .then(|| server_memory(plan, &result, [heap_before, heap_idle, heap_after]));
    // RSS of the server named with --server-pid, or of the servers we started
    // (summed from their stats replies; 0 from one that cannot read it).
    let rss = match (plan.server_pid, rss_before, rss_idle, rss_after) {
        (Some(pid), Some(before), Some(idle), Some(after)) => Some((pid, 1, [before, idle, after])),
        _ if !servers.is_empty() && heap_before.rss > 0 => Some((
            servers[0].child.id().unwrap_or(0),
            servers.len() as u64,
            [heap_before.rss, heap_idle.rss, heap_after.rss],
        )),
        _ => None,
    };
    let established = result.connections.established;
    result.server_rss = rss.map(|(pid, processes, [before, idle, after])| {
        let per =
            |v: u64| (established > 0).then(|| (v as f64 - before as f64) / established as f64);
        ServerRss {
            pid,
            before,
            idle,
            after,
            per_connection_idle: per(idle),
            per_connection_after: per(after),
            processes,
        }
    });
    let path = result_path(plan);
    write_file(&path, &result)?;
    println!("load: wrote {}", path.display());
    println!("{}", summary(&result));
    drop(clients);
    stop_servers(servers).await;
    Ok(result)
}

/// Where this run's shards write their files: beside the result, in a folder of
/// its own (emptied first, so a file of an earlier run is never merged).
fn shard_dir(plan: &Plan) -> PathBuf {
    let out = result_path(plan);
    let stem = out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("connections");
    let dir = out.with_file_name(format!("{stem}.shards"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// As many server and client processes as the open-file limit needs.
/// At least `at_least` of each (never more processes than connections).
fn lay_out(count: u64, at_least: u64) -> Result<Layout, LoadError> {
    let limit = open_file_limit().unwrap_or(1024);
    let per_process = PER_PROCESS.min(limit.saturating_sub(200)).max(1);
    let processes = count.div_ceil(per_process).max(at_least.min(count));
    if processes > 250 {
        return Err(LoadError::Run(format!(
            "{count} connections would need {processes} processes of {per_process}; refusing (source addresses 127.0.0.2-251)"
        )));
    }
    system_limits_allow(count, count.div_ceil(processes))
        .map_err(|why| format!("cannot run {count} connections here: {why}"))?;
    Ok(Layout {
        limit,
        per_process,
        processes,
    })
}

fn announce(plan: &Plan, l: &Layout, target: &Target) {
    let server = match (&plan.target, plan.server) {
        (Some(_), _) => "a server this run did not start",
        (None, ServerKind::Mcp) => "mcpbench-server",
        (None, ServerKind::Bare) => match plan.transport {
            TransportKind::Tcp => {
                "the bare ceiling (mcpbench-server --bare: a plain tokio loop, no MCP)"
            }
            TransportKind::Http => {
                "the bare HTTP ceiling (mcpbench-server --bare --transport http: plain hyper, no MCP)"
            }
        },
    };
    let servers = if plan.target.is_some() {
        String::new()
    } else {
        format!(
            "{} server process(es) sharing the port (SO_REUSEPORT) and ",
            l.processes
        )
    };
    println!(
        "load: {} connections, {} calls/s each of {}({}) for {} s, against {server} at {target}{}. Open-file limit {} per process: \
         {servers}{} client process(es) from 127.0.0.2..127.0.0.{}, ≤ {} connections each.",
        plan.count,
        plan.rate,
        plan.tool,
        plan.arguments,
        plan.duration,
        if target.is_http() {
            format!(", protocol {}", plan.protocol.name())
        } else {
            String::new()
        },
        l.limit,
        l.processes,
        l.processes + 1,
        l.per_process
    );
}

/// Starts one server process per layout slot, all on `addr`; each must say
/// "ready" within 10 s.
async fn start_servers(
    plan: &Plan,
    l: &Layout,
    bin: &Path,
    addr: SocketAddr,
) -> Result<Vec<Proc>, LoadError> {
    let mut servers = Vec::new();
    for k in 0..l.processes {
        let mut args: Vec<String> = vec![
            "--listen".into(),
            addr.to_string(),
            "--reuse-port".into(),
            "--result-size".into(),
            plan.size.to_string(),
            "--threads".into(),
            "1".into(),
            "--exit-on-stdin-eof".into(),
        ];
        if plan.server == ServerKind::Bare {
            args.push("--bare".into());
        }
        if plan.transport == TransportKind::Http {
            args.extend(["--transport".into(), "http".into()]);
        }
        if let Some(f) = &plan.flamegraph {
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
        let mut p = Proc::spawn(format!("server {k}"), bin, &args)
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        match tokio::time::timeout(Duration::from_secs(10), p.lines.next_line()).await {
            Ok(Ok(Some(line))) if line.contains("ready") => servers.push(p),
            other => {
                return Err(LoadError::Run(format!(
                    "server {k} did not start: {other:?}"
                )));
            }
        }
    }
    Ok(servers)
}

/// Starts the shards: N local processes of `mcpbench-load child`, each sent its
/// plan ([`ToChild::Plan`]: the run's plan as shard K/N, from its own source
/// address with an even share, writing its file into `dir`). A process with more
/// connections than the others falls behind first: each is one thread with an
/// equal share of the CPU.
async fn start_shards(
    plan: &Plan,
    l: &Layout,
    exe: &Path,
    target: &Target,
    dir: &Path,
) -> Result<Vec<Proc>, LoadError> {
    let mut shards = Vec::new();
    for k in 0..l.processes {
        let mut p =
            Proc::spawn(format!("shard {k}"), exe, &["child".to_string()]).map_err(|source| {
                LoadError::Spawn {
                    program: exe.to_path_buf(),
                    source,
                }
            })?;
        let shard = Plan {
            target: Some(target.clone()),
            shard: Some(ShardSpec {
                index: k,
                of: l.processes,
            }),
            go_on_stdin: true,
            start_at: None,
            source: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, (k + 2) as u8))),
            out: Some(shard_file(dir, k)),
            processes: 1,
            server_pid: None,
            flamegraph: None,
            ..plan.clone()
        };
        let line = ToChild::Plan {
            plan: Box::new(shard),
        }
        .line()?;
        tell(std::slice::from_mut(&mut p), line.trim_end()).await;
        shards.push(p);
    }
    Ok(shards)
}

/// Waits for every shard to report "connected", with a progress line each second;
/// stops early when a shard process ends (it can only end early by failing:
/// `None`, there is nothing to start) or after 60 s + 10 ms per connection.
async fn connect(clients: &mut [Proc], count: u64) -> Option<Vec<ClientReport>> {
    let start = Instant::now();
    let mut latest: Vec<ClientReport> = vec![ClientReport::default(); clients.len()];
    let deadline = start + Duration::from_secs(60 + count / 100);
    loop {
        let ended = poll_reports(clients, &mut latest, Duration::from_secs(1)).await;
        let (c, f) = latest.iter().fold((0, 0), |a, r| {
            (a.0 + r.counters.connected, a.1 + r.counters.failed)
        });
        let secs = start.elapsed().as_secs_f64();
        println!(
            "load: connecting {c}/{count} ({:.0}/s), failed {f}, {secs:.0} s",
            c as f64 / secs.max(1e-9)
        );
        if latest.iter().all(|r| r.phase == Phase::Connected) {
            break;
        }
        if ended > 0 {
            eprintln!("mcpbench-load: {ended} shard process(es) ended during the connect phase");
            return None;
        }
        if Instant::now() > deadline {
            eprintln!("mcpbench-load: connect phase exceeded its time limit");
            break;
        }
    }
    Some(latest)
}

/// Gives every shard the common start (now + 0.2 s) and follows the run with a
/// progress line each second, until every shard is done (or the run's end + twice
/// the grace + 10 s).
async fn calls(clients: &mut [Proc], mut latest: Vec<ClientReport>, duration: f64) {
    let at = StartAt(SystemTime::now() + Duration::from_millis(200));
    match (ToChild::Go { at }).line() {
        Ok(line) => tell(clients, line.trim_end()).await,
        // An instant always serializes; were it not to, stdin closes and every
        // shard ends, saying it got no start.
        Err(e) => eprintln!("mcpbench-load: {e}"),
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(duration) + 2 * GRACE + Duration::from_secs(10);
    loop {
        let ended = poll_reports(clients, &mut latest, Duration::from_secs(1)).await;
        let (s, a) = latest.iter().fold((0, 0), |x, r| {
            (x.0 + r.counters.sent, x.1 + r.counters.answered)
        });
        println!(
            "load: {:.0} s / {duration} s, sent {s}, answered {a}",
            start.elapsed().as_secs_f64()
        );
        if latest.iter().all(|r| r.phase == Phase::Done)
            || ended == clients.len()
            || Instant::now() > deadline
        {
            break;
        }
    }
}

/// What the servers this run started held: heap before, idle and after close.
fn server_memory(plan: &Plan, r: &ConnectionsFile, heap: [StatsSum; 3]) -> ServerMemory {
    let [before, idle, after] = heap;
    let connected = r.connections.established;
    let per_conn =
        |live: i64| (connected > 0).then(|| (live - before.live) as f64 / connected as f64);
    ServerMemory {
        live_bytes_before: before.live,
        live_bytes_idle: idle.live,
        bytes_per_idle_connection: per_conn(idle.live),
        rss_bytes_idle: idle.rss,
        live_bytes_after_close: after.live,
        sessions_after_close: after.sessions,
        retained_bytes_per_connection_after_close: per_conn(after.live),
        retained_note: if plan.abandon {
            "sessions abandoned (no DELETE): after every connection closed, minus before any, per connection: what the server holds for a session whose client is gone (tables keep capacity too, so an upper bound)".into()
        } else {
            "after every session ended and connection closed, minus before any, per connection: the session and connection tables keep their capacity and tokio its I/O slab pages for reuse, so this is an upper bound, not a leak figure (benches/memory.rs measures leaks over a second cycle); sessions_after_close must be 0".into()
        },
        counted: idle.counted && after.counted,
        servers_unreadable: before.unreadable.max(idle.unreadable).max(after.unreadable),
    }
}

/// Where the result goes: `--out`, else [`default_dir`] / [`default_name`].
fn result_path(plan: &Plan) -> PathBuf {
    plan.out
        .clone()
        .unwrap_or_else(|| default_dir().join(default_name(plan)))
}

/// The result's file name when `--out` is not given.
fn default_name(plan: &Plan) -> &'static str {
    match (&plan.target, plan.transport, plan.server) {
        (Some(_), _, _) => "connections-target.json",
        (None, TransportKind::Tcp, ServerKind::Mcp) => "connections.json",
        (None, TransportKind::Tcp, ServerKind::Bare) => "connections-bare.json",
        (None, TransportKind::Http, ServerKind::Mcp) => "connections-http.json",
        (None, TransportKind::Http, ServerKind::Bare) => "connections-http-bare.json",
    }
}

/// Closes the servers' stdin and lets them shut down (and write flamegraphs);
/// whatever still runs after 15 s is killed when dropped.
async fn stop_servers(mut servers: Vec<Proc>) {
    for s in &mut servers {
        s.stdin.take();
    }
    for s in &mut servers {
        let _ = tokio::time::timeout(Duration::from_secs(15), s.child.wait()).await;
    }
}

//! `listen` over several processes: one process holds at most 15,000 listeners
//! (20,000 open files), so N listeners are split over client processes (this
//! binary as `listen --child`, each from its own source address 127.0.0.K) and,
//! without --target, as many `mcpbench-server` processes on one port
//! (`SO_REUSEPORT`) sharing one event bus (`--event-bus`: an update published
//! by whichever process the trigger reached goes to the streams of all). This
//! process triggers and makes the control calls; each child reports `Ready`, then on `ListenStop`
//! its `Done` part (typed JSON lines, `mcpbench_files::listen`); the parts'
//! histograms are added exactly.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use mcpbench_files::listen::{ListenChildLine, ListenFile, ListenPart, ListenServer, ListenStop};
use mcpbench_files::scenario::ErrorCount;
use mcpbench_files::shard::decode_histogram;
use mcpbench_server::redis_bus::LocalRedis;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use super::listeners::{Endpoint, Listeners};
use super::{announce, cost, drive, file, trigger_connection, triggering};
use crate::cli::{Bus, ListenPlan};
use crate::counters::histogram;
use crate::cpu::{process_cpu, self_cpu};
use crate::error::LoadError;
use crate::peers::PeerName;
use crate::procs::{Binaries, Proc, ask_servers, tell};
use crate::target::Target;

/// Longest a child may take to open its listeners.
const OPEN_LIMIT: Duration = Duration::from_secs(600);

/// Runs `plan` over `processes` client processes (and server processes, unless
/// --target).
pub(super) async fn run_fleet(
    plan: &ListenPlan,
    bins: &Binaries,
    processes: u64,
) -> Result<ListenFile, LoadError> {
    let result = fleet(plan, bins, processes).await;
    // The servers are gone (killed when dropped): their sockets stay behind.
    let _ = std::fs::remove_dir_all(bus_dir());
    result
}

async fn fleet(
    plan: &ListenPlan,
    bins: &Binaries,
    processes: u64,
) -> Result<ListenFile, LoadError> {
    let mut servers = Vec::new();
    // Kept until the run ends (stopped when dropped).
    let mut _redis = None;
    let target = match &plan.target {
        Some(t) => t.clone(),
        None => {
            if plan.server != PeerName::Mcpbench {
                return Err(LoadError::Plan(format!(
                    "--server {} over {processes} processes: only mcpbench shares updates \
                     between processes (--event-bus); run bare with fewer than 15,000 listeners",
                    plan.server
                )));
            }
            let bus = match plan.bus {
                Bus::Host => {
                    let dir = bus_dir();
                    let _ = std::fs::remove_dir_all(&dir);
                    dir.display().to_string()
                }
                Bus::Redis => {
                    let redis = tokio::task::spawn_blocking(LocalRedis::start)
                        .await
                        .map_err(|e| LoadError::Run(format!("starting redis-server: {e}")))?
                        .map_err(|e| LoadError::Run(format!("--bus redis: {e}")))?;
                    let url = redis.url();
                    _redis = Some(redis);
                    url
                }
            };
            let (target, started) = start_servers(plan, bins, processes, &bus).await?;
            servers = started;
            target
        }
    };
    let endpoint = Endpoint::of(&target, plan, None)?;
    let mut trigger = trigger_connection(&endpoint, &target).await?;
    let before = (!servers.is_empty()).then_some(ask_servers(&mut servers).await);
    announce(plan, &target);
    let opening = Instant::now();
    let mut children = start_children(plan, bins, processes, &target)?;
    let (mut held, mut failed) = (0, 0);
    for child in &mut children {
        match tokio::time::timeout(OPEN_LIMIT, next_line(child)).await {
            Ok(Some(ListenChildLine::Ready {
                listeners,
                failed: f,
            })) => {
                held += listeners;
                failed += f;
            }
            other => {
                return Err(LoadError::Run(format!(
                    "{}: no ready line within {OPEN_LIMIT:?}: {other:?}",
                    child.name
                )));
            }
        }
    }
    let open_s = opening.elapsed().as_secs_f64();
    let at_held = (!servers.is_empty()).then_some(ask_servers(&mut servers).await);
    triggering(plan, held, failed, open_s);
    let start = Instant::now() + Duration::from_millis(50);
    let pids = |procs: &[Proc]| {
        procs
            .iter()
            .filter_map(|p| p.child.id())
            .collect::<Vec<_>>()
    };
    let (server_pids, child_pids) = (pids(&servers), pids(&children));
    let cpu_of = |pids: &[u32]| {
        pids.iter()
            .filter_map(|p| process_cpu(*p))
            .sum::<Duration>()
    };
    let cpu = (self_cpu() + cpu_of(&child_pids), Some(cpu_of(&server_pids)));
    let failures = Mutex::new(BTreeMap::<String, u64>::new());
    let fail = |why: String| {
        *failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(why)
            .or_default() += 1;
    };
    let driven = drive::drive(plan, &endpoint, &mut trigger, &fail, start).await;
    // The children cannot be asked how far they are: the grace period is waited
    // whole.
    tokio::time::sleep(Duration::from_secs_f64(plan.grace)).await;
    let mut cost = cost(start, (Duration::ZERO, None), None);
    cost.generator_cpu_s = (self_cpu() + cpu_of(&child_pids))
        .saturating_sub(cpu.0)
        .as_secs_f64();
    cost.server_cpu_s = (!server_pids.is_empty()).then(|| {
        cpu_of(&server_pids)
            .saturating_sub(cpu.1.unwrap_or_default())
            .as_secs_f64()
    });
    let after = (!servers.is_empty()).then_some(ask_servers(&mut servers).await);
    let stop = serde_json::to_string(&ListenStop {
        acked: driven.acked,
    })
    .unwrap_or_default();
    tell(&mut children, &stop).await;
    let mut parts = Vec::new();
    for child in &mut children {
        match tokio::time::timeout(Duration::from_secs(60), next_line(child)).await {
            Ok(Some(ListenChildLine::Done(part))) => parts.push(part),
            other => {
                return Err(LoadError::Run(format!(
                    "{}: no result within 60 s of being stopped: {other:?}",
                    child.name
                )));
            }
        }
    }
    let (mut part, delivery) = merge(&parts)?;
    for (why, count) in failures.into_inner().unwrap_or_else(|p| p.into_inner()) {
        part.failures.push(ErrorCount { why, count });
    }
    let server = match (before, at_held, after) {
        (Some(b), Some(h), Some(a)) => Some(ListenServer {
            heap_per_listener_bytes: (b.counted && h.counted && part.listeners > 0)
                .then(|| (h.live - b.live) as f64 / part.listeners as f64),
            rss_bytes: Some(h.rss),
            listeners: h.listeners,
            lagged: a.listeners_lagged,
            events_published: a.events_published,
        }),
        _ => None,
    };
    Ok(file(
        plan, &target, part, &delivery, open_s, driven, server, cost,
    ))
}

/// The event bus folder of this run's servers (`--bus host`; in the temporary
/// folder: a Unix socket's path has at most 107 bytes).
fn bus_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mcpbench-listen-bus-{}", std::process::id()))
}

/// The next typed line of a child; its other lines (progress) are echoed.
async fn next_line(child: &mut Proc) -> Option<ListenChildLine> {
    while let Ok(Some(line)) = child.lines.next_line().await {
        match serde_json::from_str::<ListenChildLine>(&line) {
            Ok(typed) => return Some(typed),
            Err(_) => println!("{}: {line}", child.name),
        }
    }
    None
}

/// `processes` mcpbench-server processes on one free loopback port, sharing the
/// event bus `bus` (a folder or a Redis URL), one thread each (as `connections`
/// runs them).
async fn start_servers(
    plan: &ListenPlan,
    bins: &Binaries,
    processes: u64,
    bus: &str,
) -> Result<(Target, Vec<Proc>), LoadError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| LoadError::Run(format!("no free port: {e}")))?
        .port();
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let mut servers = Vec::new();
    for k in 0..processes {
        let mut args: Vec<String> = [
            "--transport",
            "http",
            "--listen",
            &addr.to_string(),
            "--reuse-port",
            "--threads",
            "1",
            "--exit-on-stdin-eof",
            "--event-bus",
            bus,
        ]
        .map(String::from)
        .to_vec();
        args.extend(plan.server_arg_list());
        let mut p = Proc::spawn(format!("server {k}"), &bins.server, &args).map_err(|source| {
            LoadError::Spawn {
                program: bins.server.clone(),
                source,
            }
        })?;
        match tokio::time::timeout(Duration::from_secs(10), p.lines.next_line()).await {
            Ok(Ok(Some(line))) if line.contains("ready") => servers.push(p),
            other => {
                return Err(LoadError::Run(format!(
                    "server {k} did not start: {other:?}"
                )));
            }
        }
    }
    let target = format!("http://{addr}/mcp")
        .parse()
        .map_err(|e| LoadError::Run(format!("{addr}: {e}")))?;
    Ok((target, servers))
}

/// The client processes: `listen --child`, an even share each, from 127.0.0.2,
/// 127.0.0.3, ... (each source address has its own ~28,000 ports).
fn start_children(
    plan: &ListenPlan,
    bins: &Binaries,
    processes: u64,
    target: &Target,
) -> Result<Vec<Proc>, LoadError> {
    let mut children = Vec::new();
    for k in 0..processes {
        let count = plan.count / processes + u64::from(k < plan.count % processes);
        // Loopback targets: each child from its own address (its own ports).
        let source = target
            .addr()
            .ip()
            .is_loopback()
            .then(|| Ipv4Addr::new(127, 0, 0, 2 + k as u8));
        let args: Vec<String> = [
            "listen".to_string(),
            "--child".into(),
            "--target".into(),
            target.to_string(),
            "--count".into(),
            count.to_string(),
            "--protocol".into(),
            plan.protocol.name().into(),
            "--uri".into(),
            plan.uri.clone(),
            "--connect-concurrency".into(),
            plan.connect_concurrency.to_string(),
        ]
        .to_vec();
        let mut args = args;
        if let Some(ip) = source {
            args.extend(["--source".into(), ip.to_string()]);
        }
        children.push(
            Proc::spawn(format!("listeners {k}"), &bins.load, &args).map_err(|source| {
                LoadError::Spawn {
                    program: bins.load.clone(),
                    source,
                }
            })?,
        );
    }
    Ok(children)
}

/// The parts of every child as one: counts summed, failures by reason, the
/// histograms added bucket by bucket.
fn merge(parts: &[ListenPart]) -> Result<(ListenPart, hdrhistogram::Histogram<u64>), LoadError> {
    let mut h = histogram();
    let mut failures = BTreeMap::<String, u64>::new();
    let mut sum = ListenPart {
        listeners: 0,
        failed: 0,
        failures: Vec::new(),
        delivered: 0,
        missed: 0,
        ended: 0,
        histogram: String::new(),
    };
    for (k, p) in parts.iter().enumerate() {
        let part = decode_histogram(&p.histogram, &format!("listeners {k}"))
            .map_err(|e| LoadError::Run(format!("listeners {k}'s result: {}", e.0)))?;
        h.add(part)
            .map_err(|e| LoadError::Run(format!("listeners {k}: histogram: {e}")))?;
        sum.listeners += p.listeners;
        sum.failed += p.failed;
        sum.delivered += p.delivered;
        sum.missed += p.missed;
        sum.ended += p.ended;
        for f in &p.failures {
            *failures.entry(f.why.clone()).or_default() += f.count;
        }
    }
    sum.failures = failures
        .into_iter()
        .map(|(why, count)| ErrorCount { why, count })
        .collect();
    sum.failures.sort_by_key(|f| std::cmp::Reverse(f.count));
    sum.histogram = mcpbench_files::shard::encode_histogram(&h);
    Ok((sum, h))
}

/// `listen --child`: holds `plan.count` listeners on `plan.target` from
/// `plan.source`; prints `Ready`, waits for `ListenStop` on stdin, prints
/// `Done` with what its listeners got.
pub async fn run_child(plan: ListenPlan) -> ExitCode {
    let Some(target) = plan.target.clone() else {
        eprintln!("mcpbench-load: listen --child needs --target");
        return ExitCode::from(2);
    };
    let endpoint = match Endpoint::of(&target, &plan, plan.source) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mcpbench-load: {e}");
            return ExitCode::from(2);
        }
    };
    let listeners =
        Listeners::open(&endpoint, &plan.uri, plan.count, plan.connect_concurrency).await;
    let say =
        |line: &ListenChildLine| println!("{}", serde_json::to_string(line).unwrap_or_default());
    say(&ListenChildLine::Ready {
        listeners: listeners.held,
        failed: listeners.failed,
    });
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let stop = match stdin.next_line().await {
        Ok(Some(line)) => match mcpbench_files::parse::<ListenStop>(&line, "the stop line") {
            Ok(stop) => stop,
            Err(e) => {
                eprintln!("mcpbench-load: {e}");
                return ExitCode::from(2);
            }
        },
        // The parent is gone: nothing to report to.
        _ => return ExitCode::FAILURE,
    };
    let (part, _) = listeners.finish(stop.acked).await;
    say(&ListenChildLine::Done(part));
    let _ = tokio::io::stdout().flush().await;
    ExitCode::SUCCESS
}

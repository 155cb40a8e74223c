//! `mcpbench-load listen`: N server-to-client streams held open against an MCP
//! server (ours started, or any at `--target` with a `touch` tool), resource
//! updates triggered at a rate through the server's own API, and every delivery
//! timed.
//!
//! Phases: start the server (unless `--target`); read its heap
//! (`mcpbench/stats`, servers of this project); open every listener
//! (`subscriptions/listen`, acknowledged first; or `resources/subscribe` and the
//! GET stream), `--connect-concurrency` at a time; read the heap again; trigger
//! `--events` per second for `--duration` s (`touch` with the trigger's due time
//! as its `stamp`: open-loop), with `ping`s on a control connection meanwhile;
//! wait until every delivery is in or `--grace` s have passed; write
//! `listen.json` and a summary line. Exit 1 when a listener could not be opened,
//! a trigger failed, or a delivery was missed; 2 for a bad plan; 3 when the
//! server could not be reached.
//!
//! Delivery latency is measured from each trigger's due time (not its send
//! time: a late trigger counts its lateness) to each listener's receipt, on
//! this process's monotonic clock: the stamp is the due time in nanoseconds
//! since the run's start, so no wall clock is compared.

pub mod stream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use mcpbench_files::listen::{LISTEN_SCHEMA, ListenCost, ListenFile, ListenServer};
use mcpbench_files::scenario::{ErrorCount, percentiles};
use mcpbench_files::shard::encode_histogram;
use mcpbench_files::{ServerStats, results_dir};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cli::{ListenPlan, Protocol};
use crate::client_error::ClientError;
use crate::counters::histogram;
use crate::cpu::{process_cpu, self_cpu};
use crate::error::LoadError;
use crate::http_client::HttpMcp;
use crate::peers::{PeerPaths, peer};
use crate::procs::{Binaries, Running};
use crate::schedule::wait_until_due;
use crate::target::Target;
use stream::{Seen, SseReader};

/// Runs `plan`, writes its file and prints its summary; the exit code is the
/// verdict.
pub async fn run(plan: ListenPlan, bins: Binaries) -> ExitCode {
    match run_listen(&plan, &bins).await {
        Ok(file) => {
            let path = plan
                .out
                .clone()
                .unwrap_or_else(|| results_dir(&PathBuf::from(".")).join("listen/listen.json"));
            if let Err(e) = mcpbench_files::write_json(&path, &file, false) {
                eprintln!("mcpbench-load: {e}");
                return ExitCode::from(2);
            }
            println!("listen: {}", summary(&file));
            println!("listen: result in {}", path.display());
            match failures(&file) {
                None => ExitCode::SUCCESS,
                Some(why) => {
                    eprintln!("mcpbench-load: FAILED: {why}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e @ LoadError::Unreachable(_)) => {
            eprintln!("mcpbench-load: {e}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("mcpbench-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// What fails a listen run, or `None`.
pub fn failures(f: &ListenFile) -> Option<String> {
    let mut why = Vec::new();
    if f.failed > 0 {
        why.push(format!(
            "{} of {} listeners not opened",
            f.failed, f.requested
        ));
    }
    if f.trigger_errors > 0 {
        why.push(format!("{} triggers failed", f.trigger_errors));
    }
    if f.missed > 0 {
        why.push(format!("{} of {} deliveries missed", f.missed, f.expected));
    }
    if f.control_errors > 0 {
        why.push(format!("{} control calls failed", f.control_errors));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// The one-line summary.
pub fn summary(f: &ListenFile) -> String {
    let ms = |ns: u64| ns as f64 / 1e6;
    let us = |v: Option<f64>| v.map_or_else(|| "not read".to_string(), |v| format!("{v:.1} us"));
    let heap = f
        .server
        .as_ref()
        .and_then(|s| s.heap_per_listener_bytes)
        .map_or_else(
            || "heap not read".into(),
            |b| format!("{b:.0} B heap per listener"),
        );
    format!(
        "{}: {}/{} listeners held ({} failed, opened in {:.1} s, {heap}); {} events of {} at {}/s; \
         deliveries {} of {} ({} missed, {} streams ended early); delivery p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms; control ping p99 {:.2} ms; trigger p99 {:.2} ms; CPU per \
         delivery: generator {}, server {}",
        f.name,
        f.listeners,
        f.requested,
        f.failed,
        f.open_s,
        f.events,
        f.events + f.trigger_errors,
        f.events_per_s,
        f.delivered,
        f.expected,
        f.missed,
        f.streams_ended,
        ms(f.delivery_ns.p50),
        ms(f.delivery_ns.p99),
        ms(f.delivery_ns.max),
        ms(f.control_ns.p99),
        ms(f.trigger_ns.p99),
        us(f.cost.generator_us_per_delivery),
        us(f.cost.server_us_per_delivery),
    )
}

/// What every listener task shares.
struct Shared {
    /// The run's clock: stamps are nanoseconds since this instant.
    epoch: Instant,
    uri: String,
    delivery: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    /// Woken at each delivery: the end of the run waits on it.
    progress: Notify,
    failures: Mutex<BTreeMap<String, u64>>,
    ended: AtomicU64,
}

impl Shared {
    fn fail(&self, why: String) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *f.entry(why).or_default() += 1;
    }
}

/// Where to connect, as the HTTP client needs it.
#[derive(Clone)]
struct Endpoint {
    addr: SocketAddr,
    authority: String,
    path: String,
    protocol: Protocol,
}

impl Endpoint {
    /// A connection with its MCP conversation started.
    async fn client(&self) -> Result<HttpMcp, ClientError> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| ClientError::Socket {
                op: "connect".into(),
                kind: e.kind(),
            })?;
        let _ = stream.set_nodelay(true);
        let mut c = HttpMcp::handshake_http(stream, &self.authority, &self.path).await?;
        c.start(self.protocol).await?;
        Ok(c)
    }
}

/// Runs `plan` and returns its result (not written).
pub async fn run_listen(plan: &ListenPlan, bins: &Binaries) -> Result<ListenFile, LoadError> {
    plan.check()?;
    let (target, server) = match &plan.target {
        Some(t) => (t.clone(), None),
        None => {
            let root = std::env::current_dir()
                .map_err(|e| LoadError::io("read", "the current directory", e))?;
            let mut p = peer(
                plan.server,
                &PeerPaths::new(bins.server.clone(), &root),
                4096,
            )?;
            let extra: Vec<String> = plan
                .server_args
                .split_whitespace()
                .map(String::from)
                .collect();
            p = p.with_args(&extra);
            let running = Running::start(&p).await?;
            let target: Target = running
                .url
                .parse()
                .map_err(|e| LoadError::Run(format!("the started server's URL: {e}")))?;
            (target, Some(running))
        }
    };
    let Target::Http {
        addr,
        authority,
        path,
    } = &target
    else {
        return Err(LoadError::Plan(format!("--target {target}: not HTTP")));
    };
    let endpoint = Endpoint {
        addr: *addr,
        authority: authority.clone(),
        path: path.clone(),
        protocol: plan.protocol,
    };
    let result = measure(plan, &endpoint, &target, server.as_ref().map(|s| s.pid)).await;
    if let Some(s) = server {
        s.stop().await;
    }
    result
}

async fn measure(
    plan: &ListenPlan,
    endpoint: &Endpoint,
    target: &Target,
    server_pid: Option<u32>,
) -> Result<ListenFile, LoadError> {
    let unreachable =
        |e: ClientError| LoadError::Unreachable(format!("{target}: the trigger connection: {e}"));
    let mut trigger = endpoint.client().await.map_err(unreachable)?;
    let before = stats(&mut trigger).await;
    println!(
        "listen: opening {} listeners on {target} ({}, {} at once)",
        plan.count,
        plan.protocol.name(),
        plan.connect_concurrency
    );
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        uri: plan.uri.clone(),
        delivery: Mutex::new(histogram()),
        delivered: AtomicU64::new(0),
        progress: Notify::new(),
        failures: Mutex::new(BTreeMap::new()),
        ended: AtomicU64::new(0),
    });
    let stop = CancellationToken::new();
    let opened = Arc::new(AtomicU64::new(0));
    let open_done = Arc::new(Notify::new());
    let permits = Arc::new(Semaphore::new(plan.connect_concurrency));
    let opening = Instant::now();
    let mut tasks = Vec::with_capacity(plan.count as usize);
    for _ in 0..plan.count {
        let (endpoint, shared, stop) = (endpoint.clone(), shared.clone(), stop.clone());
        let (opened, open_done, permits) = (opened.clone(), open_done.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let permit = permits.acquire_owned().await;
            let stream = open_listener(&endpoint, &shared).await;
            drop(permit);
            opened.fetch_add(1, Ordering::Relaxed);
            open_done.notify_one();
            match stream {
                Ok(held) => held.hold(&shared, &stop).await,
                Err(why) => {
                    shared.fail(why);
                    None
                }
            }
        }));
    }
    let mut last_line = Instant::now();
    while opened.load(Ordering::Relaxed) < plan.count {
        let _ = tokio::time::timeout(Duration::from_secs(1), open_done.notified()).await;
        if last_line.elapsed() >= Duration::from_secs(2) {
            println!(
                "listen: {} of {} listeners opened",
                opened.load(Ordering::Relaxed),
                plan.count
            );
            last_line = Instant::now();
        }
    }
    let open_s = opening.elapsed().as_secs_f64();
    let failed: u64 = shared
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .sum();
    let listeners = plan.count - failed;
    let held = stats(&mut trigger).await;
    println!(
        "listen: {listeners} listeners held ({failed} failed) in {open_s:.1} s; triggering {} events at {}/s",
        plan.event_count(),
        plan.events
    );
    // Triggers and control pings, open-loop, side by side.
    let start = Instant::now() + Duration::from_millis(50);
    let (generator_cpu, server_cpu) = (self_cpu(), server_pid.and_then(process_cpu));
    let events = plan.event_count();
    let interval = Duration::from_secs_f64(1.0 / plan.events);
    let trigger_run = async {
        let mut h = histogram();
        let (mut ok, mut errors) = (0u64, 0u64);
        for k in 0..events {
            let due = start + interval * k as u32;
            let from = wait_until_due(due).await;
            let stamp = due.duration_since(shared.epoch).as_nanos();
            let arguments = format!(
                r#"{{"uri":{},"stamp":"{stamp}"}}"#,
                serde_json::to_string(&plan.uri).unwrap_or_default()
            );
            match trigger.call_tool("touch", &arguments).await {
                Ok(reply) if reply.is_result() => {
                    ok += 1;
                    let _ = h.record(from.elapsed().as_nanos() as u64);
                }
                Ok(reply) => {
                    errors += 1;
                    shared.fail(format!("touch refused: {}", reply.why()));
                }
                Err(e) => {
                    errors += 1;
                    shared.fail(format!("touch: {e}"));
                }
            }
        }
        (ok, errors, h)
    };
    let control_run = async {
        let mut h = histogram();
        let mut errors = 0u64;
        if plan.control_rate <= 0.0 {
            return (h, errors);
        }
        let mut control = match endpoint.client().await {
            Ok(c) => c,
            Err(e) => {
                shared.fail(format!("control connection: {e}"));
                return (h, 1);
            }
        };
        let every = Duration::from_secs_f64(1.0 / plan.control_rate);
        let calls = ((plan.duration * plan.control_rate).round() as u64).max(1);
        for k in 0..calls {
            let from = wait_until_due(start + every * k as u32).await;
            match control.ping().await {
                Ok(reply) if reply.is_result() => {
                    let _ = h.record(from.elapsed().as_nanos() as u64);
                }
                _ => errors += 1,
            }
        }
        (h, errors)
    };
    let ((acked, trigger_errors, trigger_h), (control_h, control_errors)) =
        tokio::join!(trigger_run, control_run);
    // Wait for what is on its way, within the grace period.
    let expected = acked * listeners;
    let grace_end = Instant::now() + Duration::from_secs_f64(plan.grace);
    while shared.delivered.load(Ordering::Relaxed) < expected && Instant::now() < grace_end {
        let _ = tokio::time::timeout_at(grace_end, shared.progress.notified()).await;
    }
    let wall_s = start.elapsed().as_secs_f64();
    let generator_cpu_s = (self_cpu() - generator_cpu).as_secs_f64();
    let server_cpu_s = server_pid
        .and_then(process_cpu)
        .zip(server_cpu)
        .map(|(now, then)| now.saturating_sub(then).as_secs_f64());
    let after = stats(&mut trigger).await;
    stop.cancel();
    let mut missed = 0u64;
    for t in tasks {
        if let Ok(Some(got)) = t.await {
            missed += acked.saturating_sub(got);
        }
    }
    let delivery = shared
        .delivery
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let delivered = delivery.len();
    let mut failures: Vec<ErrorCount> = shared
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(why, count)| ErrorCount {
            why: why.clone(),
            count: *count,
        })
        .collect();
    failures.sort_by_key(|f| std::cmp::Reverse(f.count));
    let server = match (before, held, after) {
        (Some(b), Some(h), Some(a)) => Some(ListenServer {
            heap_per_listener_bytes: (b.allocator_counted && listeners > 0)
                .then(|| (h.live_bytes - b.live_bytes) as f64 / listeners as f64),
            rss_bytes: h.rss_bytes,
            listeners: h.listeners,
            lagged: a.listeners_lagged,
            events_published: a.events_published,
        }),
        _ => None,
    };
    Ok(ListenFile {
        schema: LISTEN_SCHEMA.into(),
        name: if plan.target.is_some() {
            "target".into()
        } else {
            plan.server.name().into()
        },
        target: target.to_string(),
        protocol: plan.protocol.name().into(),
        uri: plan.uri.clone(),
        requested: plan.count,
        listeners,
        failed,
        failures,
        open_s,
        events_per_s: plan.events,
        duration_s: plan.duration,
        events: acked,
        trigger_errors,
        expected,
        delivered,
        missed,
        streams_ended: shared.ended.load(Ordering::Relaxed),
        delivery_ns: percentiles(&delivery),
        delivery_histogram: encode_histogram(&delivery),
        trigger_ns: percentiles(&trigger_h),
        control_ns: percentiles(&control_h),
        control_errors,
        server,
        cost: ListenCost {
            generator_cpu_s,
            server_cpu_s,
            generator_us_per_delivery: per_delivery(generator_cpu_s, delivered),
            server_us_per_delivery: server_cpu_s.and_then(|s| per_delivery(s, delivered)),
            wall_s,
        },
    })
}

/// CPU microseconds per delivery, when there was one.
fn per_delivery(cpu_s: f64, delivered: u64) -> Option<f64> {
    (delivered > 0).then(|| cpu_s * 1e6 / delivered as f64)
}

/// `mcpbench/stats`, when the server answers it (servers of this project).
async fn stats(c: &mut HttpMcp) -> Option<ServerStats> {
    let reply = c.request("mcpbench/stats", "", None).await.ok()?;
    let v: serde_json::Value = serde_json::from_slice(&reply.json).ok()?;
    serde_json::from_value(v.get("result")?.clone()).ok()
}

/// An open stream, acknowledged (2026-07-28) or with its head in (GET).
struct Held {
    /// Kept: dropping it would close the connection.
    _client: HttpMcp,
    body: hyper::body::Incoming,
    reader: SseReader,
    subscription: Option<u64>,
}

/// Opens one listener: connect, start, listen; for `subscriptions/listen`, waits
/// for its acknowledgement (the first message, carrying the request's id).
async fn open_listener(endpoint: &Endpoint, shared: &Shared) -> Result<Held, String> {
    let mut client = endpoint.client().await.map_err(|e| e.to_string())?;
    let (status, id, body) = client
        .listen(&shared.uri)
        .await
        .map_err(|e| format!("listen: {e}"))?;
    if status != 200 {
        return Err(format!("listen: HTTP {status}"));
    }
    let mut held = Held {
        _client: client,
        body,
        reader: SseReader::default(),
        subscription: id,
    };
    if id.is_some() {
        match tokio::time::timeout(Duration::from_secs(30), held.next()).await {
            Ok(Some(Seen::Acknowledged(got))) if got == id => {}
            Ok(Some(Seen::Acknowledged(got))) => {
                return Err(format!(
                    "acknowledged with subscription id {got:?}, not the request's {id:?}"
                ));
            }
            Ok(Some(other)) => {
                return Err(format!(
                    "the first message is not the acknowledgement: {other:?}"
                ));
            }
            Ok(None) => return Err("the stream ended before its acknowledgement".into()),
            Err(_) => return Err("no acknowledgement within 30 s".into()),
        }
    }
    Ok(held)
}

impl Held {
    /// The next event, or `None` when the stream has ended.
    async fn next(&mut self) -> Option<Seen> {
        loop {
            if let Some(seen) = self.reader.next_event() {
                return Some(seen);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.reader.push(&data);
                    }
                }
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Reads deliveries until `stop`; returns how many updates of the resource
    /// arrived (`None`: none expected, the stream is not counted).
    async fn hold(mut self, shared: &Shared, stop: &CancellationToken) -> Option<u64> {
        let mut got = 0u64;
        loop {
            let seen = tokio::select! {
                biased;
                _ = stop.cancelled() => return Some(got),
                seen = self.next() => seen,
            };
            match seen {
                Some(Seen::Updated {
                    uri,
                    stamp,
                    subscription,
                }) => {
                    let now = shared.epoch.elapsed().as_nanos() as u64;
                    if uri != shared.uri || subscription != self.subscription {
                        shared.fail(format!(
                            "an update of {uri:?} for subscription {subscription:?} on the stream of {:?}",
                            self.subscription
                        ));
                        continue;
                    }
                    let Some(stamp) = stamp else {
                        shared.fail("an update without a numeric mcpbench/stamp".into());
                        continue;
                    };
                    got += 1;
                    {
                        let mut h = shared.delivery.lock().unwrap_or_else(|p| p.into_inner());
                        let _ = h.record(now.saturating_sub(stamp).max(1));
                    }
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    shared.progress.notify_one();
                }
                Some(_) => {}
                None => {
                    shared.ended.fetch_add(1, Ordering::Relaxed);
                    // What it got counts; the rest is missed.
                    stop.cancelled().await;
                    return Some(got);
                }
            }
        }
    }
}

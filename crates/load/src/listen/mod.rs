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
//! as its `stamp`: open-loop), with `tools/list` calls on a control connection meanwhile;
//! wait until every delivery is in or `--grace` s have passed; write
//! `listen.json` and a summary line. Exit 1 when a listener could not be opened,
//! a trigger failed, or a delivery was missed; 2 for a bad plan; 3 when the
//! server could not be reached.
//!
//! Delivery latency is measured from each trigger's due time (not its send
//! time: a late trigger counts its lateness) to each listener's receipt: the
//! stamp is the due time in nanoseconds of the host's `CLOCK_MONOTONIC`, which
//! every process of the run reads alike, so no wall clock is compared.

mod drive;
mod fleet;
mod listeners;
pub mod stream;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hdrhistogram::Histogram;
use mcpbench_files::listen::{LISTEN_SCHEMA, ListenCost, ListenFile, ListenPart, ListenServer};
use mcpbench_files::scenario::percentiles;
use mcpbench_files::shard::encode_histogram;
use mcpbench_files::{ServerStats, results_dir};
use tokio::time::Instant;

use crate::cli::{Bus, ListenPlan};
use crate::client_error::ClientError;
use crate::cpu::{process_cpu, self_cpu};
use crate::error::LoadError;
use crate::http_client::HttpMcp;
use crate::peers::{PeerPaths, peer};
use crate::procs::{Binaries, Running};
use crate::target::Target;
pub use drive::mono_ns;
use drive::{Driven, drive};
pub use fleet::run_child;
use listeners::{Endpoint, Listeners};

/// Runs `plan`, writes its file and prints its summary; the exit code is the
/// verdict.
pub async fn run(plan: ListenPlan, bins: Binaries) -> ExitCode {
    match run_listen(&plan, &bins).await {
        Ok(file) => {
            let path = plan
                .out
                .clone()
                .unwrap_or_else(|| results_dir(&PathBuf::from(".")).join("listen/listen.json"));
            let table = mcpbench_tables::listen(&file);
            if let Err(e) = crate::output::write_with_table(&path, &file, &table, "listen") {
                eprintln!("mcpbench-load: {e}");
                return ExitCode::from(2);
            }
            println!("listen: {}", summary(&file));
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
    let bus = f
        .bus
        .as_ref()
        .map_or_else(String::new, |b| format!(" ({b} bus)"));
    format!(
        "{}{bus}: {}/{} listeners held ({} failed, opened in {:.1} s, {heap}); {} events of {} at {}/s; \
         deliveries {} of {} ({} missed, {} streams ended early); delivery p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms; control call p99 {:.2} ms; trigger p99 {:.2} ms; CPU per \
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

/// Runs `plan` and returns its result (not written): in this process, or over
/// several client and server processes ([`fleet`]) when `--processes` or the
/// count asks for more than one.
pub async fn run_listen(plan: &ListenPlan, bins: &Binaries) -> Result<ListenFile, LoadError> {
    plan.check()?;
    let processes = plan.process_count();
    if processes > 1 || plan.bus == Bus::Redis {
        return fleet::run_fleet(plan, bins, processes).await;
    }
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
            p = p.with_args(&plan.server_arg_list());
            let running = Running::start(&p).await?;
            let target: Target = running
                .url
                .parse()
                .map_err(|e| LoadError::Run(format!("the started server's URL: {e}")))?;
            (target, Some(running))
        }
    };
    let endpoint = Endpoint::of(&target, plan, None)?;
    let result = measure(plan, &endpoint, &target, server.as_ref().map(|s| s.pid)).await;
    if let Some(s) = server {
        s.stop().await;
    }
    result
}

/// The trigger connection, or why the server is unreachable.
async fn trigger_connection(endpoint: &Endpoint, target: &Target) -> Result<HttpMcp, LoadError> {
    endpoint.client().await.map_err(|e: ClientError| {
        LoadError::Unreachable(format!("{target}: the trigger connection: {e}"))
    })
}

/// Every listener in this process.
async fn measure(
    plan: &ListenPlan,
    endpoint: &Endpoint,
    target: &Target,
    server_pid: Option<u32>,
) -> Result<ListenFile, LoadError> {
    let mut trigger = trigger_connection(endpoint, target).await?;
    let before = stats(&mut trigger).await;
    announce(plan, target);
    let listeners =
        Listeners::open(endpoint, &plan.uri, plan.count, plan.connect_concurrency).await;
    let held = stats(&mut trigger).await;
    triggering(plan, listeners.held, listeners.failed, listeners.open_s);
    let start = Instant::now() + Duration::from_millis(50);
    let cpu = (self_cpu(), server_pid.and_then(process_cpu));
    let driven = drive(
        plan,
        endpoint,
        &mut trigger,
        &|why| listeners.fail(why),
        start,
    )
    .await;
    listeners
        .wait_for(
            driven.acked * listeners.held,
            Instant::now() + Duration::from_secs_f64(plan.grace),
        )
        .await;
    let cost = cost(start, cpu, server_pid);
    let after = stats(&mut trigger).await;
    let open_s = listeners.open_s;
    let (part, delivery) = listeners.finish(driven.acked).await;
    let server = match (before, held, after) {
        (Some(b), Some(h), Some(a)) => Some(ListenServer {
            heap_per_listener_bytes: (b.allocator_counted && part.listeners > 0)
                .then(|| (h.live_bytes - b.live_bytes) as f64 / part.listeners as f64),
            rss_bytes: h.rss_bytes,
            listeners: h.listeners,
            lagged: a.listeners_lagged,
            events_published: a.events_published,
        }),
        _ => None,
    };
    Ok(file(
        plan, target, part, &delivery, open_s, driven, server, cost,
    ))
}

fn announce(plan: &ListenPlan, target: &Target) {
    println!(
        "listen: opening {} listeners on {target} ({}, {} at once)",
        plan.count,
        plan.protocol.name(),
        plan.connect_concurrency
    );
}

fn triggering(plan: &ListenPlan, held: u64, failed: u64, open_s: f64) {
    println!(
        "listen: {held} listeners held ({failed} failed) in {open_s:.1} s; triggering {} events at {}/s",
        plan.event_count(),
        plan.events
    );
}

/// CPU from `start` to now: this process's, and the server's when its pid is
/// known (`cpu` holds both at the start). Per delivery is filled in by [`file`].
fn cost(start: Instant, cpu: (Duration, Option<Duration>), server_pid: Option<u32>) -> ListenCost {
    ListenCost {
        generator_cpu_s: (self_cpu() - cpu.0).as_secs_f64(),
        server_cpu_s: server_pid
            .and_then(process_cpu)
            .zip(cpu.1)
            .map(|(now, then)| now.saturating_sub(then).as_secs_f64()),
        generator_us_per_delivery: None,
        server_us_per_delivery: None,
        wall_s: start.elapsed().as_secs_f64(),
    }
}

/// The result file of a run whose listeners got `part`.
#[allow(clippy::too_many_arguments)]
fn file(
    plan: &ListenPlan,
    target: &Target,
    part: ListenPart,
    delivery: &Histogram<u64>,
    open_s: f64,
    driven: Driven,
    server: Option<ListenServer>,
    mut cost: ListenCost,
) -> ListenFile {
    cost.generator_us_per_delivery = per_delivery(cost.generator_cpu_s, part.delivered);
    cost.server_us_per_delivery = cost
        .server_cpu_s
        .and_then(|s| per_delivery(s, part.delivered));
    ListenFile {
        schema: LISTEN_SCHEMA.into(),
        name: if plan.target.is_some() {
            "target".into()
        } else {
            plan.server.name().into()
        },
        target: target.to_string(),
        bus: plan.shares_bus().then(|| plan.bus.name().into()),
        protocol: plan.protocol.name().into(),
        uri: plan.uri.clone(),
        requested: plan.count,
        listeners: part.listeners,
        failed: part.failed,
        failures: part.failures,
        open_s,
        events_per_s: plan.events,
        duration_s: plan.duration,
        events: driven.acked,
        trigger_errors: driven.trigger_errors,
        expected: driven.acked * part.listeners,
        delivered: part.delivered,
        missed: part.missed,
        streams_ended: part.ended,
        delivery_ns: percentiles(delivery),
        delivery_histogram: encode_histogram(delivery),
        trigger_ns: percentiles(&driven.trigger),
        control_ns: percentiles(&driven.control),
        control_errors: driven.control_errors,
        server,
        cost,
    }
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

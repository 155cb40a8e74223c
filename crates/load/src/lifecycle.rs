//! `mcpbench-load lifecycle`: what each server does with its sessions over their
//! life (handshake generation), each scenario on a fresh server process:
//!
//! - **DELETE**: N sessions opened by the load, each ended with DELETE; then the
//!   server's RSS is sampled over the wait (memory given back? how fast?) and the
//!   ended session ids are presented again (a server that forgot them says 404).
//! - **abandon**: N sessions, connections closed without DELETE (what most
//!   clients do); RSS sampled over the wait, and one old session id presented at
//!   each sample (each id once, so probing never keeps a session alive): the first
//!   404 is when the server reaped it, if it did within the wait.
//! - **past the cap**: N sessions against a server started with a cap below N
//!   (where it has the setting): what the refused clients get (503, a hang, a
//!   crash) and whether the admitted sessions are still served.
//!
//! The ids presented are those of K probe sessions this process opens itself just
//! before the load (K = the number of samples), ended the same way as the load's.

use crate::error::LoadError;
use std::path::Path;
use std::time::Duration;

use mcpbench_files::lifecycle::{
    LIFECYCLE_SCHEMA, LifecycleEntry, LifecycleFile, PastCap, Probe, RssSample, Watched,
};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::cli::{LifecyclePlan, Protocol, check_rate, check_seconds};
use crate::client_error::ClientError;
use crate::experiment::{EXIT_NOT_RUN, Experiment};
use crate::http_client::{Generation, HttpMcp};
use crate::peers::{Peer, PeerName, session_settings};
use crate::procs::{Binaries, Running};
use crate::runner::{LoadArgs, Setup, entry, load_into};
use crate::target::Target;

/// How the load's sessions end.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Delete,
    Abandon,
}

impl Ending {
    fn name(self) -> &'static str {
        match self {
            Ending::Delete => "DELETE",
            Ending::Abandon => "abandon",
        }
    }
}

/// Seconds after the end at which RSS is sampled and an old id presented: dense
/// at first, then sparser, always ending at `wait`.
pub fn sample_times(wait: f64) -> Vec<f64> {
    const AT: [f64; 19] = [
        0.0, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0,
        420.0, 600.0, 900.0, 1800.0,
    ];
    let mut times: Vec<f64> = AT.iter().copied().filter(|&t| t < wait).collect();
    times.push(wait);
    times
}

/// A refused plan, by flag.
pub fn check(plan: &LifecyclePlan) -> Result<u64, LoadError> {
    if plan.count < 2 {
        return Err(LoadError::Plan(
            "--count must be at least 2 (the cap scenario needs a cap below it)".into(),
        ));
    }
    check_seconds("--idle", plan.idle, 86_400.0, "a day")?;
    check_seconds("--wait", plan.wait, 3_600.0, "an hour")?;
    check_rate("--rate", plan.rate)?;
    check_seconds("--duration", plan.shape.duration, 86_400.0, "a day")?;
    if plan.shape.protocol != Protocol::Handshake {
        return Err(LoadError::Plan(format!(
            "--protocol {}: sessions exist only in the handshake generation (2025-11-25)",
            plan.shape.protocol.name()
        )));
    }
    if plan.idle <= 2.0 / plan.rate {
        return Err(LoadError::Plan(format!(
            "--idle {}: sessions would expire between their calls; more than twice the call interval (2 / --rate = {} s) is expected",
            plan.idle,
            2.0 / plan.rate
        )));
    }
    let cap = plan.cap.unwrap_or(plan.count / 2);
    if cap == 0 || cap >= plan.count {
        return Err(LoadError::Plan(format!(
            "--cap {cap}: at least 1 and below --count {} is expected",
            plan.count
        )));
    }
    Ok(cap)
}

/// Runs every scenario for every server; the file, not yet written.
pub async fn run_lifecycle(
    plan: &LifecyclePlan,
    setup: &Setup,
) -> Result<LifecycleFile, LoadError> {
    let cap = check(plan)?;
    let times = sample_times(plan.wait);
    println!(
        "lifecycle: {} sessions (+{} probe sessions) per scenario, idle expiry {} s where settable, watched {} s, cap {cap}",
        plan.count,
        times.len(),
        plan.idle,
        plan.wait
    );
    let mut servers = Vec::new();
    for &name in &setup.names {
        println!("lifecycle: == {name}");
        let e = one_server(name, plan, cap, &times, setup).await;
        for why in &e.why {
            println!("lifecycle: {name}: {why}");
        }
        servers.push(e);
    }
    Ok(LifecycleFile {
        schema: LIFECYCLE_SCHEMA.into(),
        sessions: plan.count,
        idle_s: plan.idle,
        wait_s: plan.wait,
        cap,
        servers,
    })
}

impl Experiment for LifecyclePlan {
    type File = LifecycleFile;
    const NAME: &'static str = "lifecycle";

    fn check(&self) -> Result<(), LoadError> {
        check(self).map(|_| ())
    }

    fn servers(&self) -> &[PeerName] {
        &self.servers
    }

    fn out(&self) -> Option<&Path> {
        self.out.as_deref()
    }

    async fn run(&self, setup: &Setup) -> Result<LifecycleFile, LoadError> {
        run_lifecycle(self, setup).await
    }

    fn table(file: &LifecycleFile) -> String {
        mcpbench_tables::lifecycle(file)
    }

    /// 0 when every scenario ran for every server (whatever it found), 3 when one
    /// could not run.
    fn verdict(file: &LifecycleFile) -> (u8, Vec<String>) {
        let why: Vec<String> = file
            .servers
            .iter()
            .filter(|e| {
                // A scenario whose server could not be started keeps the reason
                // in its own run.
                let not_run = |run: &mcpbench_files::compare::CompareEntry| {
                    run.outcome == mcpbench_files::compare::Outcome::NotRun
                };
                e.deleted.is_none()
                    || !e.why.is_empty()
                    || [&e.deleted, &e.abandoned]
                        .into_iter()
                        .flatten()
                        .any(|w| not_run(&w.run))
                    || e.past_cap.as_ref().is_some_and(|p| not_run(&p.run))
            })
            .map(|e| format!("{}: not every scenario ran: {}", e.name, e.why.join("; ")))
            .collect();
        (if why.is_empty() { 0 } else { EXIT_NOT_RUN }, why)
    }
}

/// The three scenarios of one server.
async fn one_server(
    name: PeerName,
    plan: &LifecyclePlan,
    cap: u64,
    times: &[f64],
    setup: &Setup,
) -> LifecycleEntry {
    let mut e = LifecycleEntry {
        name: name.name().into(),
        description: String::new(),
        idle_flags: Vec::new(),
        default_idle: String::new(),
        deleted: None,
        abandoned: None,
        past_cap: None,
        why: Vec::new(),
    };
    let Some(settings) = session_settings(name, plan.idle, cap) else {
        e.why
            .push(format!("{name} keeps no sessions: nothing to watch"));
        return e;
    };
    let base = match setup.peer(name, plan.shape.size) {
        Ok(p) => p,
        Err(why) => {
            e.why.push(why.to_string());
            return e;
        }
    };
    e.description = base.description.clone();
    e.idle_flags = settings.idle.clone();
    e.default_idle = settings.default_idle.into();
    // Room for every session of the DELETE and abandon scenarios where the server
    // has a cap (the cap scenario is the one that goes past it).
    let mut flags = settings.idle.clone();
    if let Some(cap_flags) = &settings.cap {
        flags.extend([
            cap_flags[0].clone(),
            (2 * (plan.count + times.len() as u64)).to_string(),
        ]);
    }
    let out = |what: &str| setup.dir.join(format!("{name}-{what}.json"));
    for ending in [Ending::Delete, Ending::Abandon] {
        let p = clone_with(&base, &flags);
        let w = watched(&p, plan, ending, times, &setup.bins, &out(ending.name())).await;
        match ending {
            Ending::Delete => e.deleted = Some(w),
            Ending::Abandon => e.abandoned = Some(w),
        }
    }
    let mut cap_flags = settings.idle.clone();
    cap_flags.extend(settings.cap.clone().unwrap_or_default());
    let p = clone_with(&base, &cap_flags);
    let mut run = entry(&p);
    println!(
        "lifecycle: {name} past the cap: {} sessions, {}",
        plan.count,
        match &settings.cap {
            Some(f) => f.join(" "),
            None => "no cap setting".into(),
        }
    );
    match Running::start(&p).await {
        Ok(mut server) => {
            let a = LoadArgs {
                count: plan.count,
                rate: plan.rate,
                shape: &plan.shape,
                abandon: false,
                give_up_after: None,
            };
            load_into(&mut run, &mut server, &a, &setup.bins, &out("cap")).await;
            server.stop().await;
        }
        Err(why) => run.why.push(why.to_string()),
    }
    e.past_cap = Some(PastCap {
        cap: settings.cap.as_ref().map(|_| cap),
        flags: settings.cap.unwrap_or_default(),
        run,
    });
    e
}

fn clone_with(p: &Peer, flags: &[String]) -> Peer {
    p.clone().with_args(flags)
}

/// One DELETE or abandon scenario on a fresh server.
async fn watched(
    p: &Peer,
    plan: &LifecyclePlan,
    ending: Ending,
    times: &[f64],
    bins: &Binaries,
    out: &Path,
) -> Watched {
    let name = p.name;
    let mut w = Watched {
        run: entry(p),
        samples: Vec::new(),
        probes: Vec::new(),
    };
    let mut server = match Running::start(p).await {
        Ok(s) => s,
        Err(why) => {
            w.run.why.push(why.to_string());
            return w;
        }
    };
    println!(
        "lifecycle: {name} {}: listening on {} (pid {})",
        ending.name(),
        server.url,
        server.pid
    );
    let target: Target = match server.url.parse() {
        Ok(t) => t,
        Err(e) => {
            w.run.why.push(e.to_string());
            server.stop().await;
            return w;
        }
    };
    let mut probes = Vec::new();
    for _ in times {
        match open_session(&target).await {
            Ok(h) => probes.push(h),
            Err(e) => {
                w.run
                    .why
                    .push(format!("a probe session could not open: {e}"));
                break;
            }
        }
    }
    let a = LoadArgs {
        count: plan.count,
        rate: plan.rate,
        shape: &plan.shape,
        abandon: ending == Ending::Abandon,
        give_up_after: None,
    };
    // The probe sessions are used every 2 s while the load runs, so they are last
    // used when the load's sessions are.
    let keep_using = async {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            for h in probes.iter_mut() {
                let _ = use_session(h, &target).await;
            }
        }
    };
    tokio::select! {
        () = load_into(&mut w.run, &mut server, &a, bins, out) => {}
        () = keep_using => {}
    }
    // The probe sessions end as the load's did: DELETE, or a last request now (so
    // they were last used when the load's were) and then silence.
    let mut ids = Vec::new();
    for mut h in probes {
        if let Err(e) = reopen(&mut h, &target).await {
            w.run.why.push(format!("probe session: {e}"));
            continue;
        }
        match ending {
            Ending::Delete => match h.delete().await {
                Some(Ok(200..=204)) | None => {}
                Some(Ok(status)) => w.run.why.push(format!("probe DELETE: HTTP {status}")),
                Some(Err(e)) => w.run.why.push(format!("probe DELETE: {e}")),
            },
            Ending::Abandon => {
                if let Err(e) = use_session(&mut h, &target).await {
                    w.run.why.push(format!("probe session: {e}"));
                }
            }
        }
        ids.push(h.generation().clone());
    }
    let start = Instant::now();
    let mut after_forgotten = 0;
    for (at, id) in times.iter().zip(ids) {
        tokio::time::sleep_until(start + Duration::from_secs_f64(*at)).await;
        let rss = mcpbench_alloc::rss_bytes_of(server.pid);
        w.samples.push(RssSample { at_s: *at, rss });
        let probe = present(&target, id, *at).await;
        println!(
            "lifecycle: {name} {} +{at:.0} s: RSS {}, old session id -> {}",
            ending.name(),
            rss.map_or("gone".into(), |v| format!("{:.1} MB", v as f64 / 1e6)),
            probe.status.map_or_else(
                || probe.error.clone().unwrap_or_default(),
                |s| format!("HTTP {s}")
            )
        );
        let forgotten = probe.status == Some(404);
        w.probes.push(probe);
        // Once abandoned sessions are reaped, two more samples show the memory.
        if ending == Ending::Abandon && (after_forgotten > 0 || forgotten) {
            after_forgotten += 1;
            if after_forgotten > 2 {
                break;
            }
        }
        if rss.is_none() {
            w.run.crashed = true;
            w.run
                .why
                .push("the server process was gone during the wait".into());
            break;
        }
    }
    server.stop().await;
    w
}

/// A new connection for `h` when the server closed its last one (an idle
/// keep-alive timeout, say: uvicorn's is 5 s).
async fn reopen(h: &mut HttpMcp, target: &Target) -> Result<(), ClientError> {
    if h.is_closed() {
        let stream = TcpStream::connect(target.addr())
            .await
            .map_err(|e| ClientError::socket("connect", &e))?;
        h.reconnect(stream).await?;
    }
    Ok(())
}

/// One `ping` in the session (over a new connection if need be).
async fn use_session(h: &mut HttpMcp, target: &Target) -> Result<(), ClientError> {
    reopen(h, target).await?;
    match h.ping().await?.status {
        200..=299 => Ok(()),
        status => Err(ClientError::Refused {
            step: "ping",
            why: format!("HTTP {status}"),
        }),
    }
}

/// `work`, or an error when it takes over 10 s.
async fn within_10s<T>(
    work: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .unwrap_or_else(|_| {
            Err(ClientError::Timeout {
                what: "answer",
                secs: 10,
            })
        })
}

/// A session of this process's own: connect, initialize.
async fn open_session(target: &Target) -> Result<HttpMcp, ClientError> {
    within_10s(async {
        let mut h = HttpMcp::connect(target).await?;
        h.start(Protocol::Handshake).await?;
        Ok(h)
    })
    .await
}

/// Presents an old session id (`ping` over a new connection): the status says
/// whether the server still knows it.
async fn present(target: &Target, id: Generation, at_s: f64) -> Probe {
    let status = within_10s(async {
        let mut h = HttpMcp::connect(target).await?;
        h.resume(id);
        h.ping().await.map(|r| r.status)
    })
    .await;
    Probe {
        at_s,
        status: status.as_ref().ok().copied(),
        error: status.err().map(|e| e.to_string()),
    }
}

/// A lifecycle entry for a row that ran nothing (for tests).
#[cfg(test)]
fn not_run(name: &str) -> mcpbench_files::compare::CompareEntry {
    mcpbench_files::compare::CompareEntry {
        name: name.into(),
        description: String::new(),
        command: Vec::new(),
        protocol: None,
        outcome: mcpbench_files::compare::Outcome::NotRun,
        why: Vec::new(),
        crashed: false,
        result: None,
    }
}

#[cfg(test)]
mod tests;

//! `mcpbench-load scaling`: the same load at growing concurrent session counts
//! (1K, 10K, 30K, 100K by default), server by server, each point on a fresh
//! process; a server stops at its first failure, with the reason.
//!
//! Every server runs as one process started here, like `compare`, while one process
//! can hold the count (here: 20,000 open files per process). Past that, ours runs
//! as the `connections` harness starts it: one process per 15,000 connections
//! sharing the port with `SO_REUSEPORT` (a connection, and so its session, stays
//! with the process that accepted it). A session-keeping SDK server cannot be
//! spread that way without sticky routing in front, so it runs as one process and
//! meets the limit; the table says so.

use crate::error::LoadError;
use std::path::Path;

use mcpbench_files::compare::{CompareEntry, Outcome};
use mcpbench_files::lifecycle::{SCALING_SCHEMA, ScalingEntry, ScalingFile};

use crate::cli::{Plan, ScalingPlan, ServerKind, TransportKind, check_rate, check_seconds};
use crate::experiment::{EXIT_NOT_RUN, Experiment};
use crate::peers::{PeerName, session_settings};
use crate::procs::{LoadChild, Running};
use crate::runner::{LoadArgs, Setup, entry, limit, load_into, read_result};
use crate::socket::PER_PROCESS;
use crate::socket::open_file_limit;

/// Failed connections per client process after which the rest are not attempted:
/// a server that stopped accepting is found out in one connect limit.
const GIVE_UP: u64 = 64;

/// A refused plan, by flag.
pub fn check(plan: &ScalingPlan) -> Result<(), LoadError> {
    if plan.counts.is_empty() || plan.counts.contains(&0) {
        return Err(LoadError::Plan(
            "--counts: at least one count, each at least 1".into(),
        ));
    }
    if plan.counts.windows(2).any(|w| w[1] <= w[0]) {
        return Err(LoadError::Plan(format!(
            "--counts {:?}: ascending counts are expected",
            plan.counts
        )));
    }
    check_rate("--rate", plan.rate)?;
    check_seconds("--duration", plan.shape.duration, 86_400.0, "a day")
}

/// Runs the curve for every server; the file, not yet written.
pub async fn run_scaling(plan: &ScalingPlan, setup: &Setup) -> Result<ScalingFile, LoadError> {
    check(plan)?;
    let files = open_file_limit();
    let mut servers = Vec::new();
    for &name in &setup.names {
        let mut s = ScalingEntry {
            name: name.name().into(),
            description: String::new(),
            points: Vec::new(),
            stopped: None,
        };
        let p = match setup.peer(name, plan.shape.size) {
            Ok(p) => p,
            Err(why) => {
                println!("scaling: {name}: {why}");
                s.stopped = Some(why.to_string());
                servers.push(s);
                continue;
            }
        };
        // The curve measures how many sessions a server holds, not its cap: where
        // it has one (Python's default 10,000, the TypeScript example's 1,000),
        // it is raised past the largest count. Idle expiry stays at its default.
        let top = plan.counts.last().copied().unwrap_or(0);
        let p = match session_settings(name, 1800.0, 2 * top).and_then(|s| s.cap) {
            Some(flags) => p.with_args(&flags),
            None => p,
        };
        s.description = p.description.clone();
        for &count in &plan.counts {
            println!("scaling: == {name} at {count} sessions");
            let out = setup.dir.join(format!("{name}-{count}.json"));
            let ours = name.ours();
            let mut e = if ours && count > PER_PROCESS {
                spread(name, count, plan, setup, &out).await
            } else {
                let a = LoadArgs {
                    count,
                    rate: plan.rate,
                    shape: &plan.shape,
                    abandon: false,
                    give_up_after: Some(GIVE_UP),
                };
                let mut e = entry(&p);
                match Running::start(&p).await {
                    Ok(mut server) => {
                        println!(
                            "scaling: {name} listening on {} (pid {})",
                            server.url, server.pid
                        );
                        load_into(&mut e, &mut server, &a, &setup.bins, &out).await;
                        server.stop().await;
                    }
                    Err(why) => e.why.push(why.to_string()),
                }
                e
            };
            let refused = e.result.as_ref().is_some_and(|r| r.connections.failed > 0);
            if !ours && refused && files.is_some_and(|f| count + 100 > f) {
                e.why.push(format!(
                    "one process may hold {} open files here, and this server keeps its sessions in one process",
                    files.unwrap_or(0)
                ));
            }
            let failed = e.outcome != Outcome::Passed;
            if failed {
                s.stopped = Some(format!("at {count}: {}", e.why.join("; ")));
                println!("scaling: {name} stops at {count}: {}", e.why.join("; "));
            }
            s.points.push(e);
            if failed {
                break;
            }
        }
        servers.push(s);
    }
    let file = ScalingFile {
        schema: SCALING_SCHEMA.into(),
        counts: plan.counts.clone(),
        rate_per_connection: plan.rate,
        duration_s: plan.shape.duration,
        protocol: plan.shape.protocol.name().into(),
        servers,
    };
    Ok(file)
}

impl Experiment for ScalingPlan {
    type File = ScalingFile;
    const NAME: &'static str = "scaling";

    fn check(&self) -> Result<(), LoadError> {
        check(self)
    }

    fn servers(&self) -> &[PeerName] {
        &self.servers
    }

    fn out(&self) -> Option<&Path> {
        self.out.as_deref()
    }

    async fn run(&self, setup: &Setup) -> Result<ScalingFile, LoadError> {
        run_scaling(self, setup).await
    }

    fn table(file: &ScalingFile) -> String {
        mcpbench_tables::scaling(file)
    }

    /// 0 when every server ran (whatever it reached), 3 when one could not be
    /// started.
    fn verdict(file: &ScalingFile) -> (u8, Vec<String>) {
        let why: Vec<String> = file
            .servers
            .iter()
            .filter(|s| {
                s.points.is_empty() || s.points.iter().any(|p| p.outcome == Outcome::NotRun)
            })
            .map(|s| {
                format!(
                    "{}: not run: {}",
                    s.name,
                    s.stopped.as_deref().unwrap_or("")
                )
            })
            .collect();
        (if why.is_empty() { 0 } else { EXIT_NOT_RUN }, why)
    }
}

/// Ours past one process: the `connections` harness starts one server process
/// per 15,000 connections on a shared port (one thread each) and sums their RSS.
async fn spread(
    name: PeerName,
    count: u64,
    plan: &ScalingPlan,
    setup: &Setup,
    out: &std::path::Path,
) -> CompareEntry {
    let processes = count.div_ceil(PER_PROCESS);
    let a = LoadArgs {
        count,
        rate: plan.rate,
        shape: &plan.shape,
        abandon: false,
        give_up_after: Some(GIVE_UP),
    };
    let load = Plan {
        transport: TransportKind::Http,
        server: if name == PeerName::Bare {
            ServerKind::Bare
        } else {
            ServerKind::Mcp
        },
        ..a.plan(out)
    };
    let mut e = CompareEntry {
        name: name.name().into(),
        description: format!(
            "{processes} {} processes sharing one port (SO_REUSEPORT), one thread each, started by the connections harness",
            if name == PeerName::Bare {
                "bare ceiling"
            } else {
                "mcpbench-server"
            }
        ),
        command: LoadChild::command(&setup.bins.load, &load),
        protocol: None,
        outcome: Outcome::NotRun,
        why: Vec::new(),
        crashed: false,
        result: None,
    };
    println!("scaling: {}", e.description);
    let status = LoadChild::run(&setup.bins.load, &load, name.name(), limit(&a)).await;
    read_result(&mut e, out, &status);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Protocol, RunShape};

    fn plan(counts: Vec<u64>) -> ScalingPlan {
        ScalingPlan {
            counts,
            servers: vec![PeerName::Mcpbench],
            rate: 0.05,
            shape: RunShape {
                duration: 10.0,
                size: 4096,
                protocol: Protocol::Handshake,
                processes: 2,
            },
            out: None,
        }
    }

    #[test]
    fn counts_must_ascend_from_one() {
        assert!(check(&plan(vec![1000, 10_000])).is_ok());
        for bad in [vec![], vec![0, 10], vec![10, 10], vec![30, 10]] {
            let e = check(&plan(bad.clone())).unwrap_err();
            assert!(e.to_string().contains("--counts"), "{bad:?}: {e}");
        }
        let mut p = plan(vec![10]);
        p.rate = f64::NAN;
        assert!(check(&p).unwrap_err().to_string().contains("--rate"));
    }
}

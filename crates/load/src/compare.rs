//! `mcpbench-load compare`: the same load against several MCP servers, one after
//! another on this machine: ours, its bare ceiling and the official SDKs' servers
//! (`scripts/peers install`). Each server runs as one process started here; the
//! load is `connections --target URL --server-pid PID` (so its RSS is read), run as
//! a child process of its own ([`crate::runner`]); a server that fails says how
//! and why, and the next one still runs. Result: `target/mcpbench/compare.json`
//! and a Markdown table.

use std::path::Path;

use mcpbench_files::compare::{COMPARE_SCHEMA, CompareFile, Outcome};

use mcpbench_files::compare::CompareEntry;

use crate::cli::{ComparePlan, Protocol, RunShape, check_rate, check_seconds};
use crate::error::LoadError;
use crate::experiment::{EXIT_NOT_RUN, Experiment};
use crate::peers::PeerName;
use crate::runner::{LoadArgs, Setup, entry, not_run, one};

impl<'a> From<&'a ComparePlan> for LoadArgs<'a> {
    fn from(plan: &'a ComparePlan) -> Self {
        LoadArgs {
            count: plan.count,
            rate: plan.rate,
            shape: &plan.shape,
            abandon: false,
            give_up_after: None,
        }
    }
}

/// The `protocol` of a file made with `--each-generation`.
pub const EACH: &str = "each";

/// Why `name` cannot be compared in `protocol`, when it cannot: what
/// `mcpbench-load generations` measured (docs/results/2026-12-06-generations.md).
/// The TypeScript SDK 1.x knows no generation past 2025-11-25 and answers
/// `server/discover` with HTTP 400.
pub fn unserved(name: PeerName, protocol: Protocol) -> Option<&'static str> {
    let ts1 = matches!(name, PeerName::Typescript | PeerName::TypescriptStateless);
    (ts1 && protocol == Protocol::Stateless).then_some(
        "the TypeScript SDK 1.x serves 2025-11-25 only (server/discover answered HTTP 400 \
         when `mcpbench-load generations` asked)",
    )
}

/// Runs the same load against every server, one after another (with
/// `--each-generation`, each server in each generation in turn); the file, not
/// yet written. A server that cannot be started or fails is a row saying why.
pub async fn run_compare(plan: &ComparePlan, setup: &Setup) -> CompareFile {
    let generations = if plan.each_generation {
        vec![Protocol::Handshake, Protocol::Stateless]
    } else {
        vec![plan.shape.protocol]
    };
    let mut entries = Vec::new();
    for &name in &setup.names {
        for &protocol in &generations {
            let label = if plan.each_generation {
                format!("{name} ({})", protocol.name())
            } else {
                name.to_string()
            };
            println!("compare: == {label}");
            let shape = RunShape {
                protocol,
                ..plan.shape.clone()
            };
            let peer = setup.peer(name, plan.shape.size);
            let entry = match (unserved(name, protocol), peer) {
                // Said whether or not it is installed: nothing would run.
                (Some(why), p) => CompareEntry {
                    outcome: Outcome::NotServed,
                    why: vec![why.into()],
                    ..p.map_or_else(|e| not_run(name, &e), |p| entry(&p))
                },
                (None, Err(why)) => not_run(name, &why),
                (None, Ok(p)) => {
                    let file = if plan.each_generation {
                        format!("{name}-{}.json", protocol.name())
                    } else {
                        format!("{name}.json")
                    };
                    let args = LoadArgs {
                        shape: &shape,
                        ..plan.into()
                    };
                    one(&p, &args, &setup.bins, &setup.dir.join(file)).await
                }
            };
            for why in &entry.why {
                println!("compare: {label}: {why}");
            }
            entries.push(CompareEntry {
                protocol: Some(protocol.name().into()),
                ..entry
            });
        }
    }
    CompareFile {
        schema: COMPARE_SCHEMA.into(),
        connections: plan.count,
        rate_per_connection: plan.rate,
        duration_s: plan.shape.duration,
        protocol: if plan.each_generation {
            EACH.into()
        } else {
            plan.shape.protocol.name().into()
        },
        servers: entries,
    }
}

/// The exit code of a comparison: 0 when every server ran and passed (every
/// connection opened, every call answered), 3 when one could not be started
/// (or, asked for one generation, does not serve it), else 1 when one failed
/// its load. Over `--each-generation`, a generation a server does not serve is
/// expected and fails nothing.
pub fn exit_code(file: &CompareFile) -> u8 {
    let any = |o: Outcome| file.servers.iter().any(|s| s.outcome == o);
    if any(Outcome::NotRun) || (any(Outcome::NotServed) && file.protocol != EACH) {
        EXIT_NOT_RUN
    } else if any(Outcome::Failed) {
        1
    } else {
        0
    }
}

impl Experiment for ComparePlan {
    type File = CompareFile;
    const NAME: &'static str = "compare";

    fn check(&self) -> Result<(), LoadError> {
        if self.count == 0 {
            return Err(LoadError::Plan("--count must be at least 1".into()));
        }
        check_rate("--rate", self.rate)?;
        check_seconds("--duration", self.shape.duration, 86_400.0, "a day")
    }

    fn servers(&self) -> &[PeerName] {
        &self.servers
    }

    fn out(&self) -> Option<&Path> {
        self.out.as_deref()
    }

    async fn run(&self, setup: &Setup) -> Result<CompareFile, LoadError> {
        Ok(run_compare(self, setup).await)
    }

    fn table(file: &CompareFile) -> String {
        mcpbench_tables::compare(file)
    }

    fn verdict(file: &CompareFile) -> (u8, Vec<String>) {
        let why = file
            .servers
            .iter()
            .filter(|s| s.outcome != Outcome::Passed)
            .map(|s| {
                let how = match s.outcome {
                    Outcome::NotRun => "not run",
                    Outcome::NotServed => "not served",
                    _ => "failed",
                };
                let name = match &s.protocol {
                    Some(g) if file.protocol == EACH => format!("{} ({g})", s.name),
                    _ => s.name.clone(),
                };
                format!("{name} {how}: {}", s.why.join("; "))
            })
            .collect();
        (exit_code(file), why)
    }
}

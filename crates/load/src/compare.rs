//! `mcpbench-load compare`: the same load against several MCP servers, one after
//! another on this machine: ours, its bare ceiling and the official SDKs' servers
//! (`scripts/peers install`). Each server runs as one process started here; the
//! load is `connections --target URL --server-pid PID` (so its RSS is read), run as
//! a child process of its own ([`crate::runner`]); a server that fails says how
//! and why, and the next one still runs. Result: `target/mcpbench/compare.json`
//! and a Markdown table.

use std::path::Path;

use mcpbench_files::compare::{COMPARE_SCHEMA, CompareFile, Outcome};

use crate::cli::{ComparePlan, check_rate, check_seconds};
use crate::error::LoadError;
use crate::experiment::{EXIT_NOT_RUN, Experiment};
use crate::peers::PeerName;
use crate::runner::{LoadArgs, Setup, not_run, one};

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

/// Runs the same load against every server, one after another; the file, not
/// yet written. A server that cannot be started or fails is a row saying why.
pub async fn run_compare(plan: &ComparePlan, setup: &Setup) -> CompareFile {
    let mut entries = Vec::new();
    for &name in &setup.names {
        println!("compare: == {name}");
        let out = setup.dir.join(format!("{name}.json"));
        let entry = match setup.peer(name, plan.shape.size) {
            Ok(p) => one(&p, &plan.into(), &setup.bins, &out).await,
            Err(why) => not_run(name, &why),
        };
        for why in &entry.why {
            println!("compare: {name}: {why}");
        }
        entries.push(entry);
    }
    CompareFile {
        schema: COMPARE_SCHEMA.into(),
        connections: plan.count,
        rate_per_connection: plan.rate,
        duration_s: plan.shape.duration,
        protocol: plan.shape.protocol.name().into(),
        servers: entries,
    }
}

/// The exit code of a comparison: 0 when every server ran and passed (every
/// connection opened, every call answered), 3 when one could not be started,
/// else 1 when one failed its load.
pub fn exit_code(file: &CompareFile) -> u8 {
    let any = |o: Outcome| file.servers.iter().any(|s| s.outcome == o);
    if any(Outcome::NotRun) {
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
                let how = if s.outcome == Outcome::NotRun {
                    "not run"
                } else {
                    "failed"
                };
                format!("{} {how}: {}", s.name, s.why.join("; "))
            })
            .collect();
        (exit_code(file), why)
    }
}

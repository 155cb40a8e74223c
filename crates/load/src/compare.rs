//! `mcpbench-load compare`: the same load against several MCP servers, one after
//! another on this machine: ours, its bare ceiling and the official SDKs' servers
//! (`scripts/peers install`). Each server runs as one process started here; the
//! load is `connections --target URL --server-pid PID` (so its RSS is read), run as
//! a child process of its own ([`crate::runner`]); a server that fails says how
//! and why, and the next one still runs. Result: `target/mcpbench/compare.json`
//! and a Markdown table.

use std::process::ExitCode;

use mcpbench_files::compare::{COMPARE_SCHEMA, CompareFile, Outcome};

use crate::cli::ComparePlan;
use crate::output::{EXIT_NOT_RUN, finish};
use crate::procs::Binaries;
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

/// Runs the comparison; the exit code is 0 when every server ran and passed
/// (every connection opened, every call answered), 3 when one could not be
/// started, else 1 when one failed its load; 2 on a bad plan.
pub async fn run(plan: ComparePlan, bins: Binaries) -> ExitCode {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if plan.count == 0
        || !positive(plan.rate)
        || plan.rate < 1e-6
        || !positive(plan.shape.duration)
        || plan.shape.duration > 86_400.0
    {
        eprintln!(
            "mcpbench-load: --count, --rate (at least 1e-6) and --duration (up to a day) must be positive numbers"
        );
        return ExitCode::from(2);
    }
    let setup = match Setup::new(&plan.servers, "compare", bins) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mcpbench-load: {e}");
            return ExitCode::from(2);
        }
    };
    let mut entries = Vec::new();
    for &name in &setup.names {
        println!("compare: == {name}");
        let out = setup.dir.join(format!("{name}.json"));
        let entry = match setup.peer(name, plan.shape.size) {
            Ok(p) => one(&p, &(&plan).into(), &setup.bins, &out).await,
            Err(why) => not_run(name, &why),
        };
        for why in &entry.why {
            println!("compare: {name}: {why}");
        }
        entries.push(entry);
    }
    let file = CompareFile {
        schema: COMPARE_SCHEMA.into(),
        connections: plan.count,
        rate_per_connection: plan.rate,
        duration_s: plan.shape.duration,
        protocol: plan.shape.protocol.name().into(),
        servers: entries,
    };
    let any = |o: Outcome| file.servers.iter().any(|s| s.outcome == o);
    let code = if any(Outcome::NotRun) {
        EXIT_NOT_RUN
    } else if any(Outcome::Failed) {
        1
    } else {
        0
    };
    finish(
        plan.out.as_deref(),
        &setup.root,
        "compare",
        &file,
        &mcpbench_tables::compare(&file),
        code,
    )
}

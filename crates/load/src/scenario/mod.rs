//! `mcpbench-load run [SCENARIO.toml]`: load any MCP server the way it is used:
//! stages (ramps and holds of connections, a rate per connection, constant or
//! Poisson arrivals), a weighted mix of operations (each with its own
//! histogram), session churn, tools discovered from the server with arguments
//! made from their schemas, and thresholds that set the exit code.
//!
//! [`prepare`] turns the file and the flags into a checked plan; [`run_scenario`]
//! runs it and returns the [`ScenarioFile`]; [`run`] writes it (with its table
//! and an HdrHistogram interval log) and maps it to the exit code: 0 every
//! threshold met (or none given), 1 one failed (each printed by name), 2 a bad
//! scenario, 3 no session could be opened at all.
//!
//! One process, one thread: the generator's own CPU per call and per session is
//! measured (getrusage) and kept in the file.

pub mod arguments;
pub mod discover;
pub mod exec;
mod progress;
pub mod result;
pub mod spec;
pub mod stats;
pub mod threshold;
pub mod timeline;
pub mod wire;

pub use discover::discover;
pub use result::verdict;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mcpbench_files::scenario::{DiscoveredTool, ScenarioFile};
use serde_json::Value;
use tokio::time::Instant;

use crate::cli::{Protocol, RunPlan, check_rate, check_seconds};
use crate::error::LoadError;
use crate::output::EXIT_NOT_RUN;
use crate::target::Target;
use exec::{Exec, PreparedOp, Timeline};
use spec::{Operation, Scenario, Stage};
use threshold::Threshold;

/// The one-liner's stage when no file gives one.
pub const DEFAULT_COUNT: u64 = 10;
/// Calls per second per connection of the one-liner.
pub const DEFAULT_RATE: f64 = 1.0;
/// Seconds of the one-liner.
pub const DEFAULT_DURATION_S: f64 = 10.0;
/// The highest rate per connection a stage may ask for (a gap of 1 µs).
pub const MAX_RATE_PER_CONNECTION: f64 = 1e6;
/// Open files this process keeps for itself beside its connections.
const SPARE_FILES: u64 = 64;

/// A scenario checked and ready to run (tools not yet discovered).
#[derive(Debug)]
pub struct Prepared {
    /// The file, if one was given.
    pub source: Option<String>,
    /// The server, as written and parsed.
    pub target: (String, Target),
    /// The generation.
    pub protocol: Protocol,
    /// The stages.
    pub timeline: Timeline,
    /// Churn.
    pub session_calls: Option<u64>,
    /// The mix as written (discovered tools are added by [`run_scenario`]).
    pub operations: Vec<Operation>,
    /// Call every tool the target lists.
    pub discover: bool,
    /// The thresholds.
    pub thresholds: Vec<Threshold>,
}

/// The file (if any) and the flags, checked: every refusal names the key or
/// the flag.
pub fn prepare(plan: &RunPlan) -> Result<Prepared, LoadError> {
    let mut s = match &plan.scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::default(),
    };
    let source = plan.scenario.as_ref().map(|p| p.display().to_string());
    let one_liner = [
        plan.count.map(|_| "--count"),
        plan.rate.map(|_| "--rate"),
        plan.duration.map(|_| "--duration"),
        plan.arrivals.map(|_| "--arrivals"),
    ];
    if !s.stages.is_empty() {
        if let Some(flag) = one_liner.into_iter().flatten().next() {
            return Err(LoadError::Plan(format!(
                "{flag}: the scenario file has [[stage]]s; change them there"
            )));
        }
    } else {
        // The one-liner holds --count connections from the start: no ramp.
        if s.start_connections != 0 {
            return Err(LoadError::Plan(
                "start_connections without [[stage]]s: the one-liner's stage starts at --count"
                    .into(),
            ));
        }
        s.start_connections = plan.count.unwrap_or(DEFAULT_COUNT);
        s.stages.push(Stage {
            duration_s: plan.duration.unwrap_or(DEFAULT_DURATION_S),
            connections: plan.count.unwrap_or(DEFAULT_COUNT),
            rate_per_connection: plan.rate.unwrap_or(DEFAULT_RATE),
            arrivals: plan.arrivals.unwrap_or_default(),
        });
    }
    for (i, st) in s.stages.iter().enumerate() {
        let at = |flag: &str| format!("stage {} {flag}", i + 1);
        check_seconds(&at("duration_s"), st.duration_s, 86_400.0, "a day")?;
        check_rate(&at("rate_per_connection"), st.rate_per_connection)?;
        if st.rate_per_connection > MAX_RATE_PER_CONNECTION {
            return Err(LoadError::Plan(format!(
                "{} {}: at most {MAX_RATE_PER_CONNECTION} calls/s per connection (one call is outstanding per connection)",
                at("rate_per_connection"),
                st.rate_per_connection
            )));
        }
    }
    let timeline = Timeline {
        start: s.start_connections,
        stages: s.stages,
    };
    if timeline.peak() == 0 {
        return Err(LoadError::Plan(
            "every stage has 0 connections: nothing would run".into(),
        ));
    }
    if timeline.total_s() > 86_400.0 {
        return Err(LoadError::Plan(format!(
            "the stages last {} s: at most a day",
            timeline.total_s()
        )));
    }
    if let Some(limit) = crate::socket::open_file_limit()
        && timeline.peak() + SPARE_FILES > limit
    {
        return Err(LoadError::Plan(format!(
            "{} connections at once: this process may hold {limit} open files; `run` is one process (split the load over several generators)",
            timeline.peak()
        )));
    }
    let target_text = plan.target.clone().or(s.target).ok_or_else(|| {
        LoadError::Plan("no target: give --target URL or `target =` in the scenario file".into())
    })?;
    let target: Target = target_text
        .parse()
        .map_err(|e| LoadError::Plan(format!("target {target_text:?}: {e}")))?;
    let session_calls = match plan.session_calls.or(s.churn.map(|c| c.session_calls)) {
        Some(0) => {
            return Err(LoadError::Plan(
                "session_calls 0: a new session every N calls, N at least 1".into(),
            ));
        }
        other => other,
    };
    let mut operations = s.operations;
    if let Some(tool) = &plan.tool {
        let arguments: Value = serde_json::from_str(&plan.arguments).map_err(|e| {
            LoadError::Plan(format!("--arguments {}: not JSON: {e}", plan.arguments))
        })?;
        operations.push(Operation::call(tool, arguments));
    }
    let discover = plan.discover || s.discover;
    if operations.is_empty() && !discover {
        return Err(LoadError::Plan(
            "no operation: give --tool NAME, --discover, or [[operation]]s in the scenario file"
                .into(),
        ));
    }
    for (i, op) in operations.iter().enumerate() {
        op.params(i + 1)?;
    }
    let thresholds = s
        .thresholds
        .iter()
        .map(|t| t.expr.as_str())
        .chain(plan.asserts.iter().map(String::as_str))
        .map(Threshold::parse)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Prepared {
        source,
        target: (target_text, target),
        protocol: plan.protocol.or(s.protocol).unwrap_or(Protocol::Handshake),
        timeline,
        session_calls,
        operations,
        discover,
        thresholds,
    })
}

/// The mix: the operations as written, then the discovered tools; labels made
/// unique (`#2` after a repeated one); thresholds must name labels of the mix.
fn mix(
    operations: &[Operation],
    discovered: &[DiscoveredTool],
    thresholds: &[Threshold],
) -> Result<Vec<PreparedOp>, LoadError> {
    let mut ops = Vec::new();
    let called = discovered.iter().filter_map(|t| {
        t.arguments
            .as_ref()
            .map(|a| Operation::call(&t.name, a.clone()))
    });
    for (i, op) in operations.iter().cloned().chain(called).enumerate() {
        let (params, name) = op.params(i + 1)?;
        let base = op.label();
        let mut label = base.clone();
        let mut n = 1;
        while ops.iter().any(|o: &PreparedOp| o.label == label) {
            n += 1;
            label = format!("{base}#{n}");
        }
        ops.push(PreparedOp {
            label,
            method: op.method.clone(),
            params,
            name,
            weight: op.weight,
        });
    }
    if ops.is_empty() {
        return Err(LoadError::Unreachable(
            "no operation: --discover found no tool that can be called".into(),
        ));
    }
    for t in thresholds {
        if let Some(label) = &t.operation
            && !ops.iter().any(|o| &o.label == label)
        {
            let labels: Vec<&str> = ops.iter().map(|o| o.label.as_str()).collect();
            return Err(LoadError::Plan(format!(
                "threshold {:?}: no operation {label:?} in the mix ({})",
                t.expr,
                labels.join(", ")
            )));
        }
    }
    Ok(ops)
}

/// Runs `p` (discovering tools first when asked), with a progress line every
/// 5 s and the interval log written to `hlog` (one histogram per operation per
/// second); the result file, not yet written.
pub async fn run_scenario(p: &Prepared, hlog: Option<&Path>) -> Result<ScenarioFile, LoadError> {
    let discovered = if p.discover {
        let tools = discover(&p.target.1, p.protocol).await?;
        for t in &tools {
            match (&t.arguments, &t.skipped) {
                (Some(a), _) => println!("run: discovered {} with arguments {a}", t.name),
                (None, Some(why)) => println!("run: discovered {}, skipped: {why}", t.name),
                (None, None) => {}
            }
        }
        tools
    } else {
        Vec::new()
    };
    let ops = mix(&p.operations, &discovered, &p.thresholds)?;
    let exec = Arc::new(Exec::new(
        p.target.1.clone(),
        p.protocol,
        p.timeline.clone(),
        p.session_calls,
        ops,
    ));
    let total = p.timeline.total_s();
    println!(
        "run: {} for {total} s, {} stage(s), peak {} connections, {} operation(s): {}",
        p.target.0,
        p.timeline.stages.len(),
        p.timeline.peak(),
        exec.ops.len(),
        exec.ops
            .iter()
            .map(|o| format!("{} ×{}", o.label, o.weight))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cpu0 = result::cpu_time();
    let t0 = Instant::now() + Duration::from_millis(50);
    let mut slots = tokio::task::JoinSet::new();
    for k in 0..p.timeline.peak() {
        let exec = Arc::clone(&exec);
        slots.spawn(async move { exec.slot(k, t0).await });
    }
    let log = progress::IntervalLog::create(hlog, &exec)?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let progress = tokio::spawn(progress::progress(Arc::clone(&exec), t0, log, stopped));
    let mut broken = None;
    while let Some(joined) = slots.join_next().await {
        if let Err(e) = joined
            && broken.is_none()
        {
            // The first failure is the reason; the others are its cancellations.
            broken = Some(e.to_string());
            slots.abort_all();
        }
    }
    let cpu = result::cpu_time().saturating_sub(cpu0);
    let _ = stop.send(());
    // The last partial interval is written when progress ends.
    let _ = progress.await;
    if let Some(why) = broken {
        return Err(LoadError::Child {
            program: "a connection slot".into(),
            why,
        });
    }
    Ok(result::file(p, &exec, discovered, cpu))
}

/// `mcpbench-load run`: prepares, runs, writes `scenario.json`, its table and
/// interval log, prints each threshold, returns the exit code (2: a bad scenario
/// or a file that cannot be written; 3: the target could not be reached for
/// `--discover`, or it listed no tool that can be called).
pub async fn run(plan: RunPlan) -> ExitCode {
    let ran = async {
        let p = prepare(&plan)?;
        let out = plan.out.clone().unwrap_or_else(|| {
            mcpbench_files::results_dir(&std::env::current_dir().unwrap_or_default())
                .join("scenario.json")
        });
        let file = run_scenario(&p, Some(&out.with_extension("hlog"))).await?;
        crate::output::write_with_table(&out, &file, &mcpbench_tables::scenario(&file), "run")?;
        Ok::<_, LoadError>(file)
    };
    match ran.await {
        Ok(file) => {
            let (code, why) = verdict(&file);
            for line in why {
                eprintln!("mcpbench-load: run: {line}");
            }
            ExitCode::from(code)
        }
        Err(e @ LoadError::Unreachable(_)) => {
            eprintln!("mcpbench-load: {e}");
            ExitCode::from(EXIT_NOT_RUN)
        }
        Err(e) => {
            eprintln!("mcpbench-load: {e}");
            ExitCode::from(2)
        }
    }
}

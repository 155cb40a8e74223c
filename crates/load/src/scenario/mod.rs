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
pub mod exec;
pub mod spec;
pub mod threshold;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mcpbench_files::scenario::{
    DiscoveredTool, ErrorCount, GeneratorCost, OperationRun, SCENARIO_SCHEMA, ScenarioFile,
    SessionsRun, StageRun, percentiles,
};
use mcpbench_files::shard::encode_histogram;
use serde_json::Value;
use tokio::time::Instant;

use crate::cli::{Protocol, RunPlan, check_rate, check_seconds};
use crate::client_error::Answer;
use crate::error::LoadError;
use crate::output::EXIT_NOT_RUN;
use crate::target::Target;
use exec::{Exec, OpStats, PreparedOp, Timeline, exchange, open_conn};
use spec::{Operation, Scenario, Stage};
use threshold::{Observed, Threshold};

/// The one-liner's stage when no file gives one.
pub const DEFAULT_COUNT: u64 = 10;
/// Calls per second per connection of the one-liner.
pub const DEFAULT_RATE: f64 = 1.0;
/// Seconds of the one-liner.
pub const DEFAULT_DURATION_S: f64 = 10.0;
/// The highest rate per connection a stage may ask for (a gap of 1 µs).
pub const MAX_RATE_PER_CONNECTION: f64 = 1e6;
/// How long discovery waits for the session and for each `tools/list` page.
const DISCOVER_LIMIT: Duration = Duration::from_secs(30);
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

/// The target's tools (every page of `tools/list`), each with arguments made
/// from its input schema or the reason it is skipped.
pub async fn discover(
    target: &Target,
    protocol: Protocol,
) -> Result<Vec<DiscoveredTool>, LoadError> {
    let unreachable = |why: String| LoadError::Unreachable(format!("--discover: {why}"));
    let mut conn = tokio::time::timeout(DISCOVER_LIMIT, open_conn(target, protocol, None))
        .await
        .map_err(|_| unreachable(format!("no session within {} s", DISCOVER_LIMIT.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))?;
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1..=100u64 {
        let params = match &cursor {
            Some(c) => format!(r#""cursor":{}"#, Value::String(c.clone())),
            None => String::new(),
        };
        let (answer, json) = tokio::time::timeout(
            DISCOVER_LIMIT,
            exchange(&mut conn, target, page, "tools/list", &params, None),
        )
        .await
        .map_err(|_| {
            unreachable(format!(
                "tools/list: no reply within {} s",
                DISCOVER_LIMIT.as_secs()
            ))
        })?
        .map_err(|e| unreachable(e.to_string()))?;
        if let Answer::Error(why) = answer {
            return Err(unreachable(format!("tools/list: {why}")));
        }
        let reply: Value = serde_json::from_slice(&json)
            .map_err(|e| unreachable(format!("tools/list: not JSON: {e}")))?;
        for tool in reply
            .pointer("/result/tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            let schema = tool
                .get("inputSchema")
                .cloned()
                .unwrap_or(serde_json::json!({"type": "object"}));
            let (arguments, skipped) = match arguments::arguments_for(&schema) {
                Ok(a) if a.is_object() => (Some(a), None),
                Ok(a) => (
                    None,
                    Some(format!("its arguments would be {a}, not an object")),
                ),
                Err(why) => (None, Some(why)),
            };
            tools.push(DiscoveredTool {
                name: name.to_string(),
                arguments,
                skipped,
            });
        }
        cursor = reply
            .pointer("/result/nextCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    if let crate::connection::McpConn::Http(mut h) = conn {
        let _ = tokio::time::timeout(DISCOVER_LIMIT, h.delete()).await;
    }
    Ok(tools)
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

/// This process's user + system CPU time.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(u.ru_utime) + tv(u.ru_stime)
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
    let cpu0 = cpu_time();
    let t0 = Instant::now() + Duration::from_millis(50);
    let mut slots = tokio::task::JoinSet::new();
    for k in 0..p.timeline.peak() {
        let exec = Arc::clone(&exec);
        slots.spawn(async move { exec.slot(k, t0).await });
    }
    let log = IntervalLog::create(hlog, &exec)?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let progress = tokio::spawn(progress(Arc::clone(&exec), t0, log, stopped));
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
    let cpu = cpu_time().saturating_sub(cpu0);
    let _ = stop.send(());
    // The last partial interval is written when progress ends.
    let _ = progress.await;
    if let Some(why) = broken {
        return Err(LoadError::Child {
            program: "a connection slot".into(),
            why,
        });
    }
    Ok(file(p, &exec, discovered, cpu))
}

/// The per-second HdrHistogram interval log of every operation (tag: its label).
struct IntervalLog {
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    last: Instant,
}

impl IntervalLog {
    fn create(path: Option<&Path>, exec: &Exec) -> Result<Option<IntervalLog>, LoadError> {
        let Some(path) = path else { return Ok(None) };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| LoadError::io("create", dir, e))?;
        }
        let file = std::fs::File::create(path).map_err(|e| LoadError::io("create", path, e))?;
        let mut out = std::io::BufWriter::new(file);
        let labels: Vec<&str> = exec.ops.iter().map(|o| o.label.as_str()).collect();
        writeln!(
            out,
            "#mcpbench-load run: latency in ns from each call's due time (the max column too), one interval per operation per second; tags: {}",
            labels
                .iter()
                .map(|l| log_tag(l))
                .collect::<Vec<_>>()
                .join(" ")
        )
        .map_err(|e| LoadError::io("write", path, e))?;
        Ok(Some(IntervalLog {
            out,
            path: path.to_path_buf(),
            last: Instant::now(),
        }))
    }

    /// Writes each operation's histogram since the last call and starts new ones.
    fn take(&mut self, exec: &Exec, t0: Instant) {
        let now = Instant::now();
        let intervals: Vec<_> = {
            let mut s = exec.stats();
            s.ops
                .iter_mut()
                .map(|o: &mut OpStats| {
                    let h = o.interval.clone();
                    o.interval.reset();
                    h
                })
                .collect()
        };
        let start = self.last.saturating_duration_since(t0);
        let span = now.saturating_duration_since(self.last);
        self.last = now;
        let mut serializer = hdrhistogram::serialization::V2DeflateSerializer::new();
        // No header options: each call writes only its intervals (the header
        // line was written once by `create`); the max column is in ns.
        let written = hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut serializer)
            .and_then(|mut w| {
                for (op, h) in exec.ops.iter().zip(&intervals) {
                    let tag = log_tag(&op.label);
                    let tag = hdrhistogram::serialization::interval_log::Tag::new(&tag);
                    w.write_histogram(h, start, span, tag)
                        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
                }
                Ok(())
            })
            .and_then(|()| self.out.flush());
        if let Err(e) = written {
            eprintln!("mcpbench-load: {}: {e}", self.path.display());
        }
    }
}

/// An operation's label as an interval log's tag (which cannot hold a comma,
/// a space or a line break: each becomes `_`).
fn log_tag(label: &str) -> String {
    label.replace([',', ' ', '\r', '\n'], "_")
}

/// Prints a progress line every 5 s and writes the interval log every second,
/// until `stop` fires (then the last partial interval).
async fn progress(
    exec: Arc<Exec>,
    t0: Instant,
    mut log: Option<IntervalLog>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let total = exec.timeline.total_s();
    let mut tick = tokio::time::interval_at(t0 + Duration::from_secs(1), Duration::from_secs(1));
    for second in 1u64.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        if let Some(log) = log.as_mut() {
            log.take(&exec, t0);
        }
        if second % 5 != 0 {
            continue;
        }
        let (stage, _) = exec.timeline.stage_at(second as f64);
        let s = exec.stats();
        let sum = |f: fn(&OpStats) -> u64| s.ops.iter().map(f).sum::<u64>();
        let when = if (second as f64) < total {
            format!("stage {}/{}", stage + 1, exec.timeline.stages.len())
        } else {
            format!(
                "stages over, waiting up to {} s for the last replies",
                crate::schedule::GRACE.as_secs()
            )
        };
        println!(
            "run: {second} s of {total} s, {when}, {} sessions open ({} opened, {} failed), {} answered, {} errors, {} lost",
            exec.open.load(std::sync::atomic::Ordering::Relaxed),
            s.sessions.opened,
            s.sessions.failed,
            sum(|o| o.answered),
            sum(|o| o.error_replies),
            sum(|o| o.lost),
        );
    }
    if let Some(log) = log.as_mut() {
        log.take(&exec, t0);
    }
}

/// Errors by count, most frequent first (ties by text).
fn by_count(errors: &std::collections::HashMap<String, u64>) -> Vec<ErrorCount> {
    let mut v: Vec<ErrorCount> = errors
        .iter()
        .map(|(why, &count)| ErrorCount {
            why: why.clone(),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.why.cmp(&b.why)));
    v
}

/// What a threshold judges of `o`, over `duration_s` seconds.
fn observed(o: &OpStats, duration_s: f64) -> Observed<'_> {
    Observed {
        histogram: &o.histogram,
        due: o.sent + o.not_sent,
        failed: o.error_replies + o.lost + o.not_sent,
        answered: o.answered,
        duration_s,
    }
}

/// The result of `exec`, thresholds judged.
fn file(p: &Prepared, exec: &Exec, discovered: Vec<DiscoveredTool>, cpu: Duration) -> ScenarioFile {
    let s = exec.stats();
    let total_s = p.timeline.total_s();
    let run = |label: String, method: String, weight: u32, o: &OpStats| OperationRun {
        label,
        method,
        weight,
        sent: o.sent,
        answered: o.answered,
        error_replies: o.error_replies,
        lost: o.lost,
        not_sent: o.not_sent,
        latency_ns: percentiles(&o.histogram),
        histogram: encode_histogram(&o.histogram),
        errors: by_count(&o.errors),
    };
    let operations: Vec<OperationRun> = exec
        .ops
        .iter()
        .zip(&s.ops)
        .map(|(op, o)| run(op.label.clone(), op.method.clone(), op.weight, o))
        .collect();
    let mut all = exec::OpStats::empty();
    for o in &s.ops {
        all.add(o);
    }
    let overall = run("all".into(), String::new(), 0, &all);
    let thresholds = p
        .thresholds
        .iter()
        .map(|t| {
            let stats = match &t.operation {
                Some(label) => exec
                    .ops
                    .iter()
                    .position(|o| &o.label == label)
                    .map_or(&all, |i| &s.ops[i]),
                None => &all,
            };
            t.judge(&observed(stats, total_s))
        })
        .collect();
    let per = |n: u64| (n > 0).then(|| cpu.as_secs_f64() * 1e6 / n as f64);
    ScenarioFile {
        schema: SCENARIO_SCHEMA.into(),
        scenario: p.source.clone(),
        target: p.target.0.clone(),
        protocol: p.protocol.name().into(),
        stages: p
            .timeline
            .stages
            .iter()
            .map(|st| StageRun {
                duration_s: st.duration_s,
                connections: st.connections,
                rate_per_connection: st.rate_per_connection,
                arrivals: st.arrivals.name().into(),
            })
            .collect(),
        session_calls: p.session_calls,
        duration_s: total_s,
        achieved_per_s: all.answered as f64 / total_s,
        operations,
        generator: GeneratorCost {
            threads: 1,
            cpu_s: cpu.as_secs_f64(),
            cpu_us_per_call: per(all.sent),
            cpu_us_per_session: per(s.sessions.opened),
            peak_connections: exec.peak_open.load(std::sync::atomic::Ordering::Relaxed),
            send_lag_ns: percentiles(&s.send_lag),
        },
        sessions: SessionsRun {
            opened: s.sessions.opened,
            failed: s.sessions.failed,
            deleted: s.sessions.deleted,
            delete_failed: s.sessions.delete_failed,
            open_latency_ns: percentiles(&s.sessions.histogram),
            errors: by_count(&s.sessions.errors),
        },
        overall,
        thresholds,
        discovered,
    }
}

/// The exit code `file` calls for, and the lines that say why: 3 when no
/// session could be opened, 1 when a threshold failed, else 0.
pub fn verdict(file: &ScenarioFile) -> (u8, Vec<String>) {
    if file.sessions.opened == 0 {
        let why = file
            .sessions
            .errors
            .first()
            .map_or("no reason recorded".into(), |e| e.why.clone());
        return (
            EXIT_NOT_RUN,
            vec![format!(
                "no session could be opened on {}: {why}",
                file.target
            )],
        );
    }
    let failed: Vec<String> = file
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("threshold {} failed", t.expr))
        .collect();
    (u8::from(!failed.is_empty()), failed)
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

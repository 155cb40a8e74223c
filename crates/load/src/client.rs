//! One shard (`connections --shard I/N`): opens its slice of the connections
//! (each: connect, initialize or discover, tools/list, each step timed), waits
//! for the common start (`--start-at`, or [`ToChild::Go`] on stdin from the local
//! harness, which sends the plan itself the same way), runs every connection's calls open-loop from it, ends the sessions
//! (DELETE) unless told to abandon them, and writes its [`ShardFile`].

use crate::error::LoadError;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mcpbench_files::shard::{SHARD_LINE_PREFIX, SHARD_SCHEMA, ShardFile, ShardRun};
use mcpbench_files::{Requested, ServerKind as FileServerKind, Transport};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::cli::Plan;
use crate::client_error::ClientError;
use crate::connection::{Call, OPEN_LIMIT, calls, open};
use crate::counters::{Phase, Tally};
use crate::schedule::{GRACE, Schedule};
use crate::socket::open_file_limit;
use crate::target::Target;
use crate::wire::ToChild;

/// The shard's stdin, line by line.
type StdinLines = tokio::io::Lines<BufReader<tokio::io::Stdin>>;

/// Runs one shard (`mcpbench-load connections --shard I/N ...`): its slice of the
/// connections, from the common start, ending in its shard file.
pub async fn run(plan: Plan) -> ExitCode {
    let stdin = BufReader::new(tokio::io::stdin()).lines();
    exit_code(shard(&plan, stdin).await)
}

fn exit_code(r: Result<(), LoadError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcpbench-load: shard: {e}");
            ExitCode::from(2)
        }
    }
}

/// Reads the plan from the first line of stdin ([`ToChild::Plan`]): how the
/// harness starts its shards and an experiment its load (`mcpbench-load child`).
/// Returns it with the rest of stdin (a shard's start comes there).
pub async fn plan_from_stdin() -> Result<(Plan, StdinLines), LoadError> {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let line = match stdin.next_line().await {
        Ok(Some(line)) => line,
        Ok(None) => {
            return Err(LoadError::Run(
                "child: stdin closed before a plan came".into(),
            ));
        }
        Err(e) => return Err(LoadError::Run(format!("child: cannot read stdin: {e}"))),
    };
    match ToChild::parse(&line)? {
        ToChild::Plan { plan } => {
            plan.check()
                .map_err(|e| format!("the plan on stdin: {e}"))?;
            Ok((*plan, stdin))
        }
        other => Err(LoadError::Run(format!(
            "child: the first line on stdin must be the plan, got {other:?}"
        ))),
    }
}

/// Runs a shard whose plan came on stdin (the rest of stdin carries its start).
pub async fn run_with(plan: Plan, stdin: StdinLines) -> ExitCode {
    exit_code(shard(&plan, stdin).await)
}

async fn shard(plan: &Plan, mut stdin: StdinLines) -> Result<(), LoadError> {
    let (Some(spec), Some(target)) = (plan.shard, plan.target.clone()) else {
        return Err(LoadError::Run("--shard needs --target".into()));
    };
    let (first, count) = spec.slice(plan.count);
    let limit = open_file_limit().unwrap_or(1024);
    if count > limit.saturating_sub(200) {
        return Err(LoadError::Run(format!(
            "shard {spec} would hold {count} of the {} connections; one process may hold {} here (open-file limit {limit} − 200): use more shards",
            plan.count,
            limit.saturating_sub(200)
        )));
    }
    let source = plan.source;
    let harnessed = plan.go_on_stdin;
    let target = Arc::new(target);
    let call = Arc::new(Call {
        tool: plan.tool.clone(),
        arguments: plan.arguments.clone(),
    });
    let tally = Arc::new(Tally::with_windows(mcpbench_files::latency::window_ms(
        plan.duration,
    )));
    let (go_tx, go_rx) = watch::channel::<Option<tokio::time::Instant>>(None);
    let gate = Arc::new(Semaphore::new(plan.connect_concurrency.max(1)));
    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    let run_for = Duration::from_secs_f64(plan.duration);
    let (protocol, give_up_after) = (plan.protocol, plan.give_up_after);
    let began = Instant::now();

    let mut tasks = Vec::with_capacity(count as usize);
    for k in first..first + count {
        let (tally, gate, mut go) = (tally.clone(), gate.clone(), go_rx.clone());
        let (target, call) = (target.clone(), call.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = {
                let _permit = gate.acquire().await;
                if let Some(limit) = give_up_after {
                    let failed = tally.counters().failed;
                    if failed >= limit {
                        tally.add(|c| c.failed += 1);
                        tally.note(format!(
                            "not attempted: {limit} connections of this shard had failed (--give-up-after)"
                        ));
                        return None;
                    }
                }
                match tokio::time::timeout(OPEN_LIMIT, open(&target, source, protocol, &tally))
                    .await
                    .unwrap_or_else(|_| {
                        Err(ClientError::Timeout {
                            what: "connect, handshake and tools/list",
                            secs: OPEN_LIMIT.as_secs(),
                        })
                    }) {
                    Ok(c) => c,
                    Err(e) => {
                        tally.add(|c| c.failed += 1);
                        tally.note(e.to_string());
                        return None;
                    }
                }
            };
            tally.add(|c| c.connected += 1);
            let start = loop {
                if let Some(t) = *go.borrow() {
                    break t;
                }
                if go.changed().await.is_err() {
                    return None;
                }
            };
            calls(
                &mut conn,
                &call,
                (&target, source),
                Schedule::of_connection(k, start, interval, run_for),
                &tally,
            )
            .await;
            // Stays open until every connection of this shard is done, so the
            // load keeps its concurrency to the end.
            Some(conn)
        }));
    }

    // Progress: a JSON line each second for the harness, a line for a person
    // every 5 s otherwise.
    let say = |phase: Phase| {
        if harnessed {
            println!(
                "{}",
                serde_json::to_string(&tally.report(phase)).unwrap_or_default()
            );
        } else {
            let c = tally.counters();
            println!(
                "shard {spec}: {}: connected {}/{count}, failed {}, sent {}, answered {}, {:.0} s",
                format!("{phase:?}").to_lowercase(),
                c.connected,
                c.failed,
                c.sent,
                c.answered,
                began.elapsed().as_secs_f64()
            );
        }
    };
    let every = Duration::from_secs(if harnessed { 1 } else { 5 });
    let mut last = None::<Instant>;
    loop {
        let c = tally.counters();
        if c.connected + c.failed >= count {
            break;
        }
        if last.is_none_or(|t| t.elapsed() >= every) {
            say(Phase::Connecting);
            last = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_s = began.elapsed().as_secs_f64();
    say(Phase::Connected);
    let start_at = match plan.start_at {
        Some(at) if !harnessed => at,
        _ => match stdin.next_line().await {
            // EOF means the harness is gone.
            Ok(Some(line)) => match ToChild::parse(&line)? {
                ToChild::Go { at } => at,
                other => {
                    return Err(LoadError::Run(format!(
                        "expected the start on stdin, got {other:?}"
                    )));
                }
            },
            _ => return Err(LoadError::Run("stdin closed before the start".into())),
        },
    };
    // The wall-clock start as a monotonic instant; a shard that is late starts
    // now and records by how much.
    let (now_wall, now) = (SystemTime::now(), tokio::time::Instant::now());
    if !harnessed && let Ok(ahead) = start_at.0.duration_since(now_wall) {
        println!(
            "shard {spec}: waiting for the common start {start_at} (in {:.1} s)",
            ahead.as_secs_f64()
        );
    }
    let (start, start_offset_ns) = match start_at.0.duration_since(now_wall) {
        Ok(ahead) => (now + ahead, 0),
        Err(late) => (
            now,
            i64::try_from(late.duration().as_nanos()).unwrap_or(i64::MAX),
        ),
    };
    if start_offset_ns > 0 && !harnessed {
        println!(
            "shard {spec}: connected {:.1} s after --start-at {start_at}: starting now",
            start_offset_ns as f64 / 1e9
        );
    }
    let _ = go_tx.send(Some(start));
    let all = join_all(tasks);
    tokio::pin!(all);
    let mut tick = tokio::time::interval(every);
    let open = loop {
        tokio::select! {
            open = &mut all => break open,
            _ = tick.tick() => say(Phase::Running),
            line = stdin.next_line(), if harnessed => if !matches!(line, Ok(Some(_))) {
                return Err(LoadError::Run("stdin closed during the run".into()));
            },
        }
    };
    let run_s = tokio::time::Instant::now()
        .saturating_duration_since(start)
        .as_secs_f64();
    let mut file = ShardFile {
        schema: SHARD_SCHEMA.into(),
        run: ShardRun {
            requested: requested(plan, &target),
            shards: spec.of,
            start_at: start_at.to_string(),
        },
        index: spec.index,
        host: host_name(),
        first_connection: first,
        connections: count,
        open_file_limit: limit,
        connect_s,
        start_offset_ns,
        run_s,
        complete: false,
        counters: tally.counters(),
        errors: tally.errors(),
        histograms: tally.histograms(),
    };
    let path = plan
        .out
        .clone()
        .unwrap_or_else(|| crate::output::shard_file(&crate::output::default_dir(), spec.index));
    // Written before the sessions end too: a shard stopped while ending them
    // leaves its calls counted, marked incomplete.
    mcpbench_files::write_json(&path, &file, true)?;
    if !plan.abandon {
        // Every session ends (at most `connect_concurrency` DELETEs at once, each
        // bounded by GRACE), then the connections close with the process.
        let ends = open.into_iter().map(|conn| {
            let (tally, gate, target) = (tally.clone(), gate.clone(), target.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire().await;
                let end = conn.end(&tally, &target, source);
                if tokio::time::timeout(GRACE, end).await.is_err() {
                    tally.add(|c| c.delete_failed += 1);
                    tally.note("DELETE: no answer".into());
                }
            })
        });
        for end in ends.collect::<Vec<_>>() {
            let _ = end.await;
        }
    }
    file.complete = true;
    file.counters = tally.counters();
    file.errors = tally.errors();
    let line = mcpbench_files::write_json(&path, &file, true)?;
    if harnessed {
        say(Phase::Done);
    } else {
        println!("shard {spec}: wrote {}", path.display());
        println!("{SHARD_LINE_PREFIX}{line}");
    }
    Ok(())
}

/// What the whole run asked for, as every shard of it records it.
pub fn requested(plan: &Plan, target: &Target) -> Requested {
    Requested {
        connections: plan.count,
        rate_per_connection: plan.rate,
        duration_s: plan.duration,
        result_bytes: plan.size as u64,
        server: FileServerKind::External,
        transport: if target.is_http() {
            Transport::Http
        } else {
            Transport::Tcp
        },
        target: target.to_string(),
        protocol: if target.is_http() {
            plan.protocol.name().into()
        } else {
            "tcp".into()
        },
        tool: plan.tool.clone(),
        arguments: plan.arguments.clone(),
        abandon: plan.abandon,
    }
}

/// This machine's name (a pod's name in Kubernetes), for messages naming a shard.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Awaits every task; returns what they returned (a task that panicked counts as
/// `None`).
async fn join_all<T>(tasks: Vec<tokio::task::JoinHandle<Option<T>>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(Some(v)) = t.await {
            out.push(v);
        }
    }
    out
}

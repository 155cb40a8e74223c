//! One shard (`connections --shard I/N`): opens its slice of the connections
//! (each: connect, initialize or discover, tools/list, each step timed), waits
//! for the common start (`--start-at`, or [`ToChild::Go`] on stdin from the local
//! harness, which sends the plan itself the same way), runs every connection's calls open-loop from it, ends the sessions
//! (DELETE) unless told to abandon them, and writes its [`ShardFile`].

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mcpbench_files::shard::{SHARD_LINE_PREFIX, SHARD_SCHEMA, ShardFile, ShardRun};
use mcpbench_files::{Requested, ServerKind as FileServerKind, Transport};

use mcpbench_netio::Client;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::cli::{Plan, Protocol};
use crate::counters::{Phase, Step, Tally};
use crate::http_client::{Generation, HttpMcp};
use crate::schedule::{GRACE, Schedule};
use crate::socket::{bind_source, open_file_limit};
use crate::target::Target;
use crate::wire::ToChild;

/// The shard's stdin, line by line.
type StdinLines = tokio::io::Lines<BufReader<tokio::io::Stdin>>;

/// Longest a connection may take to connect, start and list the tools.
const OPEN_LIMIT: Duration = Duration::from_secs(60);

/// What every call sends.
struct Call {
    tool: String,
    arguments: String,
}

/// One MCP connection, of either transport.
enum McpConn {
    Tcp(Client),
    Http(Box<HttpMcp>),
}

impl McpConn {
    /// Calls the tool once: `Ok(Ok(()))` answered with a result, `Ok(Err(why))`
    /// answered otherwise, `Err(why)` the connection broke. An HTTP connection the
    /// server closed between requests (its keep-alive timeout: uvicorn's is 5 s)
    /// is opened again first, as an HTTP client would, and counted.
    async fn call(
        &mut self,
        n: u64,
        call: &Call,
        reopen: (&Target, Option<IpAddr>),
        tally: &Tally,
    ) -> Result<Result<(), String>, String> {
        if let McpConn::Http(h) = self
            && h.is_closed()
        {
            let stream = connect(reopen.0, reopen.1).await?;
            h.reconnect(stream).await?;
            tally.add(|c| c.reconnects += 1);
        }
        match self {
            McpConn::Tcp(c) => {
                let request = format!(
                    r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"{}","arguments":{}}}}}"#,
                    n + 1,
                    call.tool,
                    call.arguments
                );
                let reply = c
                    .call(request.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                if crate::http_client::is_success(&reply) {
                    Ok(Ok(()))
                } else {
                    Ok(Err(format!(
                        "error reply: {}",
                        String::from_utf8_lossy(&reply[..reply.len().min(120)])
                    )))
                }
            }
            McpConn::Http(h) => {
                let reply = h.call_tool(&call.tool, &call.arguments).await?;
                Ok(if reply.is_result() {
                    Ok(())
                } else {
                    Err(format!("error reply: {}", reply.why()))
                })
            }
        }
    }

    /// Ends the session (HTTP, handshake generation with a session id) and counts
    /// how that went. A connection that broke (a call given up at the deadline
    /// leaves it unusable) is opened again for the DELETE, as a real client would.
    async fn end(self, tally: &Tally, target: &Target, source: Option<IpAddr>) {
        let McpConn::Http(mut h) = self else { return };
        let mut outcome = h.delete().await;
        if let Some(Err(_)) = outcome {
            if let Ok(stream) = connect(target, source).await {
                if h.reconnect(stream).await.is_ok() {
                    outcome = h.delete().await;
                }
            }
        }
        match outcome {
            None => {}
            Some(Ok(200..=204)) => tally.add(|c| c.deleted += 1),
            Some(Ok(status)) => {
                tally.add(|c| c.delete_failed += 1);
                tally.note(format!("DELETE: HTTP {status}"));
            }
            Some(Err(e)) => {
                tally.add(|c| c.delete_failed += 1);
                tally.note(format!("DELETE: {e}"));
            }
        }
    }
}

/// Runs one shard (`mcpbench-load connections --shard I/N ...`): its slice of the
/// connections, from the common start, ending in its shard file.
pub async fn run(plan: Plan) -> ExitCode {
    let stdin = BufReader::new(tokio::io::stdin()).lines();
    exit_code(shard(&plan, stdin).await)
}

fn exit_code(r: Result<(), String>) -> ExitCode {
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
pub async fn plan_from_stdin() -> Result<(Plan, StdinLines), String> {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let line = match stdin.next_line().await {
        Ok(Some(line)) => line,
        Ok(None) => return Err("child: stdin closed before a plan came".into()),
        Err(e) => return Err(format!("child: cannot read stdin: {e}")),
    };
    match ToChild::parse(&line)? {
        ToChild::Plan { plan } => {
            plan.check()
                .map_err(|e| format!("the plan on stdin: {e}"))?;
            Ok((*plan, stdin))
        }
        other => Err(format!(
            "child: the first line on stdin must be the plan, got {other:?}"
        )),
    }
}

/// Runs a shard whose plan came on stdin (the rest of stdin carries its start).
pub async fn run_with(plan: Plan, stdin: StdinLines) -> ExitCode {
    exit_code(shard(&plan, stdin).await)
}

async fn shard(plan: &Plan, mut stdin: StdinLines) -> Result<(), String> {
    let (Some(spec), Some(target)) = (plan.shard, plan.target.clone()) else {
        return Err("--shard needs --target".into());
    };
    let (first, count) = spec.slice(plan.count);
    let limit = open_file_limit().unwrap_or(1024);
    if count > limit.saturating_sub(200) {
        return Err(format!(
            "shard {spec} would hold {count} of the {} connections; one process may hold {} here (open-file limit {limit} − 200): use more shards",
            plan.count,
            limit.saturating_sub(200)
        ));
    }
    let source = plan.source;
    let harnessed = plan.go_on_stdin;
    let target = Arc::new(target);
    let call = Arc::new(Call {
        tool: plan.tool.clone(),
        arguments: plan.arguments.clone(),
    });
    let tally = Arc::new(Tally::default());
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
                        Err(format!(
                            "no connect, handshake and tools/list within {} s",
                            OPEN_LIMIT.as_secs()
                        ))
                    }) {
                    Ok(c) => c,
                    Err(e) => {
                        tally.add(|c| c.failed += 1);
                        tally.note(e);
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
                other => return Err(format!("expected the start on stdin, got {other:?}")),
            },
            _ => return Err("stdin closed before the start".into()),
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
                return Err("stdin closed during the run".into());
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
    write_shard(&path, &file)?;
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
    let line = write_shard(&path, &file)?;
    if harnessed {
        say(Phase::Done);
    } else {
        println!("shard {spec}: wrote {}", path.display());
        println!("{SHARD_LINE_PREFIX}{line}");
    }
    Ok(())
}

/// Writes `file` to `path` whole (a temporary file renamed over it); returns its
/// one-line JSON.
fn write_shard(path: &std::path::Path, file: &ShardFile) -> Result<String, String> {
    let line = serde_json::to_string(file).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let part = path.with_extension("json.part");
    std::fs::write(&part, format!("{line}\n"))
        .and_then(|()| std::fs::rename(&part, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(line)
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

/// One connection's calls, open-loop: each is sent at its due time (or as soon as
/// the previous reply is in, when late) and its latency counts from the due time.
async fn calls(
    conn: &mut McpConn,
    call: &Call,
    reopen: (&Target, Option<IpAddr>),
    schedule: Schedule,
    tally: &Tally,
) {
    let due = schedule.due();
    tally.add(|c| c.due += due);
    let deadline = schedule.end + GRACE;
    let mut answered = 0;
    for n in 0..due {
        let at = schedule.at(n);
        if tokio::time::Instant::now() > deadline {
            tally.add(|c| c.not_sent += due - n);
            tally.censor(&schedule, n, due, deadline);
            break;
        }
        tokio::time::sleep_until(at).await;
        tally.add(|c| c.sent += 1);
        match tokio::time::timeout_at(deadline, conn.call(n, call, reopen, tally)).await {
            Ok(Ok(Ok(()))) => {
                answered += 1;
                let now = tokio::time::Instant::now();
                tally.add(|c| {
                    c.answered += 1;
                    c.answered_in_run += u64::from(now <= schedule.end);
                });
                tally.record(now.duration_since(at).as_nanos() as u64);
            }
            Ok(Ok(Err(why))) => {
                tally.add(|c| c.error_replies += 1);
                tally.note(why);
            }
            Ok(Err(e)) => {
                tally.add(|c| {
                    c.unanswered += 1;
                    c.not_sent += due - n - 1;
                });
                tally.note(format!("connection: {e}"));
                break;
            }
            Err(_) => {
                tally.add(|c| {
                    c.unanswered += 1;
                    c.not_sent += due - n - 1;
                });
                tally.censor(&schedule, n, due, deadline);
                tally.note(format!("no reply by the run's end + {} s", GRACE.as_secs()));
                break;
            }
        }
    }
    tally.add(|c| match due {
        0 => c.no_calls_due += 1,
        _ if answered == due => c.fully_answered += 1,
        _ => c.short += 1,
    });
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

/// Connects from `source`, starts the MCP conversation (`initialize` +
/// `notifications/initialized`, or `server/discover`), then `tools/list`; each
/// step timed into its histogram.
async fn open(
    target: &Target,
    source: Option<IpAddr>,
    protocol: Protocol,
    tally: &Tally,
) -> Result<McpConn, String> {
    let t = Instant::now();
    let stream = connect(target, source).await?;
    tally.record_step(Step::Connect, t.elapsed().as_nanos() as u64);
    match target {
        Target::Tcp { .. } => open_tcp(Client::from_stream(stream, 1 << 20), tally).await,
        Target::Http {
            authority, path, ..
        } => {
            let mut h = HttpMcp::handshake_http(stream, authority, path).await?;
            let t = Instant::now();
            h.start(protocol).await?;
            tally.record_step(Step::Handshake, t.elapsed().as_nanos() as u64);
            match h.generation() {
                Generation::Stateless => tally.add(|c| c.stateless += 1),
                Generation::Handshake { .. } => tally.add(|c| c.handshake += 1),
            }
            let t = Instant::now();
            let listed = h
                .list_tools()
                .await
                .map_err(|e| format!("tools/list: {e}"))?;
            if !listed.is_result() {
                return Err(format!("tools/list refused: {}", listed.why()));
            }
            tally.record_step(Step::ToolsList, t.elapsed().as_nanos() as u64);
            Ok(McpConn::Http(Box::new(h)))
        }
    }
}

/// A TCP connection to `target` (from `source` when given), `TCP_NODELAY` set.
async fn connect(target: &Target, source: Option<IpAddr>) -> Result<tokio::net::TcpStream, String> {
    let socket = match source {
        Some(source) => bind_source(source).map_err(|e| format!("bind {source}: {}", e.kind()))?,
        None => if target.addr().is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(|e| format!("socket: {}", e.kind()))?,
    };
    let stream = socket
        .connect(target.addr())
        .await
        .map_err(|e| format!("connect: {}", e.kind()))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    Ok(stream)
}

/// `initialize`, `notifications/initialized` and `tools/list` over TCP.
async fn open_tcp(mut c: Client, tally: &Tally) -> Result<McpConn, String> {
    let t = Instant::now();
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpbench-load","version":"1"}}}"#;
    let reply = c
        .call(init.as_bytes())
        .await
        .map_err(|e| format!("initialize: {e}"))?;
    if memchr::memmem::find(&reply, b"\"result\":").is_none() {
        return Err(format!(
            "initialize refused: {}",
            String::from_utf8_lossy(&reply)
        ));
    }
    c.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .map_err(|e| e.to_string())?;
    c.flush().await.map_err(|e| format!("initialized: {e}"))?;
    tally.record_step(Step::Handshake, t.elapsed().as_nanos() as u64);
    tally.add(|c| c.handshake += 1);
    let t = Instant::now();
    let reply = c
        .call(br#"{"jsonrpc":"2.0","id":0,"method":"tools/list"}"#)
        .await
        .map_err(|e| format!("tools/list: {e}"))?;
    if memchr::memmem::find(&reply, b"\"result\":").is_none() {
        return Err(format!(
            "tools/list refused: {}",
            String::from_utf8_lossy(&reply[..reply.len().min(120)])
        ));
    }
    tally.record_step(Step::ToolsList, t.elapsed().as_nanos() as u64);
    Ok(McpConn::Tcp(c))
}

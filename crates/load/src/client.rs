//! One client process: opens its share of the connections from its own source
//! address, reports progress as JSON lines on stdout, waits for "go" on stdin, then
//! runs every connection's calls open-loop.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mcpbench_netio::Client;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Semaphore, watch};

use crate::cli::ClientArgs;
use crate::counters::{Phase, Tally};
use crate::schedule::{GRACE, Schedule};
use crate::socket::bind_source;

/// Runs one client process (`mcpbench-load client ...`).
pub async fn run(args: ClientArgs) -> ExitCode {
    let ClientArgs {
        server,
        source,
        count,
        rate,
        duration,
        connect_concurrency,
    } = args;
    let tally = Arc::new(Tally::default());
    let (go_tx, go_rx) = watch::channel::<Option<tokio::time::Instant>>(None);
    let gate = Arc::new(Semaphore::new(connect_concurrency.max(1)));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let run_for = Duration::from_secs_f64(duration);

    let mut tasks = Vec::with_capacity(count as usize);
    for k in 0..count {
        let (tally, gate, mut go) = (tally.clone(), gate.clone(), go_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = {
                let _permit = gate.acquire().await;
                match open(server, source).await {
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
                Schedule::of_connection(k, start, interval, run_for),
                &tally,
            )
            .await;
            // Stays open until every connection of this process is done, so the
            // load keeps its concurrency to the end.
            Some(conn)
        }));
    }

    let say = |phase: Phase| {
        println!(
            "{}",
            serde_json::to_string(&tally.report(phase)).unwrap_or_default()
        )
    };
    // Connect phase, with a progress line every second.
    loop {
        let c = tally.counters();
        if c.connected + c.failed >= count {
            break;
        }
        say(Phase::Connecting);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    say(Phase::Connected);
    // Wait for "go" on stdin; EOF means the harness is gone: exit.
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    match stdin.next_line().await {
        Ok(Some(line)) if line.trim() == "go" => {}
        _ => return ExitCode::FAILURE,
    }
    let _ = go_tx.send(Some(tokio::time::Instant::now()));
    let all = join_all(tasks);
    tokio::pin!(all);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let _open = loop {
        tokio::select! {
            open = &mut all => break open,
            _ = tick.tick() => say(Phase::Running),
            line = stdin.next_line() => if !matches!(line, Ok(Some(_))) { return ExitCode::FAILURE },
        }
    };
    say(Phase::Done);
    ExitCode::SUCCESS
}

/// One connection's calls, open-loop: each is sent at its due time (or as soon as
/// the previous reply is in, when late) and its latency counts from the due time.
async fn calls(conn: &mut Client, schedule: Schedule, tally: &Tally) {
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
        let request = format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"text","arguments":{{}}}}}}"#,
            n + 1
        );
        tally.add(|c| c.sent += 1);
        match tokio::time::timeout_at(deadline, conn.call(request.as_bytes())).await {
            Ok(Ok(reply)) if memchr::memmem::find(&reply, b"\"result\":").is_some() => {
                answered += 1;
                let now = tokio::time::Instant::now();
                tally.add(|c| {
                    c.answered += 1;
                    c.answered_in_run += u64::from(now <= schedule.end);
                });
                tally.record(now.duration_since(at).as_nanos() as u64);
            }
            Ok(Ok(reply)) => {
                tally.add(|c| c.error_replies += 1);
                tally.note(format!(
                    "error reply: {}",
                    String::from_utf8_lossy(&reply[..reply.len().min(120)])
                ));
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

/// Connects from `source`, then `initialize` and `notifications/initialized`.
async fn open(server: SocketAddr, source: IpAddr) -> Result<Client, String> {
    let socket = bind_source(source).map_err(|e| format!("bind {source}: {}", e.kind()))?;
    let stream = socket
        .connect(server)
        .await
        .map_err(|e| format!("connect: {}", e.kind()))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let mut c = Client::from_stream(stream, 1 << 20);
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
    Ok(c)
}

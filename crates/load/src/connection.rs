//! One virtual client: its connection (TCP or Streamable HTTP, reopened when
//! the server closed it between requests), opened and timed phase by phase, and
//! its calls, open-loop.

use std::net::IpAddr;
use std::time::Duration;

use mcpbench_netio::Client;
use tokio::time::Instant;

use crate::cli::Protocol;
use crate::client_error::{Answer, ClientError};
use crate::counters::{Step, Tally};
use crate::http_client::{Generation, HttpMcp};
use crate::schedule::{GRACE, Schedule};
use crate::socket::bind_source;
use crate::target::Target;

/// Longest a connection may take to connect, start and list the tools.
pub(crate) const OPEN_LIMIT: Duration = Duration::from_secs(60);

/// What every call sends.
pub(crate) struct Call {
    pub(crate) tool: String,
    pub(crate) arguments: String,
}

/// One MCP connection, of either transport.
pub(crate) enum McpConn {
    Tcp(Client),
    Http(Box<HttpMcp>),
}

impl McpConn {
    /// Calls the tool once: how it was answered, or `Err` when the connection
    /// broke. An HTTP connection the
    /// server closed between requests (its keep-alive timeout: uvicorn's is 5 s)
    /// is opened again first, as an HTTP client would, and counted.
    pub(crate) async fn call(
        &mut self,
        n: u64,
        call: &Call,
        reopen: (&Target, Option<IpAddr>),
        tally: &Tally,
    ) -> Result<Answer, ClientError> {
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
                    .map_err(|e| ClientError::Broken(e.to_string()))?;
                if crate::http_client::is_success(&reply) {
                    Ok(Answer::Result(reply.len()))
                } else {
                    Ok(Answer::Error(format!(
                        "error reply: {}",
                        String::from_utf8_lossy(&reply[..reply.len().min(120)])
                    )))
                }
            }
            McpConn::Http(h) => {
                let reply = h.call_tool(&call.tool, &call.arguments).await?;
                Ok(if reply.is_result() {
                    Answer::Result(reply.json.len())
                } else {
                    Answer::Error(format!("error reply: {}", reply.why()))
                })
            }
        }
    }

    /// Ends the session (HTTP, handshake generation with a session id) and counts
    /// how that went. A connection that broke (a call given up at the deadline
    /// leaves it unusable) is opened again for the DELETE, as a real client would.
    pub(crate) async fn end(self, tally: &Tally, target: &Target, source: Option<IpAddr>) {
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

/// One connection's calls, open-loop: each is sent at its due time (or as soon as
/// the previous reply is in, when late) and its latency counts from the due time.
pub(crate) async fn calls(
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
        let from = crate::schedule::wait_until_due(at).await;
        tally.add(|c| c.sent += 1);
        match tokio::time::timeout_at(deadline, conn.call(n, call, reopen, tally)).await {
            Ok(Ok(Answer::Result(bytes))) => {
                answered += 1;
                let now = tokio::time::Instant::now();
                tally.add(|c| {
                    c.answered += 1;
                    c.reply_bytes += bytes as u64;
                    c.answered_in_run += u64::from(now <= schedule.end);
                });
                tally.record(
                    schedule.offset(n),
                    now.duration_since(from).as_nanos() as u64,
                );
            }
            Ok(Ok(Answer::Error(why))) => {
                tally.add(|c| c.error_replies += 1);
                tally.note(why);
            }
            Ok(Err(e)) => {
                tally.add(|c| {
                    c.unanswered += 1;
                    c.not_sent += due - n - 1;
                });
                tally.note(e.to_string());
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

/// Connects from `source`, starts the MCP conversation (`initialize` +
/// `notifications/initialized`, or `server/discover`), then `tools/list`; each
/// step timed into its histogram.
pub(crate) async fn open(
    target: &Target,
    source: Option<IpAddr>,
    protocol: Protocol,
    tally: &Tally,
) -> Result<McpConn, ClientError> {
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
            let listed = h.list_tools().await.map_err(|e| e.during("tools/list"))?;
            if !listed.is_result() {
                return Err(ClientError::Refused {
                    step: "tools/list",
                    why: listed.why(),
                });
            }
            tally.record_step(Step::ToolsList, t.elapsed().as_nanos() as u64);
            Ok(McpConn::Http(Box::new(h)))
        }
    }
}

/// A TCP connection to `target` (from `source` when given), `TCP_NODELAY` set.
pub(crate) async fn connect(
    target: &Target,
    source: Option<IpAddr>,
) -> Result<tokio::net::TcpStream, ClientError> {
    let socket = match source {
        Some(source) => {
            bind_source(source).map_err(|e| ClientError::socket(format!("bind {source}"), &e))?
        }
        None => if target.addr().is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(|e| ClientError::socket("socket", &e))?,
    };
    let stream = socket
        .connect(target.addr())
        .await
        .map_err(|e| ClientError::socket("connect", &e))?;
    stream
        .set_nodelay(true)
        .map_err(|e| ClientError::socket("nodelay", &e))?;
    Ok(stream)
}

/// `initialize`, `notifications/initialized` and `tools/list` over TCP.
async fn open_tcp(mut c: Client, tally: &Tally) -> Result<McpConn, ClientError> {
    let t = Instant::now();
    initialize_tcp(&mut c).await?;
    tally.record_step(Step::Handshake, t.elapsed().as_nanos() as u64);
    tally.add(|c| c.handshake += 1);
    let t = Instant::now();
    let reply = c
        .call(br#"{"jsonrpc":"2.0","id":0,"method":"tools/list"}"#)
        .await
        .map_err(|e| ClientError::Broken(e.to_string()).during("tools/list"))?;
    if memchr::memmem::find(&reply, b"\"result\":").is_none() {
        return Err(ClientError::Refused {
            step: "tools/list",
            why: String::from_utf8_lossy(&reply[..reply.len().min(120)]).into_owned(),
        });
    }
    tally.record_step(Step::ToolsList, t.elapsed().as_nanos() as u64);
    Ok(McpConn::Tcp(c))
}

/// `initialize` and `notifications/initialized` over TCP (newline-delimited
/// JSON-RPC).
pub(crate) async fn initialize_tcp(c: &mut Client) -> Result<(), ClientError> {
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpbench-load","version":"1"}}}"#;
    let reply = c
        .call(init.as_bytes())
        .await
        .map_err(|e| ClientError::Broken(e.to_string()).during("initialize"))?;
    if memchr::memmem::find(&reply, b"\"result\":").is_none() {
        return Err(ClientError::Refused {
            step: "initialize",
            why: String::from_utf8_lossy(&reply).into_owned(),
        });
    }
    c.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .map_err(|e| ClientError::Broken(e.to_string()).during("initialized"))?;
    c.flush()
        .await
        .map_err(|e| ClientError::Broken(e.to_string()).during("initialized"))
}

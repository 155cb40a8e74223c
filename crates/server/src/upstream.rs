//! The `proxy` tool's upstream: pooled connections to another MCP server, each
//! initialized once when made, and one call through them with a deadline and its
//! own request id (a reply for another id, or a notification, is never taken for
//! this call's; a connection that timed out or failed is discarded, not
//! recycled).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use mcpbench_netio::Client;
use mcpbench_pool::{Checkout, Manager, Metrics, Pool, RecycleError, RecycleResult};
use serde_json::{Value, json};

use crate::error::ToolError;
use crate::protocol::PROTOCOL_VERSION;
use crate::tools::Tool;

/// `proxy`: calls `echo` upstream with its `text` argument, through the pool.
pub(crate) struct Proxy {
    /// The pool (`None`: no `--upstream`, every call says so).
    pub(crate) upstream: Option<Pool<Upstream>>,
    /// Each call's limit, checkout included.
    pub(crate) limit: Duration,
}

impl Tool for Proxy {
    fn name(&self) -> &'static str {
        "proxy"
    }

    fn describe(&self) -> (&'static str, Value) {
        (
            "Calls `echo` on the upstream server with its `text` argument.",
            json!({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}),
        )
    }

    fn concurrent(&self) -> bool {
        true
    }

    async fn call(&self, arguments: Option<&[u8]>) -> Result<Bytes, ToolError> {
        let pool = self.upstream.as_ref().ok_or(ToolError::NoUpstream)?;
        proxy(pool, arguments, self.limit).await
    }
}

/// A [`ToolError::Upstream`]: `upstream: {why}`.
fn upstream(why: String) -> ToolError {
    ToolError::Upstream(format!("upstream: {why}"))
}

/// Request ids sent upstream, unique per process (from 1; 0 is `initialize`).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Calls `echo` upstream with `arguments`, within `limit` (checkout included).
async fn proxy(
    pool: &Pool<Upstream>,
    arguments: Option<&[u8]>,
    limit: Duration,
) -> Result<Bytes, ToolError> {
    let arguments: Value = match arguments {
        Some(raw) => serde_json::from_slice(raw)
            .map_err(|e| ToolError::Arguments(format!("arguments: {e}")))?,
        None => Value::Null,
    };
    let start = tokio::time::Instant::now();
    let late = || upstream(format!("no reply within {} ms", limit.as_millis()));
    let mut conn = tokio::time::timeout(limit, pool.checkout())
        .await
        .map_err(|_| late())?
        .map_err(|e| upstream(e.to_string()))?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let request = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":arguments}});
    let left = limit.saturating_sub(start.elapsed());
    let reply = match tokio::time::timeout(left, exchange(&mut conn, &request, id)).await {
        Ok(Ok(reply)) => reply,
        // A connection that failed or timed out mid-call is not returned to the
        // pool: its late reply must not meet the next caller.
        Ok(Err(e)) => {
            drop(Checkout::take(conn));
            return Err(e);
        }
        Err(_) => {
            drop(Checkout::take(conn));
            return Err(late());
        }
    };
    let mut reply: Value =
        serde_json::from_slice(&reply).map_err(|e| upstream(format!("reply: {e}")))?;
    match reply.get_mut("result") {
        Some(result) => serde_json::to_vec(result)
            .map(Bytes::from)
            .map_err(|e| upstream(format!("result: {e}"))),
        None => Err(ToolError::Upstream(format!(
            "upstream error: {}",
            reply["error"]
        ))),
    }
}

/// Sends `request` and returns the response with id `id`, skipping whatever else
/// the upstream sends meanwhile (notifications, stray responses).
async fn exchange(conn: &mut Client, request: &Value, id: u64) -> Result<Bytes, ToolError> {
    conn.send(request.to_string().as_bytes())
        .map_err(|e| upstream(e.to_string()))?;
    conn.flush().await.map_err(|e| upstream(e.to_string()))?;
    loop {
        let frame = conn
            .recv()
            .await
            .map_err(|e| upstream(e.to_string()))?
            .ok_or_else(|| upstream("closed the connection before answering".into()))?;
        let answers_us = serde_json::from_slice::<Value>(&frame)
            .ok()
            .is_some_and(|v| {
                v.get("id").and_then(Value::as_u64) == Some(id)
                    && (v.get("result").is_some() || v.get("error").is_some())
            });
        if answers_us {
            return Ok(frame);
        }
    }
}

/// Pooled connections to an upstream MCP server, initialized once when made.
pub struct Upstream {
    pub(crate) addr: SocketAddr,
}

impl Manager for Upstream {
    type Type = Client;
    type Error = io::Error;

    async fn create(&self) -> io::Result<Client> {
        let mut client = Client::connect(self.addr).await?;
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name":"mcpbench-proxy","version":env!("CARGO_PKG_VERSION")}}});
        let reply = exchange(&mut client, &init, 0)
            .await
            .map_err(io::Error::other)?;
        let reply: Value = serde_json::from_slice(&reply).map_err(io::Error::other)?;
        if reply.get("result").is_none() {
            return Err(io::Error::other(format!(
                "upstream refused initialize: {reply}"
            )));
        }
        client
            .send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .map_err(io::Error::other)?;
        client.flush().await?;
        Ok(client)
    }

    async fn recycle(&self, conn: &mut Client, _: &Metrics) -> RecycleResult<io::Error> {
        let mut probe = [0u8; 1];
        match conn.stream().try_read(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Ok(0) => Err(RecycleError::message("upstream closed the connection")),
            Ok(_) => Err(RecycleError::message(
                "unexpected bytes on an idle upstream connection",
            )),
            Err(e) => Err(RecycleError::Backend(e)),
        }
    }
}

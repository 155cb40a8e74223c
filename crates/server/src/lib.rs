#![forbid(unsafe_code)]
//! A small MCP server made of the five mcpbench components, to load-test.
//!
//! Newline-delimited JSON-RPC over TCP (`mcpbench-netio`). One MCP session per
//! connection (`mcpbench-session`): `initialize` creates it, the connection's end
//! removes it. `tools/call` is routed by tool name through the route table
//! (`mcpbench-registry`) into the tool's mailbox (`mcpbench-queue`); the tool's
//! worker answers through the in-flight table. The `proxy` tool forwards to an
//! upstream MCP server over pooled connections (`mcpbench-pool`).
//!
//! Methods: `initialize`, `notifications/initialized`, `ping`, `tools/list`,
//! `tools/call`, and `mcpbench/stats` (sessions, allocator-counted heap, RSS: what
//! the load harness reads). Tools: `echo` (returns `arguments.text`), `text` (returns a text of
//! [`Settings::result_size`] bytes, 4 KiB by default: the seed's message size),
//! `proxy` (calls `echo` upstream). Errors: -32601 unknown method, -32602 unknown
//! tool or bad params, -32600 a request before `initialize` or a second
//! `initialize`, -32603 a tool that did not answer in time (a full tool queue makes
//! the connection wait, in arrival order: back-pressure, not an error); a
//! tool that fails answers with `isError: true`.
//!
//! A `tools/call` whose tool answers within one yield (echo, text) is answered at
//! once; otherwise (proxy) from a task of its own through netio's deferred replies,
//! so the requests of one connection are served concurrently and their replies come
//! back in completion order (ids correlate them).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mcpbench_netio::Client;
//! use mcpbench_server::{Settings, start};
//!
//! let server = start("127.0.0.1:0".parse()?, Settings::default()).await?;
//! let mut client = Client::connect(server.local_addr()).await?;
//! let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"doc","version":"1"}}}"#;
//! let reply: serde_json::Value = serde_json::from_slice(&client.call(init.as_bytes()).await?)?;
//! assert_eq!(reply["result"]["serverInfo"]["name"], "mcpbench-server");
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dashmap::DashMap;
use mcpbench_files::ServerStats;
use mcpbench_netio::{
    CloseReason, Conn, Handler, Message, MessageKind, RequestId, codes, error_response,
};
use mcpbench_pool::{Pool, PoolConfig};
use mcpbench_queue::Mailbox;
use mcpbench_registry::{Answer, InFlight, Registry, RouteKey};
use mcpbench_session::{ClientInfo, NewSession, SessionId, SessionStore};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub mod bare;
pub mod bare_http;
pub mod http;
mod running;
mod tools;
mod upstream;

pub use running::{Running, start, start_http};
use tools::{Tool, ToolCall, echo, result_text, text_content};
pub use upstream::Upstream;
use upstream::proxy;

/// Most bytes of `clientInfo` and `capabilities` a session keeps; a larger
/// `initialize` is refused with -32602.
pub const MAX_SESSION_BYTES: usize = 8 * 1024;

/// The handshake-generation revision this server prefers.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// Handshake-generation revisions this server speaks: `initialize` answers with
/// the client's when it is one of these, else with [`PROTOCOL_VERSION`].
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// The `serverInfo` (2025) and `serverInfo` of `server/discover` (2026) alike.
pub(crate) fn server_info() -> Value {
    json!({"name": "mcpbench-server", "version": env!("CARGO_PKG_VERSION")})
}

/// What [`McpServer::serve`] gives back.
pub(crate) enum Served {
    /// The reply.
    Now(Bytes),
    /// A tool call under way: its key and where its answer arrives.
    Call {
        call: u64,
        answer: Answer<Result<Bytes, String>>,
    },
}

/// An `initialize` refused: the reply, and whether the session table was full.
pub(crate) struct Refused {
    pub(crate) full: bool,
    pub(crate) reply: Bytes,
}

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bytes of text the `text` tool returns.
    pub result_size: usize,
    /// Most sessions at once; `initialize` beyond it gets an error.
    pub max_sessions: usize,
    /// The upstream MCP server the `proxy` tool calls, if any.
    pub upstream: Option<SocketAddr>,
    /// Connections to the upstream at most.
    pub upstream_connections: usize,
    /// Messages a tool's mailbox holds; beyond it a connection with a call for that
    /// tool waits for room, in arrival order (and reads nothing meanwhile).
    pub tool_queue: usize,
    /// Longest a call waits for its tool.
    pub call_timeout: Duration,
    /// Share the listening port with other processes (`SO_REUSEPORT`).
    pub reuse_port: bool,
    /// A session unused for this long expires (HTTP: its id then gets 404).
    pub session_ttl: Duration,
    /// Deadlines and caps of every connection (TCP: a connection must send
    /// `initialize` within `handshake`).
    pub guards: mcpbench_netio::Guards,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            result_size: 4096,
            max_sessions: 200_000,
            upstream: None,
            upstream_connections: 16,
            tool_queue: 4096,
            call_timeout: Duration::from_secs(10),
            reuse_port: false,
            session_ttl: Duration::from_secs(30 * 60),
            guards: mcpbench_netio::Guards {
                handshake: Some(Duration::from_secs(10)),
                ..mcpbench_netio::Guards::default()
            },
        }
    }
}

/// The MCP server's state: a netio [`Handler`].
pub struct McpServer {
    /// This server, for the tasks that answer deferred calls.
    me: std::sync::Weak<McpServer>,
    settings: Settings,
    sessions: SessionStore,
    by_connection: DashMap<u64, SessionId>,
    tools: Registry<ToolCall>,
    /// One gate per tool with as many permits as its mailbox has slots: calls wait
    /// for a slot in arrival order (tokio's semaphore hands a freed permit to the
    /// longest waiter), where waiting on the full mailbox itself would let newcomers
    /// take slots freed for earlier callers (`Mailbox::push` is not FIFO).
    gates: Vec<(&'static str, Arc<Semaphore>)>,
    /// Answers are the serialized `result` member (or why the tool failed).
    in_flight: InFlight<u64, Result<Bytes, String>>,
    next_call: AtomicU64,
    /// Sessions ended by expiry so far.
    expired: AtomicU64,
    /// The `text` tool's result, serialized once: escaping a 4 KiB string per call
    /// was a quarter of the server's time under load (flamegraph, 20K connections).
    text: Bytes,
}

pub(crate) fn result(id: &RequestId, result: Value) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&json!({"jsonrpc":"2.0","id":id,"result":result})).unwrap_or_default(),
    )
}

/// A response whose `result` member is already serialized.
fn result_raw(id: &RequestId, raw: &[u8]) -> Bytes {
    let id = serde_json::to_vec(id).unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len() + id.len() + 40);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(&id);
    out.extend_from_slice(br#","result":"#);
    out.extend_from_slice(raw);
    out.push(b'}');
    Bytes::from(out)
}

/// The in-flight table's expiry is a backstop for a tool that never answers; it
/// comes this long after the call timeout, so a tool that enforces the timeout
/// itself (the proxy: "no reply within N ms") is the one that answers, not a race
/// between the two (which the proxy test lost once in CI).
const BACKSTOP_GRACE: Duration = Duration::from_millis(250);

#[derive(Deserialize)]
struct Params<T> {
    // A missing `params` is `None` (serde's rule for Option fields).
    params: Option<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeParams {
    protocol_version: String,
    #[serde(default)]
    capabilities: Value,
    client_info: ClientInfoParams,
}

#[derive(Deserialize)]
struct ClientInfoParams {
    name: String,
    #[serde(default)]
    version: String,
}

#[derive(Deserialize)]
struct CallParams {
    name: String,
    /// Kept as the raw JSON text until a tool worker takes the call: a waiting
    /// call holds its bytes, not a `Value` tree (up to ~16x larger: `[0,0,...]`).
    #[serde(default)]
    arguments: Option<Box<serde_json::value::RawValue>>,
}

impl McpServer {
    /// How long a caller waits for its tool's answer: the call timeout plus
    /// [`BACKSTOP_GRACE`].
    pub(crate) fn answer_wait(&self) -> Duration {
        self.settings.call_timeout + BACKSTOP_GRACE
    }

    /// A server with `settings`; its tool workers run on the current tokio runtime.
    pub fn new(settings: Settings) -> Arc<McpServer> {
        let text = result_text(settings.result_size);
        let server = Arc::new_cyclic(|me| McpServer {
            me: me.clone(),
            sessions: SessionStore::new(settings.max_sessions),
            by_connection: DashMap::new(),
            tools: Registry::new(),
            gates: Tool::ALL
                .map(|t| (t.name(), Arc::new(Semaphore::new(settings.tool_queue))))
                .to_vec(),
            in_flight: InFlight::new(),
            next_call: AtomicU64::new(1),
            expired: AtomicU64::new(0),
            text: text_content(&text, false),
            settings,
        });
        let upstream = server.settings.upstream.map(|addr| {
            let config = PoolConfig {
                max_size: server.settings.upstream_connections,
                ..PoolConfig::default()
            };
            Pool::new(Upstream { addr }, &config).map_err(|e| io::Error::other(e.to_string()))
        });
        for tool in Tool::ALL {
            let mailbox = Arc::new(Mailbox::bounded(server.settings.tool_queue));
            // Each name is registered once, here: a refusal cannot happen.
            let _ = server
                .tools
                .register(RouteKey::new(tool.name()), mailbox.clone());
            let weak = Arc::downgrade(&server);
            let upstream = match &upstream {
                Some(Ok(pool)) if tool == Tool::Proxy => Some(pool.clone()),
                _ => None,
            };
            tokio::spawn(async move {
                while let Some(ToolCall {
                    call,
                    arguments,
                    _slot,
                }) = mailbox.pop().await
                {
                    // The slot is free again: the longest-waiting call takes it.
                    drop(_slot);
                    let Some(server) = weak.upgrade() else { return };
                    match tool {
                        Tool::Echo => server.answer(call, echo(arguments.as_deref())),
                        Tool::Text => server.answer(call, Ok(server.text.clone())),
                        Tool::Proxy => {
                            let upstream = upstream.clone();
                            tokio::spawn(async move {
                                let limit = server.settings.call_timeout;
                                let outcome =
                                    proxy(upstream.as_ref(), arguments.as_deref(), limit).await;
                                server.answer(call, outcome);
                            });
                        }
                    }
                }
            });
        }
        server
    }

    /// Removes expired sessions from a task of its own (HTTP only: over TCP a
    /// session lives as long as its connection), a few times per TTL (a
    /// whole-table pass per sweep, never per request; a request meeting an expired
    /// session ends it at once, see [`McpServer::touch_session`]).
    pub(crate) fn sweep_expired(self: &Arc<Self>) {
        let ttl = self.settings.session_ttl;
        let every = (ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(60));
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(server) = weak.upgrade() else { return };
                let n = server.sessions.evict_idle(Instant::now(), ttl);
                server.expired.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
    }

    /// Marks a session used now; false (and the session ended) when it has expired,
    /// false when there is no such session.
    pub(crate) fn touch_session(&self, id: &SessionId, now: Instant) -> bool {
        let ttl = self.settings.session_ttl;
        let live = self.sessions.update(id, |s| {
            let live = now.saturating_duration_since(s.last_seen) <= ttl;
            if live {
                s.last_seen = s.last_seen.max(now);
            }
            live
        });
        match live {
            Some(true) => true,
            Some(false) => {
                if self.sessions.remove(id).is_some() {
                    self.expired.fetch_add(1, Ordering::Relaxed);
                }
                false
            }
            None => false,
        }
    }

    fn answer(&self, call: u64, outcome: Result<Bytes, String>) {
        // The caller may have timed out or gone: nothing to do then.
        let _ = self.in_flight.complete(&call, outcome);
    }

    /// Sessions now open.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// What `mcpbench/stats` answers: sessions, allocator-counted live heap bytes
    /// (when the binary installed the counting allocator) and RSS.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            max_sessions: self.sessions.max_sessions() as u64,
            sessions_expired: self.expired.load(Ordering::Relaxed),
            ..McpServer::process_stats(self.sessions.len())
        }
    }

    /// [`McpServer::stats`] with the session count given: what a harness reads
    /// from any server process (the bare one has no sessions). The type is shared
    /// with the reader (`mcpbench-load`).
    pub fn process_stats(sessions: usize) -> ServerStats {
        ServerStats {
            sessions: sessions as u64,
            max_sessions: 0,
            sessions_expired: 0,
            allocator_counted: mcpbench_alloc::installed(),
            live_bytes: mcpbench_alloc::live_bytes(),
            rss_bytes: mcpbench_alloc::rss_bytes(),
            connections_refused: 0,
            closed_by_deadline: [0; 4],
        }
    }

    fn initialize(&self, id: &RequestId, msg: &Message, conn: &Conn) -> Bytes {
        if self.by_connection.contains_key(&conn.id) {
            return error_response(
                Some(id),
                codes::INVALID_REQUEST,
                "this connection is already initialized",
            );
        }
        match self.new_session(id, msg) {
            Ok((session, reply)) => {
                self.by_connection.insert(conn.id, session);
                conn.establish();
                reply
            }
            Err(refused) => refused.reply,
        }
    }

    /// `initialize`: a new session and the reply to send, or why not (the store
    /// full is told apart: HTTP answers it with 503).
    pub(crate) fn new_session(
        &self,
        id: &RequestId,
        msg: &Message,
    ) -> Result<(SessionId, Bytes), Refused> {
        let invalid = |why: &str| Refused {
            full: false,
            reply: error_response(Some(id), codes::INVALID_PARAMS, why),
        };
        let params = match serde_json::from_slice::<Params<InitializeParams>>(msg.frame()) {
            Ok(Params { params: Some(p) }) => p,
            Ok(_) => return Err(invalid("initialize needs params")),
            Err(e) => return Err(invalid(&format!("initialize params: {e}"))),
        };
        // What a session keeps of its client is bounded: a client cannot pin
        // megabytes for the session's life with a huge clientInfo or capabilities.
        let capabilities = params.capabilities.to_string();
        let kept =
            params.client_info.name.len() + params.client_info.version.len() + capabilities.len();
        if kept > MAX_SESSION_BYTES {
            return Err(invalid(&format!(
                "initialize: clientInfo and capabilities are {kept} bytes, over the limit of {MAX_SESSION_BYTES}"
            )));
        }
        // The client's revision when we speak it (the spec's rule), else our latest.
        let version = SUPPORTED_VERSIONS
            .iter()
            .find(|v| **v == params.protocol_version)
            .copied()
            .unwrap_or(PROTOCOL_VERSION);
        let new = NewSession {
            protocol_version: version.to_string(),
            client: ClientInfo {
                name: params.client_info.name,
                version: params.client_info.version,
            },
            capabilities: capabilities.into(),
        };
        let session = self
            .sessions
            .create(new, Instant::now())
            .map_err(|e| Refused {
                full: true,
                reply: error_response(Some(id), codes::INTERNAL_ERROR, &e.to_string()),
            })?;
        let reply = result(
            id,
            json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": server_info(),
            }),
        );
        Ok((session, reply))
    }

    /// Serves a request of an established session (or a stateless one): the reply
    /// now, or a tool call whose answer is on its way.
    pub(crate) async fn serve(&self, id: &RequestId, msg: &Message, method: &str) -> Served {
        Served::Now(match method {
            "ping" => result(id, json!({})),
            "mcpbench/stats" => result(id, serde_json::to_value(self.stats()).unwrap_or_default()),
            // The cache fields are required by the stateless generation and ignored
            // by the handshake one.
            "tools/list" => result(
                id,
                json!({"tools": Tool::ALL.map(Tool::describe), "resultType": "complete", "ttlMs": 0, "cacheScope": "private"}),
            ),
            "tools/call" => {
                return match self.start_call(id, msg).await {
                    Ok((call, answer)) => Served::Call { call, answer },
                    Err(reply) => Served::Now(reply),
                };
            }
            other => error_response(
                Some(id),
                codes::METHOD_NOT_FOUND,
                &format!("method not found: {other}"),
            ),
        })
    }

    /// Routes a `tools/call` to its tool; returns the call's key and where its
    /// answer will arrive, or the error reply to send at once.
    async fn start_call(
        &self,
        id: &RequestId,
        msg: &Message,
    ) -> Result<(u64, Answer<Result<Bytes, String>>), Bytes> {
        let params = match serde_json::from_slice::<Params<CallParams>>(msg.frame()) {
            Ok(Params { params: Some(p) }) => p,
            Ok(_) => {
                return Err(error_response(
                    Some(id),
                    codes::INVALID_PARAMS,
                    "tools/call needs params.name",
                ));
            }
            Err(e) => {
                return Err(error_response(
                    Some(id),
                    codes::INVALID_PARAMS,
                    &format!("tools/call params: {e}"),
                ));
            }
        };
        let key = RouteKey::new(&params.name);
        let gate = self.gates.iter().find(|(name, _)| *name == params.name);
        let (Some((_, gate)), Some(_)) = (gate, self.tools.lookup(&key)) else {
            return Err(error_response(
                Some(id),
                codes::INVALID_PARAMS,
                &format!("unknown tool: {}", params.name),
            ));
        };
        // A full tool mailbox makes this connection wait (and stop reading), in
        // arrival order: load backs up into the clients' sockets instead of failing
        // calls. The gate is never closed.
        let Ok(slot) = gate.clone().acquire_owned().await else {
            return Err(error_response(
                Some(id),
                codes::INTERNAL_ERROR,
                "tool gate closed",
            ));
        };
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        let Ok(answer) = self
            .in_flight
            .begin(call, Instant::now() + self.answer_wait())
        else {
            return Err(error_response(
                Some(id),
                codes::INTERNAL_ERROR,
                "call id reused",
            ));
        };
        // The slot guarantees room; waiting stays possible should anything else
        // fill the mailbox.
        let routed = self
            .tools
            .route_wait(
                &key,
                ToolCall {
                    call,
                    arguments: params.arguments,
                    _slot: slot,
                },
            )
            .await;
        if let Err(e) = routed {
            self.in_flight.cancel(&call);
            return Err(error_response(
                Some(id),
                codes::INTERNAL_ERROR,
                &format!("tool {}: {e}", params.name),
            ));
        }
        Ok((call, answer))
    }

    /// The reply to a call once its answer is in (or is not coming).
    pub(crate) fn finish_call(
        &self,
        id: &RequestId,
        call: u64,
        outcome: Option<Result<Bytes, String>>,
    ) -> Bytes {
        match outcome {
            Some(Ok(raw)) => result_raw(id, &raw),
            // A tool that fails answers with isError, as MCP asks (not a protocol error).
            Some(Err(why)) => result_raw(id, &text_content(&why, true)),
            None => {
                self.in_flight.cancel(&call);
                error_response(
                    Some(id),
                    codes::INTERNAL_ERROR,
                    "the tool did not answer in time",
                )
            }
        }
    }
}

impl Handler for McpServer {
    async fn handle(&self, msg: Message, conn: &Conn) -> Option<Bytes> {
        let session = self.by_connection.get(&conn.id).map(|s| *s);
        if let Some(s) = session {
            self.sessions.update(&s, |s| {
                s.last_seen = Instant::now();
                match msg.kind() {
                    MessageKind::Request => s.requests += 1,
                    _ => s.notifications += 1,
                }
            });
        }
        let method = msg.method().unwrap_or_default();
        let Some(id) = msg
            .id()
            .cloned()
            .filter(|_| msg.kind() == MessageKind::Request)
        else {
            // Notifications (and stray responses) get no reply.
            if method == "notifications/initialized"
                && let Some(s) = session
            {
                self.sessions.update(&s, |s| s.initialized = true);
            }
            return None;
        };
        let served = match method {
            "initialize" => return Some(self.initialize(&id, &msg, conn)),
            "ping" | "mcpbench/stats" => self.serve(&id, &msg, method).await,
            _ if session.is_none() => {
                return Some(error_response(
                    Some(&id),
                    codes::INVALID_REQUEST,
                    "call initialize first",
                ));
            }
            _ => self.serve(&id, &msg, method).await,
        };
        let (call, mut answer) = match served {
            Served::Now(reply) => return Some(reply),
            Served::Call { call, answer } => (call, answer),
        };
        // One yield lets a tool worker on this thread answer at once (echo, text):
        // such replies leave with the others of this read, in one write.
        tokio::task::yield_now().await;
        match answer.try_recv() {
            Ok(outcome) => Some(self.finish_call(&id, call, outcome.ok())),
            Err(_) => {
                // Not yet (proxy, a busy worker): answer from a task of its own, so
                // this connection's next requests are served meanwhile; replies go
                // out in completion order.
                let this = self.me.upgrade()?;
                let reply = conn.defer();
                let wait = self.answer_wait();
                tokio::spawn(async move {
                    let outcome = match tokio::time::timeout(wait, answer).await {
                        Ok(Ok(outcome)) => outcome.ok(),
                        _ => None,
                    };
                    reply.send(this.finish_call(&id, call, outcome));
                });
                None
            }
        }
    }

    fn closed(&self, conn: &Conn, _reason: &CloseReason) {
        if let Some((_, session)) = self.by_connection.remove(&conn.id) {
            self.sessions.remove(&session);
        }
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        // Ends the tool workers: they drain their mailbox, then stop.
        self.tools.for_each(|_, mailbox| mailbox.close());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_call_keeps_its_arguments_as_the_raw_bytes() {
        // 64 Ki zeros: as a `Value` tree ~16x the 128 KiB of text.
        let zeros = format!("[{}0]", "0,".repeat(65_535));
        let frame = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{zeros}}}}}"#
        );
        let p: Params<CallParams> = serde_json::from_str(&frame).unwrap();
        let args = p.params.unwrap().arguments.unwrap();
        assert_eq!(
            args.get().len(),
            zeros.len(),
            "the text as sent, nothing more"
        );
        let missing: Params<CallParams> =
            serde_json::from_str(r#"{"params":{"name":"echo"}}"#).unwrap();
        assert!(missing.params.unwrap().arguments.is_none());
    }

    #[test]
    fn echo_reads_its_text_from_the_raw_arguments() {
        let raw = |s: &str| serde_json::value::RawValue::from_string(s.into()).unwrap();
        assert!(echo(Some(&raw(r#"{"text":"h\u00e9"}"#))).is_ok());
        for bad in [r#"{"text":1}"#, "[]", "null"] {
            assert!(
                echo(Some(&raw(bad))).unwrap_err().contains("`text`"),
                "{bad}"
            );
        }
        assert!(echo(None).is_err());
    }
}

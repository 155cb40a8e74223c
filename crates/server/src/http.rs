//! MCP's Streamable HTTP transport over netio's HTTP/1.1 ([`HttpHandler`]), both
//! protocol generations on one endpoint, from the same session store, route
//! table, tool queues and pool as the TCP transport.
//!
//! - **Handshake generation (2025-03-26 .. 2025-11-25).** `initialize` creates a
//!   session and answers with its `Mcp-Session-Id`; every later request carries
//!   it (missing: 400; unknown, expired or deleted: 404). `MCP-Protocol-Version`,
//!   when sent, must be one we speak (else 400). Notifications and responses get
//!   202 with no body. `DELETE` ends the session. Past the session cap,
//!   `initialize` gets 503.
//! - **Stateless generation (2026-07-28)**, chosen by `MCP-Protocol-Version:
//!   2026-07-28`: no session; `Mcp-Method` (and `Mcp-Name` for `tools/call`) must
//!   match the body, and `_meta`'s protocol version the header (else 400 with
//!   JSON-RPC error -32020); `server/discover` says what the server is.
//! - Both: requests are answered as `application/json` or `text/event-stream`
//!   as `Accept` allows (406 when it allows neither; [`HttpSettings::prefer_sse`]
//!   picks SSE when both are allowed); a disallowed `Origin` gets 403; a body
//!   over the limit 413; a body that is not `application/json` 415.
//! - Server-to-client streams (`listen.rs`): in the handshake generation, `GET`
//!   with the session's id opens its stream of `notifications/resources/updated`
//!   for the resources it subscribed to (`resources/subscribe`); in the stateless
//!   one, `subscriptions/listen` is answered by a stream that stays open (its
//!   acknowledgement first), `GET` gets 405, and a method this server does not
//!   serve gets 404 with -32601.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mcpbench_netio::http::{HttpLimits, Method, Request, Response, accepts};
use mcpbench_netio::{
    Conn, HttpHandler, Message, MessageKind, ProtocolError, RequestId, codes, error_response,
};
use mcpbench_session::SessionId;
use serde::Deserialize;
use serde_json::json;

use crate::McpServer;
use crate::dispatch::{RESOURCE_NOT_FOUND, SERVED};
use crate::events::topic;
use crate::listen::{ListenParams, Listener};
use crate::protocol::{Params, SUPPORTED_VERSIONS, Served, result, server_info};
use crate::stateless_params::StatelessParams;

/// The stateless generation's revision.
pub const STATELESS_VERSION: &str = "2026-07-28";

/// JSON-RPC error of the stateless generation: a header disagrees with the body.
pub const HEADER_MISMATCH: i32 = -32020;

/// JSON-RPC error: the protocol version asked for is not one this server speaks
/// (`data` lists those it does).
pub const UNSUPPORTED_VERSION: i32 = -32022;

/// How the HTTP transport is set up.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The one endpoint (`/mcp`); any other path gets 404.
    pub endpoint: String,
    /// Answer requests as server-sent events when `Accept` allows both types
    /// (default: JSON).
    pub prefer_sse: bool,
    /// `Origin`s allowed besides loopback ones (`http://localhost:*`,
    /// `http://127.0.0.1:*`, `http://[::1]:*`); a request without `Origin` (not
    /// from a browser) is allowed.
    pub allowed_origins: Vec<String>,
    /// Largest request head and body.
    pub limits: HttpLimits,
    /// How long an open stream goes without a write before a keep-alive comment.
    pub stream_keepalive: std::time::Duration,
}

impl Default for HttpSettings {
    /// `/mcp`, JSON responses, loopback origins only, 16 KiB heads and 4 MiB
    /// bodies, a keep-alive comment after 15 s without a write on a stream.
    fn default() -> Self {
        HttpSettings {
            endpoint: "/mcp".into(),
            prefer_sse: false,
            allowed_origins: Vec::new(),
            limits: HttpLimits::default(),
            stream_keepalive: std::time::Duration::from_secs(15),
        }
    }
}

/// The MCP server behind the HTTP transport: a netio [`HttpHandler`].
pub struct McpHttp {
    state: Arc<McpServer>,
    settings: HttpSettings,
}

impl McpHttp {
    /// The transport over `state`.
    pub fn new(state: Arc<McpServer>, settings: HttpSettings) -> McpHttp {
        McpHttp { state, settings }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.settings.allowed_origins.iter().any(|o| o == origin) {
            return true;
        }
        let Some(rest) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        let host = match rest.strip_prefix("[::1]") {
            Some(after) => return after.is_empty() || is_port(after),
            None => rest.split(':').next().unwrap_or(""),
        };
        let after = &rest[host.len()..];
        matches!(host, "localhost" | "127.0.0.1") && (after.is_empty() || is_port(after))
    }

    async fn post(&self, request: &Request) -> Response {
        let json_body = request.header("content-type").is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json_body {
            return rpc_error(
                415,
                None,
                codes::INVALID_REQUEST,
                "Unsupported Media Type: Content-Type must be application/json",
            );
        }
        let accepted = accepts(request.header("accept"));
        let as_events = match accepted {
            (true, events) => events && self.settings.prefer_sse,
            (false, true) => true,
            (false, false) => {
                return rpc_error(
                    406,
                    None,
                    codes::INVALID_REQUEST,
                    "Not Acceptable: Accept must allow application/json or text/event-stream",
                );
            }
        };
        // JSON text is UTF-8 (RFC 8259, 8.1); serde_json does not look inside the
        // strings it skips, so the body is checked whole, as a TCP frame is.
        if let Err(e) = std::str::from_utf8(request.body()) {
            return Response::json(
                400,
                ProtocolError::Parse(format!(
                    "body is not valid UTF-8 (first bad byte at offset {})",
                    e.valid_up_to()
                ))
                .reply(),
            );
        }
        let msg = match Message::parse(request.body().clone()) {
            Ok(msg) => msg,
            Err(e) => return Response::json(400, e.reply()),
        };
        let reply = match request.header("mcp-protocol-version") {
            Some(STATELESS_VERSION) => self.stateless(request, &msg, accepted.1).await,
            version => self.handshake(request, &msg, version).await,
        };
        match reply {
            Reply::Accepted => Response::empty(202),
            Reply::Respond(response) => response,
            Reply::Result { body, session } => {
                let response = if as_events {
                    Response::event(200, body)
                } else {
                    Response::json(200, body)
                };
                match session {
                    Some(id) => response.with_header("mcp-session-id", id.to_string()),
                    None => response,
                }
            }
        }
    }

    /// A message of the handshake generation.
    async fn handshake(&self, request: &Request, msg: &Message, version: Option<&str>) -> Reply {
        let state = &self.state;
        let id = msg.id().filter(|_| msg.kind() == MessageKind::Request);
        if let Some(v) = version
            && !SUPPORTED_VERSIONS.contains(&v)
        {
            return Reply::Respond(unsupported_version(id, v));
        }
        let method = msg.method().unwrap_or_default();
        if let Some(id) = id
            && method == "initialize"
        {
            return match state.new_session(id, msg, true) {
                Ok((session, body)) => Reply::Result {
                    body,
                    session: Some(session),
                },
                Err(refused) => Reply::Respond(Response::json(
                    if refused.full { 503 } else { 400 },
                    refused.reply,
                )),
            };
        }
        let session = match self.session(request, id) {
            Ok(session) => session,
            Err(response) => return Reply::Respond(response),
        };
        let Some(id) = id else {
            if method == "notifications/initialized" {
                state.sessions.update(&session, |s| s.initialized = true);
            }
            state.sessions.update(&session, |s| s.notifications += 1);
            return Reply::Accepted;
        };
        state.sessions.update(&session, |s| s.requests += 1);
        if let Some(on) = match method {
            "resources/subscribe" => Some(true),
            "resources/unsubscribe" => Some(false),
            _ => None,
        } {
            return Reply::result(self.subscribe(id, msg, &session, on));
        }
        Reply::result(self.serve(id, msg, method).await)
    }

    /// `resources/subscribe` (`on`) or `resources/unsubscribe` of `session`: the
    /// GET stream of the session carries the subscribed resources' updates.
    fn subscribe(&self, id: &RequestId, msg: &Message, session: &SessionId, on: bool) -> Bytes {
        #[derive(Deserialize)]
        struct Uri {
            uri: String,
        }
        let uri = match serde_json::from_slice::<Params<Uri>>(msg.frame()) {
            Ok(Params {
                params: Some(Uri { uri }),
            }) => uri,
            _ => {
                return error_response(
                    Some(id),
                    codes::INVALID_PARAMS,
                    "resources/subscribe and resources/unsubscribe need params.uri (a string)",
                );
            }
        };
        let Some(bit) = topic(&uri) else {
            return error_response(
                Some(id),
                RESOURCE_NOT_FOUND,
                &format!("resource not found: {uri} (resources/list names them)"),
            );
        };
        self.state.sessions.update(session, |s| {
            if on {
                s.subscriptions |= bit;
            } else {
                s.subscriptions &= !bit;
            }
        });
        result(id, json!({}))
    }

    /// `GET`: the session's stream of the updates it subscribed to (handshake
    /// generation only).
    fn get(&self, request: &Request) -> Response {
        if request.header("mcp-protocol-version") == Some(STATELESS_VERSION) {
            return not_allowed(
                "the stateless generation (2026-07-28) has no GET stream: POST subscriptions/listen",
            );
        }
        if !accepts(request.header("accept")).1 {
            return rpc_error(
                406,
                None,
                codes::INVALID_REQUEST,
                "Not Acceptable: the GET stream is text/event-stream; Accept must allow it",
            );
        }
        match self.session(request, None) {
            Ok(session) => Response::stream(200, Listener::session(&self.state, session)),
            Err(response) => response,
        }
    }

    /// The session a request names, touched; or the 400/404 to answer.
    fn session(&self, request: &Request, id: Option<&RequestId>) -> Result<SessionId, Response> {
        let Some(header) = request.header("mcp-session-id") else {
            return Err(rpc_error(
                400,
                id,
                codes::INVALID_REQUEST,
                "Bad Request: Missing session ID (send Mcp-Session-Id from the initialize response, or MCP-Protocol-Version: 2026-07-28 for a stateless request)",
            ));
        };
        let not_found = || rpc_error(404, id, codes::INVALID_REQUEST, "Session not found");
        let session: SessionId = header.parse().map_err(|_| not_found())?;
        if self.state.touch_session(&session, Instant::now()) {
            Ok(session)
        } else {
            Err(not_found())
        }
    }

    /// A message of the stateless generation; `sse`: `Accept` allows
    /// `text/event-stream`.
    async fn stateless(&self, request: &Request, msg: &Message, sse: bool) -> Reply {
        let id = msg.id().filter(|_| msg.kind() == MessageKind::Request);
        let method = msg.method().unwrap_or_default();
        let mismatch = |what: String| {
            Reply::Respond(rpc_error(
                400,
                id,
                HEADER_MISMATCH,
                &format!("Bad Request: {what}"),
            ))
        };
        match request.header("mcp-method") {
            Some(m) if m == method => {}
            Some(m) => {
                return mismatch(format!(
                    "Mcp-Method header {m:?} does not match the body's method {method:?}"
                ));
            }
            None => {
                return mismatch(format!(
                    "Mcp-Method header missing (the body's method is {method:?})"
                ));
            }
        }
        let params = StatelessParams::of(msg);
        match params.meta.and_then(|m| m.protocol_version) {
            Some(v) if v == STATELESS_VERSION => {}
            Some(v) => {
                return mismatch(format!(
                    "_meta protocol version {v:?} does not match MCP-Protocol-Version {STATELESS_VERSION:?}"
                ));
            }
            // Requests carry the version in `_meta` too; notifications need not.
            None if id.is_some() => {
                return Reply::Respond(rpc_error(
                    400,
                    id,
                    codes::INVALID_PARAMS,
                    "Invalid params: a stateless request carries params._meta[\"io.modelcontextprotocol/protocolVersion\"]",
                ));
            }
            None => {}
        }
        if matches!(method, "tools/call" | "resources/read" | "prompts/get") {
            // resources/read names its resource by `uri`, the others by `name`.
            let name = if method == "resources/read" {
                params.uri
            } else {
                params.name
            }
            .unwrap_or_default();
            match request.header("mcp-name") {
                Some(n) if n == name => {}
                other => {
                    return mismatch(format!(
                        "Mcp-Name header {other:?} does not match the body's name {name:?}"
                    ));
                }
            }
        }
        let Some(id) = id else {
            return Reply::Accepted;
        };
        match method {
            "server/discover" => Reply::result(result(
                id,
                json!({
                    "supportedVersions": [STATELESS_VERSION],
                    "capabilities": {
                        "tools": {"listChanged": false},
                        "resources": {"subscribe": true, "listChanged": false},
                    },
                    "resultType": "complete",
                    "ttlMs": 0,
                    "cacheScope": "private",
                    "_meta": {"io.modelcontextprotocol/serverInfo": server_info()},
                }),
            )),
            "initialize" => Reply::Respond(rpc_error(
                400,
                Some(id),
                codes::INVALID_REQUEST,
                "initialize is not part of the stateless generation (2026-07-28): send requests directly",
            )),
            "subscriptions/listen" if !sse => Reply::Respond(rpc_error(
                406,
                Some(id),
                codes::INVALID_REQUEST,
                "Not Acceptable: subscriptions/listen is answered with text/event-stream; Accept must allow it",
            )),
            "subscriptions/listen" => {
                match serde_json::from_slice::<Params<ListenParams>>(msg.frame()) {
                    Ok(Params { params }) => Reply::Respond(Response::stream(
                        200,
                        Listener::subscription(&self.state, id, params.unwrap_or_default()),
                    )),
                    Err(e) => Reply::Respond(rpc_error(
                        400,
                        Some(id),
                        codes::INVALID_PARAMS,
                        &format!("subscriptions/listen params: {e}"),
                    )),
                }
            }
            m if !SERVED.contains(&m) => Reply::Respond(rpc_error(
                404,
                Some(id),
                codes::METHOD_NOT_FOUND,
                &format!("method not found: {m}"),
            )),
            _ => Reply::result(self.serve(id, msg, method).await),
        }
    }

    /// A request answered at once, or once its tool has answered (the connection
    /// waits: HTTP/1.1 answers in order).
    async fn serve(&self, id: &RequestId, msg: &Message, method: &str) -> Bytes {
        match self.state.serve(id, msg, method).await {
            Served::Now(reply) => reply,
            Served::Call { call, mut answer } => {
                // One yield lets a tool worker on this thread answer at once (echo,
                // text), as on the TCP transport; awaiting at once would park this
                // task and have the answer wake it, often from the other worker
                // thread (tens of microseconds here).
                tokio::task::yield_now().await;
                let outcome = match answer.try_recv() {
                    Ok(outcome) => outcome.ok(),
                    Err(_) => match tokio::time::timeout(self.state.answer_wait(), answer).await {
                        Ok(Ok(outcome)) => outcome.ok(),
                        _ => None,
                    },
                };
                self.state.finish_call(id, call, outcome)
            }
        }
    }

    fn delete(&self, request: &Request) -> Response {
        if request.header("mcp-protocol-version") == Some(STATELESS_VERSION) {
            return not_allowed("the stateless generation has no session to delete");
        }
        match self.session(request, None) {
            Ok(session) => {
                self.state.sessions.remove(&session);
                Response::empty(200)
            }
            Err(response) => response,
        }
    }
}

impl HttpHandler for McpHttp {
    async fn handle(&self, request: Request, _conn: &Conn) -> Response {
        if request.path() != self.settings.endpoint {
            return Response::text(
                404,
                format!("Not Found: the MCP endpoint is {}", self.settings.endpoint),
            );
        }
        if let Some(origin) = request.header("origin")
            && !self.origin_allowed(origin)
        {
            return Response::text(403, format!("Forbidden: Origin {origin:?} is not allowed"));
        }
        match request.method() {
            Method::Post => self.post(&request).await,
            Method::Delete => self.delete(&request),
            Method::Get => self.get(&request),
            Method::Head => Response::empty(405).with_header("allow", ALLOW),
            Method::Options | Method::Other => not_allowed("use POST (or DELETE to end a session)"),
        }
    }
}

/// What a POST is answered with, before the response type is chosen.
enum Reply {
    /// 202, no body.
    Accepted,
    /// 200 with this JSON-RPC response, and the new session's id for `initialize`.
    Result {
        body: Bytes,
        session: Option<SessionId>,
    },
    /// A response decided already: a transport-level refusal, or a stream.
    Respond(Response),
}

impl Reply {
    fn result(body: Bytes) -> Reply {
        Reply::Result {
            body,
            session: None,
        }
    }
}

/// 400 for a protocol version this server does not speak: JSON-RPC error -32022
/// with what it does speak, so a client can pick again.
fn unsupported_version(id: Option<&RequestId>, requested: &str) -> Response {
    let mut supported = vec![STATELESS_VERSION];
    supported.extend(SUPPORTED_VERSIONS);
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": UNSUPPORTED_VERSION,
            "message": format!("Bad Request: unsupported MCP-Protocol-Version {requested:?}"),
            "data": {"supported": supported, "requested": requested},
        },
    });
    Response::json(
        400,
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

fn rpc_error(status: u16, id: Option<&RequestId>, code: i32, message: &str) -> Response {
    Response::json(status, error_response(id, code, message))
}

/// The methods the endpoint answers.
const ALLOW: &str = "GET, POST, DELETE";

fn not_allowed(why: &str) -> Response {
    Response::text(405, format!("Method Not Allowed: {why}")).with_header("allow", ALLOW)
}

fn is_port(after: &str) -> bool {
    after
        .strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    #[tokio::test]
    async fn loopback_and_listed_origins_are_allowed_others_are_not() {
        let state = McpServer::new(Settings::default()).expect("no upstream: no pool to fail");
        let http = McpHttp::new(
            state,
            HttpSettings {
                allowed_origins: vec!["https://app.example".into()],
                ..HttpSettings::default()
            },
        );
        for ok in [
            "http://localhost",
            "http://localhost:6274",
            "http://127.0.0.1:8080",
            "https://[::1]:3000",
            "https://app.example",
        ] {
            assert!(http.origin_allowed(ok), "{ok}");
        }
        for bad in [
            "null",
            "http://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil:80",
            "http://localhost:80x",
            "https://app.example.evil",
        ] {
            assert!(!http.origin_allowed(bad), "{bad}");
        }
    }
}

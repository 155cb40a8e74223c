//! One MCP client over Streamable HTTP: exactly one keep-alive connection (hyper's
//! HTTP/1.1 client, an implementation independent of the servers it loads), the
//! handshake or stateless generation, JSON and SSE responses alike.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::cli::Protocol;
use crate::client_error::ClientError;
use crate::target::Target;

/// The stateless generation's revision.
pub const STATELESS: &str = "2026-07-28";
/// The handshake generation's revision this client asks for.
pub const HANDSHAKE: &str = "2025-11-25";

/// Which generation a connection ended up speaking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generation {
    /// Sessions; the negotiated version goes in `MCP-Protocol-Version`.
    Handshake {
        /// The version `initialize` answered with.
        version: HeaderValue,
        /// The `Mcp-Session-Id`, if the server gave one.
        session: Option<HeaderValue>,
    },
    /// No session; every request says `2026-07-28` and its method.
    Stateless,
}

/// What one POST got back.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The JSON-RPC message: the body, or the last `message` event of an SSE body.
    pub json: Bytes,
    /// `Mcp-Session-Id`, when the server sent one.
    pub session: Option<HeaderValue>,
}

impl Reply {
    /// A 2xx status with a JSON-RPC result that is not a tool error
    /// (`"isError":true`).
    pub fn is_result(&self) -> bool {
        (200..300).contains(&self.status) && is_success(&self.json)
    }

    /// Why this is not a result, briefly (for error counts, which group by text).
    pub fn why(&self) -> String {
        let code = serde_json::from_slice::<Value>(&self.json)
            .ok()
            .and_then(|v| v.pointer("/error/code").and_then(Value::as_i64));
        match code {
            Some(code) => format!("HTTP {} with JSON-RPC error {code}", self.status),
            None => format!("HTTP {}", self.status),
        }
    }
}

/// One MCP client on one connection.
pub struct HttpMcp {
    send: SendRequest<Full<Bytes>>,
    authority: HeaderValue,
    path: String,
    generation: Generation,
    /// Request ids, from 1.
    next_id: u64,
}

/// The `_meta` every stateless request carries.
const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"mcpbench-load","version":"1"}}"#;

impl HttpMcp {
    /// An HTTP/1.1 connection on `stream` (no request sent yet).
    pub async fn handshake_http(
        stream: TcpStream,
        authority: &str,
        path: &str,
    ) -> Result<HttpMcp, ClientError> {
        let authority = HeaderValue::from_str(authority)
            .map_err(|_| ClientError::Request(format!("host {authority:?}")))?;
        let (send, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Broken(format!("http handshake: {e}")))?;
        // Drives the connection; ends when `send` is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(HttpMcp {
            send,
            authority,
            path: path.to_string(),
            generation: Generation::Stateless,
            next_id: 1,
        })
    }

    /// A new HTTP connection to `target` (an MCP client with no session yet).
    pub async fn connect(target: &Target) -> Result<HttpMcp, ClientError> {
        let Target::Http {
            addr,
            authority,
            path,
        } = target
        else {
            return Err(ClientError::Request(format!(
                "{target}: not an HTTP target (http://...)"
            )));
        };
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::socket("connect", &e))?;
        HttpMcp::handshake_http(stream, authority, path).await
    }

    /// Goes on over a new connection (the old one broke), keeping the session.
    pub async fn reconnect(&mut self, stream: TcpStream) -> Result<(), ClientError> {
        let (send, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Broken(format!("http handshake: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.send = send;
        Ok(())
    }

    /// The server has closed this connection (a keep-alive timeout, say): a new
    /// one is needed before the next request.
    pub fn is_closed(&self) -> bool {
        self.send.is_closed()
    }

    /// The generation in use.
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// Goes on with a session opened over another connection (a new connection
    /// presenting an old `Mcp-Session-Id`).
    pub fn resume(&mut self, generation: Generation) {
        self.generation = generation;
    }

    /// `ping`.
    pub async fn ping(&mut self) -> Result<Reply, ClientError> {
        self.request("ping", "", None).await
    }

    /// A request of `method` whose `params` object has the members `params`
    /// (JSON text without the braces; empty for none) and, in the stateless
    /// generation, the `_meta` every request carries; `name` (a tool's or
    /// prompt's) goes in the `Mcp-Name` header there.
    pub async fn request(
        &mut self,
        method: &str,
        params: &str,
        name: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let id = self.id();
        let meta = self.meta();
        let sep = if meta.is_empty() || params.is_empty() {
            ""
        } else {
            ","
        };
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{params}{sep}{meta}}}}}"#
        );
        self.post(body.into(), method, name).await
    }

    /// Opens the MCP conversation as `protocol` says: `initialize` and
    /// `notifications/initialized`, or `server/discover`, or (auto) the discover
    /// probe with the fall back to `initialize` when it is refused.
    pub async fn start(&mut self, protocol: Protocol) -> Result<(), ClientError> {
        match protocol {
            Protocol::Handshake => self.initialize().await,
            Protocol::Stateless => {
                let reply = self.discover().await?;
                if reply.is_result() {
                    Ok(())
                } else {
                    Err(ClientError::Refused {
                        step: "server/discover",
                        why: reply.why(),
                    })
                }
            }
            Protocol::Auto => {
                // The spec's rule: a server that does not answer the stateless
                // probe with a result naming 2026-07-28 speaks the handshake.
                let reply = self.discover().await?;
                let stateless = reply.is_result()
                    && serde_json::from_slice::<Value>(&reply.json)
                        .ok()
                        .and_then(|v| v.pointer("/result/supportedVersions").cloned())
                        .and_then(|v| v.as_array().cloned())
                        .is_some_and(|v| v.iter().any(|s| s == STATELESS));
                if stateless {
                    Ok(())
                } else {
                    self.initialize().await
                }
            }
        }
    }

    async fn discover(&mut self) -> Result<Reply, ClientError> {
        self.generation = Generation::Stateless;
        let id = self.id();
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"server/discover","params":{{{META}}}}}"#
        );
        self.post(body.into(), "server/discover", None)
            .await
            .map_err(|e| e.during("server/discover"))
    }

    async fn initialize(&mut self) -> Result<(), ClientError> {
        self.generation = Generation::Handshake {
            version: HeaderValue::from_static(HANDSHAKE),
            session: None,
        };
        let id = self.id();
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{HANDSHAKE}","capabilities":{{}},"clientInfo":{{"name":"mcpbench-load","version":"1"}}}}}}"#
        );
        let reply = self
            .post_initialize(body.into())
            .await
            .map_err(|e| e.during("initialize"))?;
        if !reply.is_result() {
            return Err(ClientError::Refused {
                step: "initialize",
                why: reply.why(),
            });
        }
        let version = serde_json::from_slice::<Value>(&reply.json)
            .ok()
            .and_then(|v| v.pointer("/result/protocolVersion").cloned())
            .and_then(|v| v.as_str().and_then(|s| HeaderValue::from_str(s).ok()))
            .unwrap_or(HeaderValue::from_static(HANDSHAKE));
        self.generation = Generation::Handshake {
            version,
            session: reply.session,
        };
        let note = self
            .post(
                Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
                "notifications/initialized",
                None,
            )
            .await
            .map_err(|e| e.during("notifications/initialized"))?;
        if !(200..300).contains(&note.status) {
            return Err(ClientError::Refused {
                step: "notifications/initialized",
                why: format!("HTTP {}", note.status),
            });
        }
        Ok(())
    }

    /// Opens a server-to-client stream of `uri`'s updates: `subscriptions/listen`
    /// in the stateless generation (its request id returned, which the
    /// acknowledgement and every notification carry), or `resources/subscribe`
    /// then `GET` with the session in the handshake one. Returns the response's
    /// status and its body, still open.
    pub async fn listen(
        &mut self,
        uri: &str,
    ) -> Result<(u16, Option<u64>, hyper::body::Incoming), ClientError> {
        let uri_json =
            serde_json::to_string(uri).map_err(|e| ClientError::Request(e.to_string()))?;
        // A POST accepts both (the transport's rule for every POST; the Python
        // SDK answers 406 otherwise), the GET stream only events.
        let base = |method: hyper::Method, authority: &HeaderValue, path: &str| {
            let accept = if method == hyper::Method::POST {
                "application/json, text/event-stream"
            } else {
                "text/event-stream"
            };
            hyper::Request::builder()
                .method(method)
                .uri(path)
                .header(HOST, authority.clone())
                .header(ACCEPT, accept)
        };
        let (request, id) = match self.generation.clone() {
            Generation::Stateless => {
                let id = self.id();
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"subscriptions/listen","params":{{"notifications":{{"resourceSubscriptions":[{uri_json}]}},{META}}}}}"#
                );
                let request = base(hyper::Method::POST, &self.authority, &self.path)
                    .header(CONTENT_TYPE, "application/json")
                    .header("mcp-protocol-version", STATELESS)
                    .header("mcp-method", "subscriptions/listen")
                    .body(Full::new(Bytes::from(body)));
                (request, Some(id))
            }
            Generation::Handshake { version, session } => {
                let reply = self
                    .request("resources/subscribe", &format!(r#""uri":{uri_json}"#), None)
                    .await
                    .map_err(|e| e.during("resources/subscribe"))?;
                if !reply.is_result() {
                    return Err(ClientError::Refused {
                        step: "resources/subscribe",
                        why: reply.why(),
                    });
                }
                let mut request = base(hyper::Method::GET, &self.authority, &self.path)
                    .header("mcp-protocol-version", version);
                if let Some(s) = session {
                    request = request.header("mcp-session-id", s);
                }
                (request.body(Full::new(Bytes::new())), None)
            }
        };
        let request = request.map_err(|e| ClientError::Request(e.to_string()))?;
        let response = self.send_head(request).await?;
        Ok((response.status().as_u16(), id, response.into_body()))
    }

    /// Sends `request` once the connection is ready; the response with its body
    /// still to read.
    async fn send_head(
        &mut self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        self.send
            .ready()
            .await
            .map_err(|e| ClientError::Broken(e.to_string()))?;
        self.send
            .send_request(request)
            .await
            .map_err(|e| ClientError::Broken(e.to_string()))
    }

    /// `tools/list`.
    pub async fn list_tools(&mut self) -> Result<Reply, ClientError> {
        self.request("tools/list", "", None).await
    }

    /// `tools/call` of `tool` with `arguments` (a JSON object).
    pub async fn call_tool(&mut self, tool: &str, arguments: &str) -> Result<Reply, ClientError> {
        let params = format!(r#""name":"{tool}","arguments":{arguments}"#);
        self.request("tools/call", &params, Some(tool)).await
    }

    /// Ends the session with DELETE: `Some(status)`, or `None` when there is no
    /// session to end (stateless, or the server gave no id).
    pub async fn delete(&mut self) -> Option<Result<u16, ClientError>> {
        let Generation::Handshake {
            version,
            session: Some(session),
        } = &self.generation
        else {
            return None;
        };
        let request = hyper::Request::delete(self.path.as_str())
            .header(HOST, self.authority.clone())
            .header("mcp-session-id", session.clone())
            .header("mcp-protocol-version", version.clone())
            .body(Full::new(Bytes::new()));
        Some(match request {
            Ok(request) => self.exchange(request).await.map(|r| r.status),
            Err(e) => Err(ClientError::Request(e.to_string())),
        })
    }

    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn meta(&self) -> &'static str {
        match self.generation {
            Generation::Stateless => META,
            Generation::Handshake { .. } => "",
        }
    }

    async fn post_initialize(&mut self, body: Bytes) -> Result<Reply, ClientError> {
        let request = hyper::Request::post(self.path.as_str())
            .header(HOST, self.authority.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .body(Full::new(body))
            .map_err(|e| ClientError::Request(e.to_string()))?;
        self.exchange(request).await
    }

    async fn post(
        &mut self,
        body: Bytes,
        method: &str,
        name: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let mut request = hyper::Request::post(self.path.as_str())
            .header(HOST, self.authority.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream");
        match &self.generation {
            Generation::Handshake { version, session } => {
                request = request.header("mcp-protocol-version", version.clone());
                if let Some(s) = session {
                    request = request.header("mcp-session-id", s.clone());
                }
            }
            Generation::Stateless => {
                request = request
                    .header("mcp-protocol-version", STATELESS)
                    .header("mcp-method", method);
                if let Some(n) = name {
                    request = request.header("mcp-name", n);
                }
            }
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| ClientError::Request(e.to_string()))?;
        self.exchange(request).await
    }

    async fn exchange(
        &mut self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<Reply, ClientError> {
        let response = self.send_head(request).await?;
        let status = response.status().as_u16();
        let session = response.headers().get("mcp-session-id").cloned();
        let events = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .is_some_and(|t| t.trim_start().starts_with("text/event-stream"));
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Broken(e.to_string()))?
            .to_bytes();
        let json = if events { last_message(&body) } else { body };
        Ok(Reply {
            status,
            json,
            session,
        })
    }
}

/// A JSON-RPC response with a `result` that is not a failed tool call: MCP tools
/// report failure inside the result (`"isError":true`), and such a call was not
/// served.
pub fn is_success(json: &[u8]) -> bool {
    let finder = memchr::memmem::find;
    finder(json, b"\"result\"").is_some()
        && finder(json, b"\"isError\":true").is_none()
        && finder(json, b"\"isError\": true").is_none()
}

/// The data of the last `message` event of an SSE body (events without an
/// `event:` line are messages; several `data:` lines join with newlines).
pub fn last_message(body: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(body);
    let mut last = None;
    for event in text.replace("\r\n", "\n").split("\n\n") {
        let mut kind = "message";
        let mut data: Vec<&str> = Vec::new();
        for line in event.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if kind == "message" && !data.is_empty() {
            last = Some(data.join("\n"));
        }
    }
    last.map(Bytes::from).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_message_event_of_a_stream_is_the_response() {
        let body = b"event: message\r\ndata: {\"a\":1}\r\n\r\n: comment\n\nevent: ping\ndata: x\n\ndata: {\"id\":2,\ndata:\"result\":{}}\n\n";
        assert_eq!(&last_message(body)[..], b"{\"id\":2,\n\"result\":{}}");
        assert_eq!(&last_message(b"event: message\ndata: {}\n\n")[..], b"{}");
        assert!(last_message(b"retry: 10\n\n").is_empty());
    }

    #[test]
    fn replies_are_results_only_with_a_2xx_status_and_a_result() {
        let reply = |status, json: &'static [u8]| Reply {
            status,
            json: Bytes::from_static(json),
            session: None,
        };
        assert!(reply(200, br#"{"id":1,"result":{}}"#).is_result());
        assert!(!reply(200, br#"{"id":1,"error":{"code":-32602}}"#).is_result());
        assert!(!reply(404, br#"{"result":{}}"#).is_result());
        assert!(!reply(200, br#"{"id":1,"result":{"content":[],"isError":true}}"#).is_result());
        assert!(reply(200, br#"{"id":1,"result":{"content":[],"isError":false}}"#).is_result());
        assert_eq!(
            reply(400, br#"{"id":1,"error":{"code":-32020,"message":"x"}}"#).why(),
            "HTTP 400 with JSON-RPC error -32020"
        );
        assert_eq!(reply(503, b"busy").why(), "HTTP 503");
    }
}

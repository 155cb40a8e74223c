//! One MCP session of a scenario on the wire: opened over a new connection or
//! a kept one, one request and its answer, a failed reply in words.

use bytes::Bytes;
use mcpbench_netio::Client;

use crate::cli::Protocol;
use crate::client_error::{Answer, ClientError};
use crate::connection::{McpConn, connect, initialize_tcp};
use crate::http_client::{Generation, HttpMcp};
use crate::target::Target;

/// A session on `target`: over `reuse`'s HTTP connection when given and still
/// open, else over a new connection (`initialize`, or `server/discover`).
pub(crate) async fn open_conn(
    target: &Target,
    protocol: Protocol,
    reuse: Option<Box<HttpMcp>>,
) -> Result<McpConn, ClientError> {
    if let Some(mut h) = reuse.filter(|h| !h.is_closed()) {
        h.start(protocol).await?;
        return Ok(McpConn::Http(h));
    }
    let stream = connect(target, None).await?;
    match target {
        Target::Tcp { .. } => {
            let mut c = Client::from_stream(stream, 1 << 20);
            initialize_tcp(&mut c).await?;
            Ok(McpConn::Tcp(c))
        }
        Target::Http {
            authority, path, ..
        } => {
            let mut h = HttpMcp::handshake_http(stream, authority, path).await?;
            h.start(protocol).await?;
            Ok(McpConn::Http(Box::new(h)))
        }
    }
}

/// What one request got.
pub(crate) struct Exchanged {
    /// How it was answered.
    pub answer: Answer,
    /// The JSON-RPC reply.
    pub json: Bytes,
    /// HTTP 404 on a session: the server has ended it (expired, or deleted);
    /// the spec says the client starts a new one.
    pub session_gone: bool,
}

/// One request (`id`, `method`, the members of its params) on `conn`: how it was
/// answered and the JSON-RPC reply, or `Err` when the connection broke.
pub(crate) async fn exchange(
    conn: &mut McpConn,
    target: &Target,
    id: u64,
    method: &str,
    params: &str,
    name: Option<&str>,
) -> Result<Exchanged, ClientError> {
    if let McpConn::Http(h) = conn
        && h.is_closed()
    {
        // The server closed the keep-alive connection between requests: a new
        // one keeps the session, as an HTTP client's pool would.
        let stream = connect(target, None).await?;
        h.reconnect(stream).await?;
    }
    match conn {
        McpConn::Tcp(c) => {
            let request = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{params}}}}}"#
            );
            let reply = c
                .call(request.as_bytes())
                .await
                .map_err(|e| ClientError::Broken(e.to_string()))?;
            let answer = if crate::http_client::is_success(&reply) {
                Answer::Result(reply.len())
            } else {
                Answer::Error(error_text(&reply))
            };
            Ok(Exchanged {
                answer,
                json: reply,
                session_gone: false,
            })
        }
        McpConn::Http(h) => {
            let reply = h.request(method, params, name).await?;
            let session_gone = reply.status == 404
                && matches!(
                    h.generation(),
                    Generation::Handshake {
                        session: Some(_),
                        ..
                    }
                );
            let answer = if reply.is_result() {
                Answer::Result(reply.json.len())
            } else if (200..300).contains(&reply.status) {
                Answer::Error(error_text(&reply.json))
            } else if session_gone {
                Answer::Error(format!(
                    "{}: the session is gone (expired or ended by the server); a new one is opened",
                    reply.why()
                ))
            } else {
                Answer::Error(reply.why())
            };
            Ok(Exchanged {
                answer,
                json: reply.json,
                session_gone,
            })
        }
    }
}

/// A failed reply in words, grouped by its JSON-RPC error code or tool error.
fn error_text(json: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap_or_default();
    if let Some(code) = v.pointer("/error/code").and_then(serde_json::Value::as_i64) {
        let message = v
            .pointer("/error/message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        let message: String = message.chars().take(80).collect();
        format!("JSON-RPC error {code}: {message}")
    } else if v.pointer("/result/isError") == Some(&serde_json::Value::Bool(true)) {
        let text = v
            .pointer("/result/content/0/text")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        let text: String = text.chars().take(80).collect();
        format!("tool error (isError): {text}")
    } else {
        let text = String::from_utf8_lossy(&json[..json.len().min(80)]).into_owned();
        format!("not a result: {text}")
    }
}

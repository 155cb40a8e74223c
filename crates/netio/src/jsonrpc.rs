//! The JSON-RPC 2.0 envelope of an MCP message: just enough parsing to route it.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Standard JSON-RPC error codes.
pub mod codes {
    /// Invalid JSON.
    pub const PARSE_ERROR: i32 = -32700;
    /// JSON, but not a valid JSON-RPC message.
    pub const INVALID_REQUEST: i32 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i32 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i32 = -32603;
}

/// A JSON-RPC request id. MCP allows integers and strings, not null.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(Box<str>),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// What a message is, by the JSON-RPC rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Has `method` and `id`: expects a response.
    Request,
    /// Has `method`, no `id`: expects nothing.
    Notification,
    /// Has `id` and one of `result` or `error`.
    Response,
}

/// Why a frame is not a JSON-RPC message. Each maps to the error reply the
/// JSON-RPC spec prescribes ([`ProtocolError::reply`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON at all (code -32700).
    #[error("parse error: {0}")]
    Parse(String),
    /// JSON, but not a valid JSON-RPC message (code -32600).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// The id, when one could be read, so the reply can carry it.
        id: Option<RequestId>,
        /// What is wrong.
        reason: String,
    },
}

impl ProtocolError {
    fn invalid(id: Option<RequestId>, reason: impl Into<String>) -> Self {
        ProtocolError::InvalidRequest {
            id,
            reason: reason.into(),
        }
    }

    /// The JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            ProtocolError::Parse(_) => codes::PARSE_ERROR,
            ProtocolError::InvalidRequest { .. } => codes::INVALID_REQUEST,
        }
    }

    /// The error response to send back (one JSON line, without the newline).
    pub fn reply(&self) -> Bytes {
        let id = match self {
            ProtocolError::Parse(_) => None,
            ProtocolError::InvalidRequest { id, .. } => id.as_ref(),
        };
        error_response(id, self.code(), &self.to_string())
    }
}

/// A JSON-RPC error response: `{"jsonrpc":"2.0","id":..,"error":{"code":..,"message":..}}`,
/// with `"id":null` when `id` is `None`.
pub fn error_response(id: Option<&RequestId>, code: i32, message: &str) -> Bytes {
    #[derive(Serialize)]
    struct ErrorObject<'a> {
        code: i32,
        message: &'a str,
    }
    #[derive(Serialize)]
    struct Response<'a> {
        jsonrpc: &'static str,
        id: Option<&'a RequestId>,
        error: ErrorObject<'a>,
    }
    let response = Response {
        jsonrpc: "2.0",
        id,
        error: ErrorObject { code, message },
    };
    // Serializing plain structs of strings and integers into a Vec cannot fail.
    Bytes::from(serde_json::to_vec(&response).unwrap_or_default())
}

use crate::envelope::Envelope;
pub use crate::envelope::{MAX_DEPTH, deeper_than};

#[derive(Debug, Clone)]
enum Method {
    /// Where the method name sits in the frame (it had no escapes).
    At(Range<usize>),
    /// The unescaped method name.
    Owned(Box<str>),
}

/// A frame that passed the JSON-RPC envelope check: the frame itself (shared, not
/// copied) plus its kind, id and method.
#[derive(Debug, Clone)]
pub struct Message {
    frame: Bytes,
    kind: MessageKind,
    id: Option<RequestId>,
    method: Option<Method>,
    params: Option<std::ops::Range<usize>>,
}

impl Message {
    /// Checks `frame` is a JSON-RPC 2.0 request, notification or response.
    /// Batches (arrays) are refused: current MCP revisions have none.
    ///
    /// A validating scan reads the envelope of the usual frame, crossing
    /// strings with SIMD instead of a byte at a time (`envelope/mod.rs`); any other
    /// frame is read by serde_json ([`Message::parse_serde`]), whose verdict and
    /// words the error then carries.
    pub fn parse(frame: Bytes) -> Result<Message, ProtocolError> {
        // The scan declines a frame nested past MAX_DEPTH; the serde path then
        // says how deep.
        let (parts, params) = match crate::envelope::scan(&frame) {
            Some(mut envelope) => {
                let params = envelope.params_at.take();
                (checked(&frame, frame.as_ptr() as usize, envelope)?, params)
            }
            None => return Message::parse_serde(frame),
        };
        let mut m = Message::of(frame, parts);
        m.params = params;
        Ok(m)
    }

    /// [`Message::parse`] with serde_json alone: the reference the fast path is
    /// tested against, and its benches' "before".
    pub fn parse_serde(frame: Bytes) -> Result<Message, ProtocolError> {
        if let Some(depth) = deeper_than(&frame, MAX_DEPTH) {
            return Err(ProtocolError::Parse(format!(
                "arrays and objects nested {depth} deep, over the limit of {MAX_DEPTH}"
            )));
        }
        let envelope: Envelope<'_> = match serde_json::from_slice(&frame) {
            Ok(e) => e,
            Err(e) if e.is_data() => {
                let reason = if frame.trim_ascii_start().starts_with(b"[") {
                    "batches are not supported".to_string()
                } else {
                    e.to_string()
                };
                return Err(ProtocolError::invalid(None, reason));
            }
            Err(e) => return Err(ProtocolError::Parse(e.to_string())),
        };
        let parts = checked(&frame, frame.as_ptr() as usize, envelope)?;
        Ok(Message::of(frame, parts))
    }

    fn of(frame: Bytes, (kind, id, method): Parts) -> Message {
        Message {
            frame,
            kind,
            id,
            method,
            params: None,
        }
    }

    /// The text of `params`, when the validating scan read the message (so it
    /// is well-formed JSON, UTF-8, nested within [`MAX_DEPTH`]), shared with
    /// the frame; `None` when serde_json read it (ask it) or there is none.
    pub fn scanned_params(&self) -> Option<Bytes> {
        self.params.clone().map(|r| self.frame.slice(r))
    }

    /// The whole frame, as received.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// The whole frame, as received.
    pub fn into_frame(self) -> Bytes {
        self.frame
    }

    /// Request, notification or response.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The id (requests and responses; `None` for notifications and for error
    /// responses to unparseable requests).
    pub fn id(&self) -> Option<&RequestId> {
        self.id.as_ref()
    }

    /// The method (requests and notifications).
    pub fn method(&self) -> Option<&str> {
        match self.method.as_ref()? {
            Method::At(range) => std::str::from_utf8(&self.frame[range.clone()]).ok(),
            Method::Owned(name) => Some(name),
        }
    }
}

/// A message's kind, id and method.
type Parts = (MessageKind, Option<RequestId>, Option<Method>);

/// The parts `envelope` makes, if JSON-RPC 2.0 allows them. `envelope` was read
/// from `frame` or from a copy of it starting at address `base`.
fn checked(frame: &[u8], base: usize, envelope: Envelope<'_>) -> Result<Parts, ProtocolError> {
    let id = match envelope.id {
        None => None,
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(n) => Some(RequestId::Number(n)),
            None => {
                return Err(ProtocolError::invalid(
                    None,
                    format!("id {n} is not an integer"),
                ));
            }
        },
        Some(serde_json::Value::String(s)) => Some(RequestId::String(s.into())),
        Some(serde_json::Value::Null) if envelope.method.is_none() => None,
        Some(other) => {
            return Err(ProtocolError::invalid(
                None,
                format!("id must be an integer or a string, not {other}"),
            ));
        }
    };
    if envelope.jsonrpc != "2.0" {
        return Err(ProtocolError::invalid(
            id,
            format!("jsonrpc must be \"2.0\", not {:?}", envelope.jsonrpc),
        ));
    }
    let has_outcome = envelope.result.is_some() || envelope.error.is_some();
    let (kind, method) = match envelope.method {
        Some(_) if has_outcome => {
            return Err(ProtocolError::invalid(
                id,
                "a message cannot have both a method and a result or error",
            ));
        }
        Some(method) => {
            let kind = if id.is_some() {
                MessageKind::Request
            } else {
                MessageKind::Notification
            };
            let method = match method {
                Cow::Borrowed(name) => {
                    let start = name.as_ptr() as usize - base;
                    let at = start..start + name.len();
                    // A parser that unescapes in place lends the unescaped name:
                    // the frame's bytes there are then not the name.
                    if frame.get(at.clone()) == Some(name.as_bytes()) {
                        Method::At(at)
                    } else {
                        Method::Owned(name.into())
                    }
                }
                Cow::Owned(name) => Method::Owned(name.into()),
            };
            (kind, Some(method))
        }
        None if envelope.result.is_some() && envelope.error.is_some() => {
            return Err(ProtocolError::invalid(
                id,
                "a response cannot have both result and error",
            ));
        }
        None if has_outcome => (MessageKind::Response, None),
        None => {
            return Err(ProtocolError::invalid(
                id,
                "a message needs a method, or a result or error",
            ));
        }
    };
    let _ = envelope.params;
    Ok((kind, id, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Message, ProtocolError> {
        Message::parse(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn nesting_is_limited_outside_strings_only() {
        let nested = |n: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"x":{}1{}}}}}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        // The message, params and arguments are three levels.
        assert!(parse(&nested(MAX_DEPTH - 3)).is_ok());
        let e = parse(&nested(MAX_DEPTH - 2)).unwrap_err();
        assert_eq!(e.code(), codes::PARSE_ERROR);
        assert!(e.to_string().contains("over the limit of 64"), "{e}");
        let e = parse(&nested(100_000)).unwrap_err();
        assert_eq!(e.code(), codes::PARSE_ERROR, "{e}");
        // Brackets inside strings, escaped quotes among them, are text.
        let text = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"s":"\"{}\\"}}}}"#,
            "[{".repeat(1000)
        );
        assert!(parse(&text).is_ok(), "{text}");
        assert_eq!(deeper_than(br#"["\\",[["x"]]]"#, 2), Some(3));
        assert_eq!(deeper_than(br#"["\\",[["x"]]]"#, 3), None);
        // Unterminated strings, a trailing backslash among them, end the scan.
        for cut in [&br#"[["\\"#[..], br#"[["ab\\"#, br#"["#, br#"[""#] {
            assert_eq!(deeper_than(cut, 2), None, "{cut:?}");
        }
    }

    #[test]
    fn requests_notifications_and_responses() {
        let m = parse(
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_weather"}}"#,
        )
        .unwrap();
        assert_eq!(
            (m.kind(), m.id(), m.method()),
            (
                MessageKind::Request,
                Some(&RequestId::Number(2)),
                Some("tools/call")
            )
        );
        let m = parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!((m.kind(), m.id()), (MessageKind::Notification, None));
        let m = parse(r#"{"jsonrpc":"2.0","id":"a-1","result":{"content":[]}}"#).unwrap();
        assert_eq!(
            (m.kind(), m.id()),
            (
                MessageKind::Response,
                Some(&RequestId::String("a-1".into()))
            )
        );
        let m =
            parse(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#).unwrap();
        assert_eq!((m.kind(), m.id()), (MessageKind::Response, None));
    }

    #[test]
    fn escaped_method_names_are_unescaped() {
        let m = parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools\/list"}"#).unwrap();
        assert_eq!(m.method(), Some("tools/list"));
    }

    #[test]
    fn not_json_is_a_parse_error() {
        for bad in ["{", "hello", r#"{"jsonrpc":"2.0""#] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code(), codes::PARSE_ERROR, "{bad}");
            let reply: serde_json::Value = serde_json::from_slice(&e.reply()).unwrap();
            assert_eq!(reply["id"], serde_json::Value::Null);
            assert_eq!(reply["error"]["code"], -32700);
        }
    }

    #[test]
    fn malformed_envelopes_are_invalid_requests() {
        let cases = [
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
                "jsonrpc must be",
            ),
            (r#"{"id":1,"method":"x"}"#, "missing field `jsonrpc`"),
            (r#"{"jsonrpc":"2.0","id":1}"#, "needs a method"),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
                "not an integer",
            ),
            (
                r#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#,
                "integer or a string",
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
                "integer or a string",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","result":1}"#,
                "both a method",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,
                "both result and error",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#,
                "batches are not supported",
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":7}"#, "invalid type"),
        ];
        for (bad, why) in cases {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code(), codes::INVALID_REQUEST, "{bad}");
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
        // The id is kept when it could be read, so the reply can be correlated.
        let e = parse(r#"{"jsonrpc":"1.0","id":"q","method":"x"}"#).unwrap_err();
        let reply: serde_json::Value = serde_json::from_slice(&e.reply()).unwrap();
        assert_eq!(reply["id"], "q");
        assert_eq!(reply["error"]["code"], -32600);
    }

    #[test]
    fn error_response_escapes_its_message() {
        let r = error_response(
            Some(&RequestId::String("a\"b".into())),
            codes::METHOD_NOT_FOUND,
            "no \"x\"\n",
        );
        assert!(!r.contains(&b'\n'), "a reply must be a single line");
        let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
        assert_eq!(v["id"], "a\"b");
        assert_eq!(v["error"]["message"], "no \"x\"\n");
    }
}

//! MCP on the wire, shared by both transports: the revisions spoken, the
//! replies (`result` members serialized once), the parameters read, and what
//! serving a request gives back.

use bytes::Bytes;
use mcpbench_netio::RequestId;
use mcpbench_registry::Answer;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ToolError;

/// Most bytes of `clientInfo` and `capabilities` a session keeps; a larger
/// `initialize` is refused with -32602.
pub const MAX_SESSION_BYTES: usize = 8 * 1024;

/// Most bytes of raw `clientInfo` an `initialize` may carry: of it, only the name
/// and version are kept (and counted in [`MAX_SESSION_BYTES`]); its icons and
/// other fields are read past, within this bound.
pub const MAX_CLIENT_INFO_BYTES: usize = 64 * 1024;

/// The handshake-generation revision this server prefers.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// Handshake-generation revisions this server speaks: `initialize` answers with
/// the client's when it is one of these, else with [`PROTOCOL_VERSION`].
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// The `serverInfo` (2025) and `serverInfo` of `server/discover` (2026) alike.
pub(crate) fn server_info() -> Value {
    json!({"name": "mcpbench-server", "version": env!("CARGO_PKG_VERSION")})
}

/// What [`crate::McpServer::serve`] gives back.
pub(crate) enum Served {
    /// The reply.
    Now(Bytes),
    /// A tool call under way: its key and where its answer arrives.
    Call {
        call: u64,
        answer: Answer<Result<Bytes, ToolError>>,
    },
}

/// An `initialize` refused: the reply, and whether the session table was full.
pub(crate) struct Refused {
    pub(crate) full: bool,
    pub(crate) reply: Bytes,
}

pub(crate) fn result(id: &RequestId, result: Value) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&json!({"jsonrpc":"2.0","id":id,"result":result})).unwrap_or_default(),
    )
}

/// A response whose `result` member is already serialized.
pub(crate) fn result_raw(id: &RequestId, raw: &[u8]) -> Bytes {
    let id = serde_json::to_vec(id).unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len() + id.len() + 40);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(&id);
    out.extend_from_slice(br#","result":"#);
    out.extend_from_slice(raw);
    out.push(b'}');
    Bytes::from(out)
}

#[derive(Deserialize)]
pub(crate) struct Params<T> {
    // A missing `params` is `None` (serde's rule for Option fields).
    pub(crate) params: Option<T>,
}

/// `initialize`'s params. What a session keeps of its client (`clientInfo`,
/// `capabilities`) stays raw JSON text until its size is checked: a 4 MB
/// `capabilities` of two million elements is refused by its length, never built
/// into a tree first.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InitializeParams {
    pub(crate) protocol_version: String,
    #[serde(default)]
    pub(crate) capabilities: Option<Box<serde_json::value::RawValue>>,
    pub(crate) client_info: Box<serde_json::value::RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct ClientInfoParams {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) version: String,
}

/// `tools/call`'s params.
#[derive(Deserialize)]
pub(crate) struct CallParams {
    pub(crate) name: String,
    /// Kept as the raw JSON text until a tool worker takes the call: a waiting
    /// call holds its bytes, not a `Value` tree (up to ~16x larger: `[0,0,...]`).
    /// `None` when absent or `null`.
    #[serde(default, deserialize_with = "raw_text")]
    pub(crate) arguments: Option<Bytes>,
}

/// A raw JSON value as its text (serde's `Option` rule: `null` is `None`).
fn raw_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
    let raw = Option::<Box<serde_json::value::RawValue>>::deserialize(d)?;
    Ok(raw.map(|raw| Bytes::from(String::from(Box::<str>::from(raw)))))
}

impl CallParams {
    /// The params from the text of `params` the envelope scan already checked
    /// (`Message::scanned_params`): netio's `members` scan finds `name` and
    /// `arguments`, and `arguments` stays a slice of the frame, so serde_json
    /// never walks the arguments. `None` for anything the scan does not take
    /// (an escape in `name`, no `name`, a duplicate...): serde_json then reads
    /// the frame and its verdict stands.
    pub(crate) fn scanned(params: &Bytes) -> Option<CallParams> {
        let mut name = None;
        let mut arguments = None;
        for (key, at) in mcpbench_netio::members(params)? {
            match key {
                b"name" => {
                    let text = mcpbench_netio::plain_literal(&params[at])?;
                    name = Some(std::str::from_utf8(text).ok()?.to_string());
                }
                b"arguments" => {
                    arguments = (&params[at.clone()] != b"null").then(|| params.slice(at));
                }
                _ => {}
            }
        }
        Some(CallParams {
            name: name?,
            arguments,
        })
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
        assert_eq!(args.len(), zeros.len(), "the text as sent, nothing more");
        let missing: Params<CallParams> =
            serde_json::from_str(r#"{"params":{"name":"echo"}}"#).unwrap();
        assert!(missing.params.unwrap().arguments.is_none());
    }

    /// `(name, arguments)` as serde_json reads `params`, or its refusal.
    fn by_serde(params: &str) -> Option<(String, Option<Bytes>)> {
        let p: CallParams = serde_json::from_str(params).ok()?;
        Some((p.name, p.arguments))
    }

    #[test]
    fn scanned_params_are_what_serde_reads_or_left_to_it() {
        let taken = [
            r#"{"name":"echo","arguments":{"text":"hi"}}"#,
            r#" { "arguments" : [1, {"a":null}] , "name" : "text" } "#,
            r#"{"name":"echo"}"#,
            r#"{"name":"echo","arguments":null}"#,
            r#"{"name":"echo","arguments":"just a string","_meta":{"k":1}}"#,
        ];
        for params in taken {
            let scanned = CallParams::scanned(&Bytes::from(params)).expect(params);
            let (name, arguments) = by_serde(params).expect(params);
            assert_eq!(scanned.name, name, "{params}");
            let text = |a: Option<Bytes>| a.map(|b| serde_json::from_slice::<Value>(&b).unwrap());
            assert_eq!(text(scanned.arguments), text(arguments), "{params}");
        }
        // Left to serde_json, which reads or refuses them.
        let declined = [
            r#"{"name":"ec\u0068o"}"#,
            r#"{"arguments":{}}"#,
            r#"{"name":1}"#,
            r#"{"name":"echo","name":"text"}"#,
            r#"{"name":"echo""#,
        ];
        for params in declined {
            assert!(
                CallParams::scanned(&Bytes::from(params)).is_none(),
                "{params}"
            );
        }
        assert_eq!(by_serde(declined[0]).map(|p| p.0).as_deref(), Some("echo"));
    }
}

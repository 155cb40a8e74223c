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

#[derive(Deserialize)]
pub(crate) struct CallParams {
    pub(crate) name: String,
    /// Kept as the raw JSON text until a tool worker takes the call: a waiting
    /// call holds its bytes, not a `Value` tree (up to ~16x larger: `[0,0,...]`).
    #[serde(default)]
    pub(crate) arguments: Option<Box<serde_json::value::RawValue>>,
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
}

//! The tools (`echo`, `text`, `proxy`), their descriptions, and what a call waiting
//! for its tool carries.

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;

/// A call waiting in a tool's mailbox.
pub(crate) struct ToolCall {
    /// Key in the in-flight table (unique per server; client ids are per connection).
    pub(crate) call: u64,
    /// The `arguments`, as the raw JSON text the client sent (parsed by the
    /// tool, once it runs).
    pub(crate) arguments: Option<Box<serde_json::value::RawValue>>,
    /// This call's place in the tool's mailbox, given back when the worker takes it.
    pub(crate) _slot: OwnedSemaphorePermit,
}

/// The tools and what runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Echo,
    Text,
    Proxy,
}

impl Tool {
    pub(crate) const ALL: [Tool; 3] = [Tool::Echo, Tool::Text, Tool::Proxy];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Tool::Echo => "echo",
            Tool::Text => "text",
            Tool::Proxy => "proxy",
        }
    }

    pub(crate) fn describe(self) -> Value {
        let (description, schema) = match self {
            Tool::Echo => (
                "Returns its `text` argument.",
                json!({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}),
            ),
            Tool::Text => (
                "Returns a text of the server's configured size.",
                json!({"type":"object","properties":{}}),
            ),
            Tool::Proxy => (
                "Calls `echo` on the upstream server with its `text` argument.",
                json!({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}),
            ),
        };
        json!({"name": self.name(), "description": description, "inputSchema": schema})
    }
}

/// What the `text` tool returns: `size` bytes of plain text.
pub(crate) fn result_text(size: usize) -> String {
    "MCP bench result text. "
        .chars()
        .cycle()
        .take(size)
        .collect()
}

/// A tool result with one text item, serialized.
pub(crate) fn text_content(text: &str, is_error: bool) -> Bytes {
    Bytes::from(
        // `resultType` is required by the stateless generation and ignored by the
        // handshake one, so one serialization serves both.
        serde_json::to_vec(
            &json!({"content":[{"type":"text","text":text}],"isError":is_error,"resultType":"complete"}),
        )
            .unwrap_or_default(),
    )
}

pub(crate) fn echo(arguments: Option<&serde_json::value::RawValue>) -> Result<Bytes, String> {
    #[derive(serde::Deserialize)]
    struct Echo {
        text: String,
    }
    match arguments.map(|raw| serde_json::from_str::<Echo>(raw.get())) {
        Some(Ok(Echo { text })) => Ok(text_content(&text, false)),
        _ => Err("echo needs a string argument `text`".into()),
    }
}

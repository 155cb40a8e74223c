//! The tools behind one trait ([`Tool`]: `echo` and `text` here, `proxy` in
//! `upstream.rs`), their descriptions, and what a call waiting for its tool
//! carries.

use std::future::Future;

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;

use std::sync::atomic::Ordering;

use crate::error::ToolError;
use crate::events::{Event, EventBus, RESOURCES, Resources};

/// A call waiting in a tool's mailbox.
pub(crate) struct ToolCall {
    /// Key in the in-flight table (unique per server; client ids are per connection).
    pub(crate) call: u64,
    /// The `arguments`, as the raw JSON text the client sent (parsed by the
    /// tool, once it runs).
    pub(crate) arguments: Option<Box<RawValue>>,
    /// This call's place in the tool's mailbox, given back when the worker takes it.
    pub(crate) _slot: OwnedSemaphorePermit,
}

/// One tool: its name, its `tools/list` entry and what a call does. Each runs
/// behind a worker that takes calls from its mailbox (`crate::workers`).
pub(crate) trait Tool: Send + Sync + 'static {
    /// Its name in `tools/call`.
    fn name(&self) -> &'static str;

    /// Its description and input JSON Schema, for `tools/list`.
    fn describe(&self) -> (&'static str, Value);

    /// Whether a call waits on I/O: each call then runs in a task of its own, so
    /// the tool's calls overlap. Otherwise the worker answers them in turn.
    fn concurrent(&self) -> bool {
        false
    }

    /// Answers one call with the serialized `result` member, or why not.
    fn call(
        &self,
        arguments: Option<&RawValue>,
    ) -> impl Future<Output = Result<Bytes, ToolError>> + Send;
}

/// A tool's `tools/list` entry.
pub(crate) fn listing(tool: &impl Tool) -> Value {
    let (description, schema) = tool.describe();
    json!({"name": tool.name(), "description": description, "inputSchema": schema})
}

/// `echo`: returns its `text` argument.
pub(crate) struct Echo;

impl Tool for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn describe(&self) -> (&'static str, Value) {
        (
            "Returns its `text` argument.",
            json!({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}),
        )
    }

    async fn call(&self, arguments: Option<&RawValue>) -> Result<Bytes, ToolError> {
        echo(arguments)
    }
}

/// `text`: returns a text of the server's configured size.
pub(crate) struct Text {
    /// The result, serialized once: escaping a 4 KiB string per call was a
    /// quarter of the server's time under load (flamegraph, 20K connections).
    content: Bytes,
}

impl Text {
    /// The tool returning `size` bytes of text.
    pub(crate) fn new(size: usize) -> Text {
        Text {
            content: text_content(&result_text(size), false),
        }
    }
}

impl Tool for Text {
    fn name(&self) -> &'static str {
        "text"
    }

    fn describe(&self) -> (&'static str, Value) {
        (
            "Returns a text of the server's configured size.",
            json!({"type":"object","properties":{}}),
        )
    }

    async fn call(&self, _arguments: Option<&RawValue>) -> Result<Bytes, ToolError> {
        Ok(self.content.clone())
    }
}

/// `touch`: updates a resource (its counter goes up by one) and publishes the
/// update to every stream subscribed to it, with the caller's `stamp` when it
/// gives one (what `mcpbench-load listen` measures delivery from).
pub(crate) struct Touch {
    pub(crate) resources: std::sync::Arc<Resources>,
    pub(crate) bus: std::sync::Arc<dyn EventBus>,
}

/// Longest `stamp` a `touch` carries into its notifications.
pub(crate) const MAX_STAMP: usize = 128;

impl Tool for Touch {
    fn name(&self) -> &'static str {
        "touch"
    }

    fn describe(&self) -> (&'static str, Value) {
        (
            "Updates a resource (default mcpbench://counter/0) and notifies its subscribers; `stamp` (at most 128 characters) is carried into the notification's _meta as mcpbench/stamp.",
            json!({"type":"object","properties":{
                "uri":{"type":"string","enum": RESOURCES},
                "stamp":{"type":"string","maxLength": MAX_STAMP}
            }}),
        )
    }

    async fn call(&self, arguments: Option<&RawValue>) -> Result<Bytes, ToolError> {
        #[derive(serde::Deserialize, Default)]
        struct Args {
            uri: Option<String>,
            stamp: Option<String>,
        }
        let args = match arguments.map(|raw| serde_json::from_str::<Args>(raw.get())) {
            None => Args::default(),
            Some(Ok(args)) => args,
            Some(Err(e)) => {
                return Err(ToolError::Arguments(format!(
                    "touch takes {{\"uri\": string, \"stamp\": string}}, both optional: {e}"
                )));
            }
        };
        let uri = args.uri.as_deref().unwrap_or(RESOURCES[0]);
        let Some(i) = RESOURCES.iter().position(|r| *r == uri) else {
            return Err(ToolError::Arguments(format!(
                "touch: unknown resource {uri:?} (resources/list names them)"
            )));
        };
        if let Some(stamp) = &args.stamp
            && stamp.len() > MAX_STAMP
        {
            return Err(ToolError::Arguments(format!(
                "touch: stamp is {} bytes, over the limit of {MAX_STAMP}",
                stamp.len()
            )));
        }
        let value = self.resources.values[i].fetch_add(1, Ordering::Relaxed) + 1;
        let seq = self.resources.published.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(event) = Event::updated(uri, seq, args.stamp.as_deref()) {
            self.bus.publish(std::sync::Arc::new(event));
        }
        Ok(text_content(
            &format!("{uri} is now {value} (event {seq})"),
            false,
        ))
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

/// `echo`'s answer to `arguments`.
pub(crate) fn echo(arguments: Option<&RawValue>) -> Result<Bytes, ToolError> {
    #[derive(serde::Deserialize)]
    struct Echo {
        text: String,
    }
    match arguments.map(|raw| serde_json::from_str::<Echo>(raw.get())) {
        Some(Ok(Echo { text })) => Ok(text_content(&text, false)),
        _ => Err(ToolError::Arguments(
            "echo needs a string argument `text`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_reads_its_text_from_the_raw_arguments() {
        let raw = |s: &str| serde_json::value::RawValue::from_string(s.into()).unwrap();
        assert!(echo(Some(&raw(r#"{"text":"h\u00e9"}"#))).is_ok());
        for bad in [r#"{"text":1}"#, "[]", "null"] {
            assert!(
                echo(Some(&raw(bad)))
                    .unwrap_err()
                    .to_string()
                    .contains("`text`"),
                "{bad}"
            );
        }
        assert!(echo(None).is_err());
    }
}

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
    /// The `arguments`, as the raw JSON text the client sent (checked to be
    /// JSON, parsed by the tool once it runs; usually a slice of the frame).
    pub(crate) arguments: Option<Bytes>,
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
    /// `arguments` is well-formed JSON text (`None` when absent or `null`).
    fn call(
        &self,
        arguments: Option<&[u8]>,
    ) -> impl Future<Output = Result<Bytes, ToolError>> + Send;
}

/// A tool that answers without waiting on anything: called on the caller's own
/// task (no mailbox, no worker, no in-flight entry) unless the server runs
/// with `--tool-workers`. Object-safe, so the server keeps them in one list.
pub(crate) trait AnswersAtOnce: Send + Sync {
    /// Its name in `tools/call`.
    fn name(&self) -> &'static str;

    /// The answer to one call, as [`Tool::call`] gives it.
    fn answer(&self, arguments: Option<&[u8]>) -> Result<Bytes, ToolError>;
}

/// A tool's `tools/list` entry.
pub(crate) fn listing(tool: &impl Tool) -> Value {
    let (description, schema) = tool.describe();
    json!({"name": tool.name(), "description": description, "inputSchema": schema})
}

/// `echo`: returns its `text` argument.
#[derive(Clone)]
pub(crate) struct Echo;

impl AnswersAtOnce for Echo {
    fn name(&self) -> &'static str {
        Tool::name(self)
    }

    fn answer(&self, arguments: Option<&[u8]>) -> Result<Bytes, ToolError> {
        echo(arguments)
    }
}

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

    async fn call(&self, arguments: Option<&[u8]>) -> Result<Bytes, ToolError> {
        echo(arguments)
    }
}

/// `text`: returns a text of the server's configured size.
#[derive(Clone)]
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

    async fn call(&self, _arguments: Option<&[u8]>) -> Result<Bytes, ToolError> {
        Ok(self.content.clone())
    }
}

impl AnswersAtOnce for Text {
    fn name(&self) -> &'static str {
        Tool::name(self)
    }

    fn answer(&self, _arguments: Option<&[u8]>) -> Result<Bytes, ToolError> {
        Ok(self.content.clone())
    }
}

/// `touch`: updates a resource (its counter goes up by one) and publishes the
/// update to every stream subscribed to it, with the caller's `stamp` when it
/// gives one (what `mcpbench-load listen` measures delivery from). Answered on
/// each caller's task, so touches arriving at once on two connections may
/// publish their event numbers (`mcpbench/event`) out of order; one
/// connection's touches stay in order (`--tool-workers`: one worker, in order).
#[derive(Clone)]
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

    async fn call(&self, arguments: Option<&[u8]>) -> Result<Bytes, ToolError> {
        self.answer(arguments)
    }
}

impl AnswersAtOnce for Touch {
    fn name(&self) -> &'static str {
        Tool::name(self)
    }

    fn answer(&self, arguments: Option<&[u8]>) -> Result<Bytes, ToolError> {
        #[derive(serde::Deserialize, Default)]
        struct Args {
            uri: Option<String>,
            stamp: Option<String>,
        }
        let args = match arguments.map(serde_json::from_slice::<Args>) {
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
    let mut literal = Vec::with_capacity(text.len() + 2);
    push_json_str(&mut literal, text);
    content_around(&literal, is_error)
}

/// The result with one text item whose JSON string literal (quotes and escapes
/// included) is `literal`. `resultType` is required by the stateless
/// generation and ignored by the handshake one, so one serialization serves
/// both.
fn content_around(literal: &[u8], is_error: bool) -> Bytes {
    // serde_json's order for a `Value` (keys sorted), so the bytes are the
    // ones it wrote before this was assembled by hand.
    const HEAD: &[u8] = br#"{"content":[{"text":"#;
    let tail: &[u8] = if is_error {
        br#","type":"text"}],"isError":true,"resultType":"complete"}"#
    } else {
        br#","type":"text"}],"isError":false,"resultType":"complete"}"#
    };
    let mut out = Vec::with_capacity(HEAD.len() + literal.len() + tail.len());
    out.extend_from_slice(HEAD);
    out.extend_from_slice(literal);
    out.extend_from_slice(tail);
    Bytes::from(out)
}

/// `s` as a JSON string literal, appended to `out`: copied as it is when
/// nothing in it needs escaping (no quote, backslash or byte below 0x20: found
/// with memchr and a loop without early exit, both vectorised), else through
/// serde_json's escaper (byte by byte: a third of the server's time when every
/// 4 KiB echo went through it, flamegraph of `mcpbench-load pipeline`).
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let control = b.iter().fold(u8::MAX, |m, &c| m.min(c)) < 0x20;
    if !control && memchr::memchr2(b'"', b'\\', b).is_none() {
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// `echo`'s answer to `arguments`. A `text` written without escapes is copied
/// into the result as the client wrote it (found by netio's validating
/// `members` scan, crossing the string with SIMD), so it is neither unescaped
/// nor escaped again, and serde_json never walks it; one with escapes is
/// decoded (a lone surrogate is refused) and escaped again. Arguments the scan
/// does not take are read by serde_json, whose verdict stands.
pub(crate) fn echo(arguments: Option<&[u8]>) -> Result<Bytes, ToolError> {
    let refused = || ToolError::Arguments("echo needs a string argument `text`".into());
    let raw = arguments.ok_or_else(refused)?;
    let text: &[u8] = match mcpbench_netio::members(raw) {
        Some(members) => match members.into_iter().find(|(key, _)| *key == b"text") {
            Some((_, at)) => &raw[at],
            None => return Err(refused()),
        },
        None => {
            #[derive(serde::Deserialize)]
            struct Echo<'a> {
                #[serde(borrow)]
                text: &'a RawValue,
            }
            match serde_json::from_slice::<Echo>(raw) {
                Ok(Echo { text }) => text.get().as_bytes(),
                Err(_) => return Err(refused()),
            }
        }
    };
    if mcpbench_netio::plain_literal(text).is_some() {
        return Ok(content_around(text, false));
    }
    match serde_json::from_slice::<String>(text) {
        Ok(decoded) => Ok(text_content(&decoded, false)),
        Err(_) => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_reads_its_text_from_the_raw_arguments() {
        let raw = |s: &'static str| s.as_bytes();
        assert!(echo(Some(raw(r#"{"text":"h\u00e9"}"#))).is_ok());
        for bad in [r#"{"text":1}"#, "[]", "null", r#"{"other":"x"}"#] {
            assert!(
                echo(Some(raw(bad)))
                    .unwrap_err()
                    .to_string()
                    .contains("`text`"),
                "{bad}"
            );
        }
        assert!(echo(None).is_err());
    }

    /// What the result was before the copy: the text decoded, then escaped by
    /// serde_json inside a `Value`.
    fn through_serde(text: &str, is_error: bool) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"content":[{"type":"text","text":text}],"isError":is_error,"resultType":"complete"}),
        )
        .unwrap()
    }

    #[test]
    fn results_are_the_bytes_serde_json_wrote() {
        let texts = [
            "",
            "plain ascii 0123",
            "quote \" inside",
            "back\\slash",
            "tab\tnewline\ncr\r nul\u{0} us\u{1f}",
            "del \u{7f} é 日本 🦀",
            "</script> & 'single'",
        ];
        for text in texts {
            for is_error in [false, true] {
                assert_eq!(
                    text_content(text, is_error).as_ref(),
                    through_serde(text, is_error),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn echo_answers_what_serde_json_would_have_for_every_way_of_writing_a_string() {
        for (arguments, text) in [
            (r#"{"text":"plain"}"#, "plain"),
            (r#"{"text":""}"#, ""),
            (r#"{"text":"h\u00e9"}"#, "hé"),
            (r#"{"text":"a\"b\\c\n"}"#, "a\"b\\c\n"),
            (r#"{"text":"\ud83e\udd80 crab"}"#, "🦀 crab"),
            (r#"{"text":"é 🦀 raw","other":[1,{"x":"y"}]}"#, "é 🦀 raw"),
            (r#"{"other":"x","text":"last"}"#, "last"),
            // Declined by the scan (a \u escape in a key): serde_json reads
            // it, as before.
            (r#"{"\u0074ext":"escaped key"}"#, "escaped key"),
        ] {
            let got = echo(Some(arguments.as_bytes())).expect(arguments);
            assert_eq!(got.as_ref(), through_serde(text, false), "{arguments}");
        }
        // A lone surrogate is not a string serde_json can decode: refused, as
        // before the copy.
        assert!(echo(Some(br#"{"text":"\ud800"}"#)).is_err());
        // A duplicate key: the scan declines, serde_json refuses, as before.
        assert!(echo(Some(br#"{"text":"first","text":"second"}"#)).is_err());
    }
}

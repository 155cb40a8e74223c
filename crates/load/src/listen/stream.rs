//! One listener's stream read as it arrives: server-sent events split off the
//! body, the resource notifications among them, and when each was due.

use bytes::{Buf, BytesMut};
use serde::Deserialize;

/// What one SSE event of a listen stream is, as far as the load tool cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// `notifications/subscriptions/acknowledged` for this subscription id
    /// (`None`: the id was not there).
    Acknowledged(Option<u64>),
    /// `notifications/resources/updated` of `uri`, triggered at `stamp` (the
    /// trigger's due time, ns on the run's clock), tagged with a subscription id
    /// (`None` on the GET stream).
    Updated {
        /// The resource.
        uri: String,
        /// `_meta["mcpbench/stamp"]`, parsed; `None` when missing or not a number.
        stamp: Option<u64>,
        /// `_meta["io.modelcontextprotocol/subscriptionId"]`.
        subscription: Option<u64>,
    },
    /// Any other message.
    Other(String),
    /// An event whose data is not JSON-RPC.
    Malformed(String),
}

#[derive(Deserialize)]
struct Note {
    method: Option<String>,
    #[serde(default)]
    params: NoteParams,
}

#[derive(Deserialize, Default)]
struct NoteParams {
    uri: Option<String>,
    #[serde(rename = "_meta", default)]
    meta: NoteMeta,
}

#[derive(Deserialize, Default)]
struct NoteMeta {
    #[serde(rename = "mcpbench/stamp")]
    stamp: Option<String>,
    #[serde(rename = "io.modelcontextprotocol/subscriptionId")]
    subscription: Option<u64>,
}

/// Splits a stream's bytes into events (`\n\n`-terminated blocks; comments
/// skipped; `\r\n` tolerated) and reads each one's `data`.
#[derive(Default)]
pub struct SseReader {
    buf: BytesMut,
}

impl SseReader {
    /// Adds bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, if one is in.
    pub fn next_event(&mut self) -> Option<Seen> {
        loop {
            let end = find_blank_line(&self.buf)?;
            let block = self.buf.split_to(end.0);
            self.buf.advance(end.1);
            let mut data = Vec::new();
            for line in block[..].split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(d) = line.strip_prefix(b"data:") {
                    if !data.is_empty() {
                        data.push(b'\n');
                    }
                    data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
                }
            }
            // A comment or keep-alive block has no data.
            if !data.is_empty() {
                return Some(classify(&data));
            }
        }
    }
}

/// Where the first blank line is: (the block's length, the separator's length).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = memchr::memmem::find(buf, b"\n\n").map(|i| (i, 2));
    let crlf = memchr::memmem::find(buf, b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn classify(data: &[u8]) -> Seen {
    let note: Note = match serde_json::from_slice(data) {
        Ok(n) => n,
        Err(e) => return Seen::Malformed(format!("event data is not JSON: {e}")),
    };
    match note.method.as_deref() {
        Some("notifications/subscriptions/acknowledged") => {
            Seen::Acknowledged(note.params.meta.subscription)
        }
        Some("notifications/resources/updated") => Seen::Updated {
            uri: note.params.uri.unwrap_or_default(),
            stamp: note.params.meta.stamp.and_then(|s| s.parse().ok()),
            subscription: note.params.meta.subscription,
        },
        Some(other) => Seen::Other(other.to_string()),
        None => Seen::Malformed("event data without a method".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_however_the_bytes_arrive_and_comments_are_skipped() {
        let stream = concat!(
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/subscriptions/acknowledged\",\"params\":{\"notifications\":{},\"_meta\":{\"io.modelcontextprotocol/subscriptionId\":7}}}\n\n",
            ": keep-alive\n\n",
            "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\",\"params\":{\"uri\":\"u\",\"_meta\":{\"mcpbench/stamp\":\"123\",\"io.modelcontextprotocol/subscriptionId\":7}}}\r\n\r\n",
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n",
            "data: nope\n\n",
        );
        for step in [1, 7, stream.len()] {
            let mut r = SseReader::default();
            let mut seen = Vec::new();
            for piece in stream.as_bytes().chunks(step) {
                r.push(piece);
                while let Some(s) = r.next_event() {
                    seen.push(s);
                }
            }
            assert_eq!(seen.len(), 4, "pieces of {step}: {seen:?}");
            assert_eq!(seen[0], Seen::Acknowledged(Some(7)));
            assert_eq!(
                seen[1],
                Seen::Updated {
                    uri: "u".into(),
                    stamp: Some(123),
                    subscription: Some(7)
                }
            );
            assert_eq!(seen[2], Seen::Other("notifications/message".into()));
            assert!(matches!(seen[3], Seen::Malformed(_)));
        }
    }
}

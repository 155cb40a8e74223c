//! The fan-out ceiling beside `subscriptions/listen`, inside the bare hyper
//! service (`bare_http.rs`): a request whose `Mcp-Method` header is
//! `subscriptions/listen` is answered with an event stream (hyper's chunked
//! body, polled by its connection task) that sends the same acknowledgement and
//! the same notification bytes as `mcpbench-server`; a `tools/call` whose
//! `Mcp-Name` is `touch` publishes an update carrying the request's `stamp`. It
//! reads only the listen request's `id` and the touch's `stamp` (a scan, no JSON
//! parse) and keeps no session, subscription filter or count: what the MCP
//! server's fan-out is judged against. Only the stateless generation.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{BufMut, Bytes, BytesMut};
use hyper::body::{Body, Frame};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::{self, Receiver};
use tokio_util::sync::ReusableBoxFuture;

use crate::events::{Event, RESOURCES};
use crate::listen::SUBSCRIPTION_ID;

/// The updates published so far and the ring every stream reads.
pub(crate) struct Fanout {
    tx: broadcast::Sender<Bytes>,
    seq: AtomicU64,
}

type Received = (Result<Bytes, RecvError>, Receiver<Bytes>);

async fn next(mut rx: Receiver<Bytes>) -> Received {
    (rx.recv().await, rx)
}

/// One listener's stream: the acknowledgement, then each update with this
/// stream's subscription id; it ends when it falls further behind than the ring.
pub(crate) struct ListenBody {
    first: Option<Bytes>,
    tail: Bytes,
    recv: ReusableBoxFuture<'static, Received>,
}

const PREFIX: &[u8] = b"event: message\ndata: ";

impl Fanout {
    /// A ring of `capacity` updates (the MCP server's `--listen-queue` default).
    pub(crate) fn new(capacity: usize) -> Fanout {
        Fanout {
            tx: broadcast::channel(capacity.max(1)).0,
            seq: AtomicU64::new(0),
        }
    }

    /// The stream answering a listen request with `body`.
    pub(crate) fn listen(&self, body: &[u8]) -> ListenBody {
        let id = scan_number(body, br#""id":"#).unwrap_or("null");
        let ack = format!(
            r#"event: message
data: {{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{{"notifications":{{"resourceSubscriptions":["{}"]}},"_meta":{{"{SUBSCRIPTION_ID}":{id}}}}}}}

"#,
            RESOURCES[0]
        );
        ListenBody {
            first: Some(Bytes::from(ack)),
            tail: Bytes::from(format!(",\"{SUBSCRIPTION_ID}\":{id}}}}}}}\n\n")),
            recv: ReusableBoxFuture::new(next(self.tx.subscribe())),
        }
    }

    /// Publishes the update a touch request with `body` asks for.
    pub(crate) fn touch(&self, body: &[u8]) {
        let stamp = scan_string(body, br#""stamp":""#);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(event) = Event::updated(RESOURCES[0], seq, stamp) {
            let _ = self.tx.send(event.open);
        }
    }
}

/// The number (digits) after `key` in `body`.
fn scan_number<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let at = memchr::memmem::find(body, key)? + key.len();
    let rest = &body[at..];
    let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..len])
        .ok()
        .filter(|s| !s.is_empty())
}

/// The string (no escapes) after `key` (which ends with its opening quote).
fn scan_string<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let at = memchr::memmem::find(body, key)? + key.len();
    let len = memchr::memchr(b'"', &body[at..])?;
    std::str::from_utf8(&body[at..at + len]).ok()
}

impl Body for ListenBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        let (got, rx) = ready!(self.recv.poll(cx));
        self.recv.set(next(rx));
        match got {
            Ok(open) => {
                let mut event =
                    BytesMut::with_capacity(PREFIX.len() + open.len() + self.tail.len());
                event.put_slice(PREFIX);
                event.put_slice(&open);
                event.put_slice(&self.tail);
                Poll::Ready(Some(Ok(Frame::data(event.freeze()))))
            }
            // Behind the ring, or no publisher: the stream ends.
            Err(_) => Poll::Ready(None),
        }
    }
}

/// Shared by every connection of the bare server.
pub(crate) type SharedFanout = Arc<Fanout>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_and_the_stamp_are_found_without_a_parse() {
        let body = br#"{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"touch","arguments":{"uri":"u","stamp":"123"}}}"#;
        assert_eq!(scan_number(body, br#""id":"#), Some("17"));
        assert_eq!(scan_string(body, br#""stamp":""#), Some("123"));
        assert_eq!(scan_string(b"{}", br#""stamp":""#), None);
    }
}

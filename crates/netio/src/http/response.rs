//! HTTP/1.1 responses written into a send buffer: `application/json`,
//! `text/event-stream` (one event per message, or a stream that stays open), or
//! no body.

use std::fmt;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};

/// What a response carries.
#[derive(Debug)]
pub enum Body {
    /// No body (`Content-Length: 0`).
    Empty,
    /// One JSON value, `application/json`.
    Json(Bytes),
    /// Server-sent events, `text/event-stream`: each JSON value one `message`
    /// event.
    Events(Vec<Bytes>),
    /// Plain text, `text/plain` (errors outside JSON-RPC).
    Text(Bytes),
    /// Server-sent events that go on: the head is sent with
    /// `Transfer-Encoding: chunked`, then the connection writes what the source
    /// gives until it ends, the client closes, or the server shuts down; the
    /// connection closes with the stream (MCP's `subscriptions/listen` and GET
    /// streams).
    Stream(EventSource),
}

/// The source of an open event stream ([`Body::Stream`]).
pub trait EventStream: Send + 'static {
    /// Appends the events that are due to `out`, each a whole SSE event (`data:
    /// ...\n\n`), and returns `Ready(Ok(()))` once it appended something;
    /// `Pending` (after arranging a wake-up) when nothing is due;
    /// `Ready(Err(end))` when the stream is over.
    fn poll_events(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut BytesMut,
    ) -> Poll<Result<(), StreamEnd>>;

    /// Called at each keep-alive tick (the stream was quiet for the interval):
    /// `Err` ends the stream (what it belonged to is gone). The default: it goes on.
    fn still_open(&mut self) -> Result<(), StreamEnd> {
        Ok(())
    }
}

/// Why the server ended an open event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamEnd {
    /// The listener fell further behind than the source keeps: it was closed, so
    /// it delays no one (the others' events were never waiting on it).
    #[error("the listener fell {missed} events behind and was closed")]
    Lagged {
        /// Events it would have missed.
        missed: u64,
    },
    /// The source has no more events.
    #[error("the source ended the stream")]
    Finished,
}

/// An open stream's source, boxed (one per stream, made when it opens).
pub struct EventSource(pub Box<dyn EventStream>);

impl fmt::Debug for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSource")
    }
}

/// One response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields besides content-type, content-length and connection.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A response with no body.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// An `application/json` response.
    pub fn json(status: u16, json: Bytes) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Json(json),
        }
    }

    /// A `text/event-stream` response with one `message` event.
    pub fn event(status: u16, json: Bytes) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Events(vec![json]),
        }
    }

    /// A `text/event-stream` response that stays open, fed by `source`.
    pub fn stream(status: u16, source: impl EventStream) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Stream(EventSource(Box::new(source))),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: impl Into<Bytes>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Text(text.into()),
        }
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response into `out`; `keep_alive` false adds `Connection: close`.
    pub fn encode(&self, keep_alive: bool, out: &mut BytesMut) {
        let (content_type, len) = match &self.body {
            Body::Empty => (None, 0),
            Body::Json(b) => (Some("application/json"), b.len()),
            Body::Text(b) => (Some("text/plain; charset=utf-8"), b.len()),
            Body::Events(events) => (
                Some("text/event-stream"),
                events
                    .iter()
                    .map(|e| EVENT_PREFIX.len() + e.len() + 2)
                    .sum(),
            ),
            Body::Stream(_) => (Some("text/event-stream"), 0),
        };
        out.reserve(len + 160);
        // Numbers by `itoa` into a stack buffer: `to_string` cost two allocations
        // and the formatting machinery on every response.
        let mut number = itoa::Buffer::new();
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(number.format(self.status).as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(t) = content_type {
            out.extend_from_slice(b"content-type: ");
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if matches!(self.body, Body::Events(_) | Body::Stream(_)) {
            out.extend_from_slice(b"cache-control: no-cache\r\n");
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        // A stream ends with its connection: say so, so no client pools it.
        if !keep_alive || matches!(self.body, Body::Stream(_)) {
            out.extend_from_slice(b"connection: close\r\n");
        }
        if matches!(self.body, Body::Stream(_)) {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            return;
        }
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(number.format(len).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        match &self.body {
            Body::Empty | Body::Stream(_) => {}
            Body::Json(b) | Body::Text(b) => out.extend_from_slice(b),
            Body::Events(events) => {
                for e in events {
                    // JSON has no raw newline, so one `data:` line carries it.
                    out.extend_from_slice(EVENT_PREFIX);
                    out.extend_from_slice(e);
                    out.extend_from_slice(b"\n\n");
                }
            }
        }
    }
}

const EVENT_PREFIX: &[u8] = b"event: message\ndata: ";

/// Appends one `message` event carrying `json` (one JSON value: no raw newline)
/// to `out`, as an [`EventStream`] writes it.
pub fn push_event(out: &mut BytesMut, json: &[&[u8]]) {
    out.extend_from_slice(EVENT_PREFIX);
    for part in json {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"\n\n");
}

/// Frames `data` as one chunk of a chunked body into `out` (nothing when empty:
/// an empty chunk would end the body).
pub fn push_chunk(out: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Which response types an `Accept` header allows: (JSON, event stream). A missing
/// header accepts anything; `q=0` refuses a type.
pub fn accepts(accept: Option<&str>) -> (bool, bool) {
    let Some(accept) = accept else {
        return (true, true);
    };
    let (mut json, mut events) = (false, false);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        match media.as_str() {
            "*/*" => (json, events) = (true, true),
            "application/*" | "application/json" => json = true,
            "text/*" | "text/event-stream" => events = true,
            _ => {}
        }
    }
    (json, events)
}

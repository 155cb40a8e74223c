//! HTTP/1.1 responses written into a send buffer: `application/json`,
//! `text/event-stream` (one event per message), or no body.

use bytes::{Bytes, BytesMut};

/// What a response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        };
        out.reserve(len + 160);
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(t) = content_type {
            out.extend_from_slice(b"content-type: ");
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if matches!(self.body, Body::Events(_)) {
            out.extend_from_slice(b"cache-control: no-cache\r\n");
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !keep_alive {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(len.to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        match &self.body {
            Body::Empty => {}
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

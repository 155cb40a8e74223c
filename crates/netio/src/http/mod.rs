//! HTTP/1.1 messages, no I/O: a request decoder over a receive buffer (the head by
//! `httparse`, the body by `Content-Length` or chunked), and responses written into
//! a send buffer (`application/json`, `text/event-stream`, or no body).
//!
//! The decoder keeps no buffer of its own: it splits complete requests off the
//! connection's receive buffer, so a connection between requests holds nothing
//! (netio's buffer discipline), and a request's body is a `Bytes` view of what was
//! read whenever it arrived in one piece (content-length bodies always are).

use std::ops::Range;

use bytes::{Bytes, BytesMut};

mod response;

pub use response::{
    Body, EventSource, EventStream, LAST_CHUNK, Response, StreamEnd, accepts, push_chunk,
    push_event, reason,
};

/// Most header fields in a request head.
pub const MAX_HEADERS: usize = 64;

/// How big a request may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest request head (request line and header fields), in bytes.
    pub max_head: usize,
    /// Longest request body, in bytes (after chunked decoding).
    pub max_body: usize,
}

impl Default for HttpLimits {
    /// 16 KiB heads, 4 MiB bodies (what the official Python SDK allows).
    fn default() -> Self {
        HttpLimits {
            max_head: 16 * 1024,
            max_body: 4 * 1024 * 1024,
        }
    }
}

/// Why a request could not be read. Each has the status the connection answers
/// with before it is closed ([`HttpError::status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The head grew past [`HttpLimits::max_head`] without ending.
    #[error("request head longer than {limit} bytes")]
    HeadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The request line or a header field is malformed.
    #[error("malformed request head: {0}")]
    BadHead(String),
    /// The body is longer than [`HttpLimits::max_body`].
    #[error("request body of {len} bytes is over the limit of {limit}")]
    BodyTooLarge {
        /// The length announced (or reached, for chunked bodies).
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// `Content-Length` is not a number, or two of them disagree, or it comes with
    /// `Transfer-Encoding` (a request-smuggling shape, refused).
    #[error("bad body framing: {0}")]
    BadFraming(String),
    /// A transfer coding other than `chunked`.
    #[error("unsupported transfer-encoding: {0}")]
    UnsupportedEncoding(String),
    /// A chunk size line or chunk end is malformed.
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    /// The connection ended inside a request.
    #[error("connection closed inside a request ({0} bytes of it read)")]
    Truncated(usize),
}

impl HttpError {
    /// The status a server answers this with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge { .. } => 431,
            HttpError::BodyTooLarge { .. } => 413,
            HttpError::UnsupportedEncoding(_) => 501,
            HttpError::BadHead(_)
            | HttpError::BadFraming(_)
            | HttpError::BadChunk(_)
            | HttpError::Truncated(_) => 400,
        }
    }
}

/// The request methods a server tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
    /// `HEAD` (its response carries no body).
    Head,
    /// Anything else (`HEAD`, `PUT`, ...).
    Other,
}

/// One complete request.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    /// The head as read; the ranges below point into it.
    head: Bytes,
    path: Range<usize>,
    headers: Vec<(Range<usize>, Range<usize>)>,
    body: Bytes,
    keep_alive: bool,
}

impl Request {
    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The request target's path, without any query (`/mcp` of `/mcp?x=1`).
    pub fn path(&self) -> &str {
        let target = self.text(&self.path);
        target.split('?').next().unwrap_or(target)
    }

    /// The first value of header `name` (case-insensitive), trimmed; `None` when
    /// absent or not visible ASCII/UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| self.head[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| std::str::from_utf8(&self.head[v.clone()]).ok())
            .map(str::trim)
    }

    /// Every value of header `name`, in order.
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| self.head[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .filter_map(|(_, v)| std::str::from_utf8(&self.head[v.clone()]).ok())
            .map(str::trim)
    }

    /// How many fields named `name` there are, readable or not.
    fn fields(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| self.head[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .count()
    }

    /// The body (empty when there is none).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Takes the body out.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// Whether the connection stays open after the response (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    fn text(&self, r: &Range<usize>) -> &str {
        std::str::from_utf8(&self.head[r.clone()]).unwrap_or("")
    }
}

/// How the body of the request being read is delimited.
#[derive(Debug)]
enum Framing {
    Length(usize),
    Chunked {
        body: BytesMut,
        /// Bytes of the current chunk still to come (then its CRLF); `None` between
        /// chunks (a size line is next).
        remaining: Option<usize>,
        /// After the last chunk: trailer fields until an empty line.
        trailers: bool,
    },
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        request: Request,
        framing: Framing,
        expects_continue: bool,
    },
}

/// What [`RequestDecoder::decode`] found.
#[derive(Debug)]
pub enum Decoded {
    /// A complete request.
    Request(Request),
    /// Not complete yet: read more. `send_continue` is set once, when the head
    /// asked for `Expect: 100-continue` and its body has not come yet.
    NeedMore {
        /// Send `HTTP/1.1 100 Continue` now.
        send_continue: bool,
    },
}

/// Reads requests one after another from a connection's receive buffer.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: HttpLimits,
    state: State,
}

impl RequestDecoder {
    /// A decoder with `limits`.
    pub fn new(limits: HttpLimits) -> Self {
        RequestDecoder {
            limits,
            state: State::Head,
        }
    }

    /// Whether a request is partly read (the connection is not between requests).
    pub fn in_request(&self, buf: &BytesMut) -> bool {
        !buf.is_empty() || matches!(self.state, State::Body { .. })
    }

    /// Splits the next complete request off `buf`, or says more is needed. An
    /// error is final: the connection answers [`HttpError::status`] and closes.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, HttpError> {
        if let State::Head = self.state {
            match self.head(buf)? {
                Some(state) => self.state = state,
                None => {
                    return Ok(Decoded::NeedMore {
                        send_continue: false,
                    });
                }
            }
        }
        let State::Body {
            framing,
            expects_continue,
            ..
        } = &mut self.state
        else {
            unreachable!("the head was read above");
        };
        let body = match framing {
            Framing::Length(n) => (buf.len() >= *n).then(|| buf.split_to(*n).freeze()),
            Framing::Chunked {
                body,
                remaining,
                trailers,
            } => chunked(buf, body, remaining, trailers, self.limits.max_body)?,
        };
        match body {
            Some(body) => {
                let State::Body { mut request, .. } =
                    std::mem::replace(&mut self.state, State::Head)
                else {
                    unreachable!("in the body state");
                };
                request.body = body;
                Ok(Decoded::Request(request))
            }
            None => Ok(Decoded::NeedMore {
                send_continue: std::mem::take(expects_continue),
            }),
        }
    }

    /// At end of stream: an error if a request was cut off.
    pub fn decode_eof(&self, buf: &BytesMut) -> Result<(), HttpError> {
        if self.in_request(buf) {
            return Err(HttpError::Truncated(buf.len()));
        }
        Ok(())
    }

    fn head(&self, buf: &mut BytesMut) -> Result<Option<State>, HttpError> {
        // Blank lines before a request line are allowed (RFC 9112 2.2).
        while buf.starts_with(b"\r\n") {
            let _ = buf.split_to(2);
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut fields);
        let n = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > self.limits.max_head => {
                return Err(HttpError::HeadTooLarge {
                    limit: self.limits.max_head,
                });
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HttpError::HeadTooLarge {
                    limit: self.limits.max_head,
                });
            }
            Err(e) => return Err(HttpError::BadHead(e.to_string())),
        };
        if n > self.limits.max_head {
            return Err(HttpError::HeadTooLarge {
                limit: self.limits.max_head,
            });
        }
        let base = buf.as_ptr() as usize;
        let range = |s: &[u8]| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let method = match parsed.method.unwrap_or("") {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "HEAD" => Method::Head,
            _ => Method::Other,
        };
        let path = range(parsed.path.unwrap_or("").as_bytes());
        let version = parsed.version.unwrap_or(1);
        let headers: Vec<_> = parsed
            .headers
            .iter()
            .map(|h| (range(h.name.as_bytes()), range(h.value)))
            .collect();
        let mut request = Request {
            method,
            head: Bytes::new(),
            path,
            headers,
            body: Bytes::new(),
            keep_alive: true,
        };
        request.head = buf.split_to(n).freeze();
        // Every Connection field's comma-separated tokens, without joining them.
        let has = |token: &str| {
            request
                .headers("connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        let keep_alive = if version == 0 {
            has("keep-alive")
        } else {
            !has("close")
        };
        request.keep_alive = keep_alive;
        let framing = self.framing(&request)?;
        let expects_continue = request
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
            && version == 1;
        Ok(Some(State::Body {
            request,
            framing,
            expects_continue,
        }))
    }

    fn framing(&self, request: &Request) -> Result<Framing, HttpError> {
        let encodings: Vec<&str> = request.headers("transfer-encoding").collect();
        // Read twice rather than collected: a request has one, and this runs for
        // every request.
        let lengths = || request.headers("content-length");
        // A framing field that cannot be read must not be skipped: the body would
        // be taken for the next request (a smuggling shape the fuzzer found).
        for (name, readable) in [
            ("Transfer-Encoding", encodings.len()),
            ("Content-Length", lengths().count()),
        ] {
            if request.fields(name) != readable {
                return Err(HttpError::BadFraming(format!(
                    "a {name} field that is not ASCII"
                )));
            }
        }
        if !encodings.is_empty() {
            if lengths().next().is_some() {
                return Err(HttpError::BadFraming(
                    "both Transfer-Encoding and Content-Length".into(),
                ));
            }
            let all = encodings.join(",");
            if !all.trim().eq_ignore_ascii_case("chunked") {
                return Err(HttpError::UnsupportedEncoding(all));
            }
            return Ok(Framing::Chunked {
                body: BytesMut::new(),
                remaining: None,
                trailers: false,
            });
        }
        let mut length: Option<u64> = None;
        for value in lengths().flat_map(|v| v.split(',')) {
            let value = value.trim();
            let n: u64 = value
                .parse()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    HttpError::BadFraming(format!("Content-Length {value:?} is not a number"))
                })?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::BadFraming(format!(
                    "Content-Length given twice, differently: {}",
                    lengths().collect::<Vec<_>>().join(", ")
                )));
            }
            length = Some(n);
        }
        let length = length.unwrap_or(0);
        if length > self.limits.max_body as u64 {
            return Err(HttpError::BodyTooLarge {
                len: length,
                limit: self.limits.max_body,
            });
        }
        Ok(Framing::Length(length as usize))
    }
}

/// Reads what it can of a chunked body; the body once its last chunk and
/// trailers are in.
fn chunked(
    buf: &mut BytesMut,
    body: &mut BytesMut,
    remaining: &mut Option<usize>,
    trailers: &mut bool,
    max_body: usize,
) -> Result<Option<Bytes>, HttpError> {
    loop {
        if *trailers {
            // Trailer fields are read and dropped, up to the empty line.
            let Some(end) = memchr::memmem::find(buf, b"\r\n") else {
                if buf.len() > 8 * 1024 {
                    return Err(HttpError::BadChunk("trailer line too long"));
                }
                return Ok(None);
            };
            let line = buf.split_to(end + 2);
            if end == 0 {
                return Ok(Some(std::mem::take(body).freeze()));
            }
            if line.len() > 8 * 1024 {
                return Err(HttpError::BadChunk("trailer line too long"));
            }
            continue;
        }
        match remaining {
            None => {
                let (used, size) = match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete(c)) => c,
                    Ok(httparse::Status::Partial) if buf.len() > 1024 => {
                        return Err(HttpError::BadChunk("chunk size line too long"));
                    }
                    Ok(httparse::Status::Partial) => return Ok(None),
                    Err(_) => return Err(HttpError::BadChunk("invalid chunk size")),
                };
                let _ = buf.split_to(used);
                if size == 0 {
                    *trailers = true;
                    continue;
                }
                if body.len() as u64 + size > max_body as u64 {
                    return Err(HttpError::BodyTooLarge {
                        len: body.len() as u64 + size,
                        limit: max_body,
                    });
                }
                *remaining = Some(size as usize);
            }
            Some(n) => {
                if buf.len() < *n + 2 {
                    // Take what is here of the chunk now, so the receive buffer
                    // can be dropped between reads.
                    let take = buf.len().min(*n);
                    body.extend_from_slice(&buf.split_to(take));
                    *n -= take;
                    if buf.len() < *n + 2 {
                        return Ok(None);
                    }
                }
                body.extend_from_slice(&buf.split_to(*n));
                if &buf[..2] != b"\r\n" {
                    return Err(HttpError::BadChunk("chunk not followed by CRLF"));
                }
                let _ = buf.split_to(2);
                *remaining = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! What the HTTP test files share: servers, a hyper client, raw connections.
#![allow(dead_code)]
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use mcpbench_server::http::{HttpSettings, STATELESS_VERSION};
use mcpbench_server::{Running, Settings, start_http};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The endpoint of [`HttpSettings::default`].
pub const ENDPOINT: &str = "/mcp";

/// What the spec's client sends as `Accept`.
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// The `_meta` key of the stateless generation's protocol version.
pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// Longest any single exchange may take before a test fails (instead of hanging).
const PATIENCE: Duration = Duration::from_secs(10);

/// A server on an ephemeral loopback port, HTTP transport.
pub async fn serve(settings: Settings, http: HttpSettings) -> Running {
    start_http("127.0.0.1:0".parse().unwrap(), settings, http)
        .await
        .expect("start_http")
}

/// A server with these settings and one hyper connection to it.
pub async fn connected(settings: Settings, http: HttpSettings) -> (Running, Client) {
    let s = serve(settings, http).await;
    let c = Client::connect(s.local_addr()).await;
    (s, c)
}

/// A server with default settings and one hyper connection to it.
pub async fn default_server() -> (Running, Client) {
    connected(Settings::default(), HttpSettings::default()).await
}

/// A response as the tests look at it (from hyper or read raw).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The first value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    /// The body as JSON (an `application/json` response).
    pub fn json(&self) -> Value {
        assert_eq!(self.content_type(), Some("application/json"), "{self:?}");
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }

    /// `error.code` of the JSON-RPC response in the body.
    pub fn error_code(&self) -> i64 {
        let body = self.json();
        body["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("not a JSON-RPC error: {body}"))
    }

    /// Asserts a JSON-RPC error response with this status and code; its body.
    pub fn assert_rpc_error(&self, status: u16, code: i32) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.error_code(), i64::from(code), "{self:?}");
        self.json()
    }

    /// Asserts a `text/plain` response with this status; its text.
    pub fn assert_text(&self, status: u16) -> &str {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type(), Some("text/plain; charset=utf-8"));
        self.text()
    }

    /// The one `message` event of a `text/event-stream` response, parsed.
    pub fn event(&self) -> Value {
        assert_eq!(self.content_type(), Some("text/event-stream"), "{self:?}");
        let data = self
            .text()
            .strip_prefix("event: message\ndata: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .unwrap_or_else(|| panic!("not one message event: {:?}", self.text()));
        serde_json::from_str(data).unwrap_or_else(|e| panic!("event data not JSON ({e})"))
    }
}

/// One keep-alive HTTP/1.1 connection, driven by hyper.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Client { sender }
    }

    /// Sends `request`; the whole response.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Reply {
        let exchange = async {
            self.sender.ready().await.expect("connection ready");
            let response = self.sender.send_request(request).await.expect("response");
            let (parts, body) = response.into_parts();
            let body = body.collect().await.expect("body").to_bytes();
            Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        };
        tokio::time::timeout(PATIENCE, exchange)
            .await
            .expect("an answer in time")
    }

    /// Sends `request` and returns the response's status, headers and its body as
    /// a stream of server-sent events, read as they arrive.
    pub async fn open_stream(&mut self, request: Request<Full<Bytes>>) -> (Reply, Events) {
        let exchange = async {
            self.sender.ready().await.expect("connection ready");
            self.sender.send_request(request).await.expect("response")
        };
        let response = tokio::time::timeout(PATIENCE, exchange)
            .await
            .expect("a response head in time");
        let (parts, body) = response.into_parts();
        let head = Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: Bytes::new(),
        };
        (
            head,
            Events {
                body,
                text: String::new(),
            },
        )
    }

    /// Initializes a session (the preferred revision): its `Mcp-Session-Id`.
    pub async fn open_session(&mut self) -> String {
        let r = self.send(post(&initialize(1, "2025-11-25"))).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.header("mcp-session-id")
            .expect("initialize answers with a session id")
            .to_string()
    }
}

/// Header edits on a request, chained.
pub trait Edit {
    fn with(self, name: &'static str, value: &str) -> Self;
    fn without(self, name: &'static str) -> Self;
}

impl Edit for Request<Full<Bytes>> {
    fn with(mut self, name: &'static str, value: &str) -> Self {
        self.headers_mut()
            .insert(name, HeaderValue::from_str(value).expect("a header value"));
        self
    }

    fn without(mut self, name: &'static str) -> Self {
        self.headers_mut().remove(name);
        self
    }
}

/// A POST of `body` to the endpoint as the spec's client sends it:
/// `Content-Type: application/json`, `Accept` of both response types.
pub fn post(body: &Value) -> Request<Full<Bytes>> {
    Request::post(ENDPOINT)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, ACCEPT_BOTH)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a request")
}

/// A request with no body (GET, DELETE) to the endpoint.
pub fn bodiless(method: Method) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(ENDPOINT)
        .body(Full::new(Bytes::new()))
        .expect("a request")
}

pub fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

pub fn notification(method: &str) -> Value {
    json!({"jsonrpc":"2.0","method":method})
}

pub fn initialize(id: u64, version: &str) -> Value {
    request(
        id,
        "initialize",
        json!({"protocolVersion":version,"capabilities":{},"clientInfo":{"name":"http-test","version":"1"}}),
    )
}

pub fn tool_call(id: u64, name: &str, arguments: Value) -> Value {
    request(id, "tools/call", json!({"name":name,"arguments":arguments}))
}

/// `msg` with the stateless generation's version in `params._meta`.
pub fn with_meta(mut msg: Value) -> Value {
    msg["params"]["_meta"] = json!({META_VERSION: STATELESS_VERSION});
    msg
}

/// A POST of `msg` in the stateless generation: `MCP-Protocol-Version:
/// 2026-07-28`, `Mcp-Method` from the body, and `Mcp-Name` from its
/// `params.name` when it has one. The body is sent as given.
pub fn stateless_post(msg: &Value) -> Request<Full<Bytes>> {
    let mut request = post(msg)
        .with("mcp-protocol-version", STATELESS_VERSION)
        .with("mcp-method", msg["method"].as_str().expect("a method"));
    if let Some(name) = msg["params"]["name"].as_str() {
        request = request.with("mcp-name", name);
    }
    request
}

/// A connection spoken to in raw bytes.
pub struct Raw {
    stream: BufReader<TcpStream>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Raw {
            stream: BufReader::new(stream),
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.expect("write");
    }

    /// The next response (an interim `100 Continue` too): status line, header
    /// fields, and a body of its `Content-Length` (every response of this
    /// server has one).
    pub async fn response(&mut self) -> Reply {
        tokio::time::timeout(PATIENCE, self.read_response())
            .await
            .expect("a response in time")
    }

    async fn read_response(&mut self) -> Reply {
        let status_line = self.line().await;
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
        let mut headers = HeaderMap::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("not a header field: {line:?}"));
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_str(value.trim()).expect("a header value"),
            );
        }
        let len = headers
            .get("content-length")
            .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).await.expect("the body");
        Reply {
            status,
            headers,
            body: body.into(),
        }
    }

    /// One CRLF-terminated line, without its CRLF.
    async fn line(&mut self) -> String {
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("a line");
        line.strip_suffix("\r\n")
            .unwrap_or_else(|| panic!("the connection ended inside a line: {line:?}"))
            .to_string()
    }

    /// Asserts the server closed the connection with nothing more sent.
    pub async fn assert_closed(&mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(PATIENCE, self.stream.read_to_end(&mut rest))
            .await
            .expect("the connection closed in time")
            .expect("a clean close");
        assert!(
            rest.is_empty(),
            "bytes after the last response: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

/// The raw bytes of a JSON POST to the endpoint with `Content-Length`, and
/// `extra` header lines (each ending in CRLF).
pub fn raw_post(body: &Value, extra: &str) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST {ENDPOINT} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\naccept: {ACCEPT_BOTH}\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The raw head of a chunked JSON POST to the endpoint (its chunks follow).
pub fn chunked_head() -> String {
    format!(
        "POST {ENDPOINT} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\naccept: {ACCEPT_BOTH}\r\ntransfer-encoding: chunked\r\n\r\n"
    )
}

/// `data` as one chunk.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// An open `text/event-stream` body, read event by event.
pub struct Events {
    body: hyper::body::Incoming,
    text: String,
}

/// One item of an event stream.
#[derive(Debug, PartialEq)]
pub enum Sse {
    /// A `data:` event's JSON.
    Data(Value),
    /// A comment line (`: ...`), without its colon.
    Comment(String),
    /// The body ended.
    End,
}

impl Events {
    /// The next event or comment, within `PATIENCE`.
    pub async fn next(&mut self) -> Sse {
        tokio::time::timeout(PATIENCE, self.read())
            .await
            .expect("an event in time")
    }

    /// The next `data:` event (comments skipped).
    pub async fn data(&mut self) -> Value {
        loop {
            match self.next().await {
                Sse::Data(v) => return v,
                Sse::Comment(_) => {}
                Sse::End => panic!("the stream ended"),
            }
        }
    }

    async fn read(&mut self) -> Sse {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                if let Some(comment) = block.strip_prefix(':') {
                    return Sse::Comment(comment.trim().to_string());
                }
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or_else(|| panic!("an event without data: {block:?}"));
                return Sse::Data(
                    serde_json::from_str(data)
                        .unwrap_or_else(|e| panic!("event data not JSON ({e}): {data}")),
                );
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.text
                            .push_str(std::str::from_utf8(&data).expect("UTF-8 events"));
                    }
                }
                Some(Err(_)) | None => return Sse::End,
            }
        }
    }
}

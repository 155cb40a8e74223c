//! The MCP server's Streamable HTTP transport over loopback, spoken to by hyper as
//! an independent client (and in raw bytes where the HTTP framing itself is under
//! test): both protocol generations, every status the transport answers with,
//! body limits, pipelining, 100-continue, the session cap and session expiry.

mod support {
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
    pub fn serve(settings: Settings, http: HttpSettings) -> Running {
        start_http("127.0.0.1:0".parse().unwrap(), settings, http).expect("start_http")
    }

    /// A server with these settings and one hyper connection to it.
    pub async fn connected(settings: Settings, http: HttpSettings) -> (Running, Client) {
        let s = serve(settings, http);
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
}

use std::time::Duration;

use http::Method;
use mcpbench_netio::codes;
use mcpbench_netio::http::HttpLimits;
use mcpbench_server::http::{
    HEADER_MISMATCH, HttpSettings, STATELESS_VERSION, UNSUPPORTED_VERSION,
};
use mcpbench_server::{PROTOCOL_VERSION, Running, SUPPORTED_VERSIONS, Settings};
use serde_json::{Value, json};
use support::*;

// ---- Handshake generation: sessions ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_answers_a_session_id_and_the_requested_version_when_supported() {
    let (s, mut c) = default_server().await;
    let mut ids = Vec::new();
    for (requested, answered) in [
        ("2025-06-18", "2025-06-18"),
        ("2024-11-05", PROTOCOL_VERSION),
    ] {
        let r = c.send(post(&initialize(7, requested))).await;
        assert_eq!(r.status, 200, "{r:?}");
        let body = r.json();
        assert_eq!(body["id"], 7);
        assert_eq!(
            body["result"]["protocolVersion"], answered,
            "asked {requested}"
        );
        assert_eq!(body["result"]["serverInfo"]["name"], "mcpbench-server");
        let id = r
            .header("mcp-session-id")
            .expect("a session id")
            .to_string();
        assert!(
            id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "32 lowercase hex digits: {id:?}"
        );
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "each initialize is a new session");
    assert_eq!(s.state().sessions(), 2);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_session_id_gets_400_invalid_request() {
    let (s, mut c) = default_server().await;
    c.open_session().await;
    let r = c.send(post(&request(2, "tools/list", json!({})))).await;
    let body = r.assert_rpc_error(400, codes::INVALID_REQUEST);
    assert_eq!(body["id"], 2, "the error answers the request: {body}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_garbage_session_ids_get_404() {
    let (s, mut c) = default_server().await;
    c.open_session().await;
    for id in ["0123456789abcdef0123456789abcdef", "not-a-session-id"] {
        let r = c
            .send(post(&request(2, "tools/list", json!({}))).with("mcp-session-id", id))
            .await;
        let body = r.assert_rpc_error(404, codes::INVALID_REQUEST);
        assert_eq!(body["error"]["message"], "Session not found", "{id}");
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_protocol_version_gets_400_listing_the_supported_ones() {
    let (s, mut c) = default_server().await;
    let session = c.open_session().await;
    let r = c
        .send(
            post(&request(2, "tools/list", json!({})))
                .with("mcp-session-id", &session)
                .with("mcp-protocol-version", "1999-01-01"),
        )
        .await;
    let body = r.assert_rpc_error(400, UNSUPPORTED_VERSION);
    let mut supported = vec![STATELESS_VERSION];
    supported.extend(SUPPORTED_VERSIONS);
    assert_eq!(body["error"]["data"]["supported"], json!(supported));
    assert_eq!(body["error"]["data"]["requested"], "1999-01-01");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_responses_get_202_with_no_body() {
    let (s, mut c) = default_server().await;
    let session = c.open_session().await;
    let client_reply = json!({"jsonrpc":"2.0","id":"s1","result":{}});
    for msg in [notification("notifications/initialized"), client_reply] {
        let r = c.send(post(&msg).with("mcp-session-id", &session)).await;
        assert_eq!(r.status, 202, "{msg}: {r:?}");
        assert!(r.body.is_empty(), "{r:?}");
        assert_eq!(r.content_type(), None);
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_and_tools_call_answer_200_json_in_a_session() {
    let (s, mut c) = default_server().await;
    let session = c.open_session().await;
    let in_session = |msg: Value| {
        post(&msg)
            .with("mcp-session-id", &session)
            .with("mcp-protocol-version", PROTOCOL_VERSION)
    };
    let r = c
        .send(in_session(request(2, "tools/list", json!({}))))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let tools = r.json()["result"]["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .expect("a tool list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["echo", "text", "proxy"]);

    let r = c
        .send(in_session(tool_call(3, "echo", json!({"text":"hi"}))))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    assert_eq!(
        (
            body["id"].clone(),
            body["result"]["content"][0]["text"].clone()
        ),
        (json!(3), json!("hi"))
    );
    assert_eq!(body["result"]["isError"], false);

    let r = c.send(in_session(tool_call(4, "text", json!({})))).await;
    assert_eq!(r.status, 200, "{r:?}");
    let text = r.json()["result"]["content"][0]["text"].clone();
    assert_eq!(
        text.as_str().map(str::len),
        Some(Settings::default().result_size)
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_ends_the_session_and_its_id_then_gets_404() {
    let (s, mut c) = default_server().await;
    assert_eq!(s.state().sessions(), 0);
    let kept = c.open_session().await;
    let ended = c.open_session().await;
    assert_eq!(s.state().sessions(), 2, "each initialize adds a session");

    let r = c
        .send(bodiless(Method::DELETE).with("mcp-session-id", &ended))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.is_empty());
    assert_eq!(s.state().sessions(), 1, "DELETE removes its session");

    let r = c
        .send(post(&request(2, "ping", json!({}))).with("mcp-session-id", &ended))
        .await;
    r.assert_rpc_error(404, codes::INVALID_REQUEST);
    let r = c
        .send(bodiless(Method::DELETE).with("mcp-session-id", &ended))
        .await;
    r.assert_rpc_error(404, codes::INVALID_REQUEST);

    let r = c
        .send(post(&request(3, "ping", json!({}))).with("mcp-session-id", &kept))
        .await;
    assert_eq!(
        (r.status, r.json()["result"].clone()),
        (200, json!({})),
        "the other session lives"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_gets_405_with_an_allow_header() {
    let (s, mut c) = default_server().await;
    let session = c.open_session().await;
    let r = c
        .send(
            bodiless(Method::GET)
                .with("accept", "text/event-stream")
                .with("mcp-session-id", &session),
        )
        .await;
    r.assert_text(405);
    assert_eq!(r.header("allow"), Some("POST, DELETE"));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_other_than_post_delete_and_get_get_405() {
    let (s, mut c) = default_server().await;
    for method in [Method::PUT, Method::OPTIONS] {
        let r = c.send(bodiless(method.clone())).await;
        r.assert_text(405);
        assert_eq!(r.header("allow"), Some("POST, DELETE"), "{method}");
    }
    // HEAD gets the status with no body, and the connection stays usable.
    let r = c.send(bodiless(Method::HEAD)).await;
    assert_eq!(r.status, 405);
    assert!(r.body.is_empty(), "a HEAD response has no body");
    let r = c.send(bodiless(Method::PUT)).await;
    r.assert_text(405);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_without_a_session_id_gets_400_invalid_request() {
    let (s, mut c) = default_server().await;
    c.open_session().await;
    c.send(bodiless(Method::DELETE))
        .await
        .assert_rpc_error(400, codes::INVALID_REQUEST);
    assert_eq!(s.state().sessions(), 1, "no session ended");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_without_params_gets_400_invalid_params_and_no_session() {
    let (s, mut c) = default_server().await;
    let r = c
        .send(post(&json!({"jsonrpc":"2.0","id":1,"method":"initialize"})))
        .await;
    r.assert_rpc_error(400, codes::INVALID_PARAMS);
    assert_eq!(r.header("mcp-session-id"), None);
    assert_eq!(s.state().sessions(), 0);
    s.shutdown().await;
}

// ---- Session cap and expiry ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_past_the_session_cap_gets_503() {
    let (s, mut c) = connected(
        Settings {
            max_sessions: 1,
            ..Settings::default()
        },
        HttpSettings::default(),
    )
    .await;
    c.open_session().await;
    let r = c.send(post(&initialize(2, PROTOCOL_VERSION))).await;
    let body = r.assert_rpc_error(503, codes::INTERNAL_ERROR);
    assert_eq!(body["id"], 2);
    assert_eq!(r.header("mcp-session-id"), None);
    assert_eq!(s.state().sessions(), 1);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_session_expires_and_its_id_then_gets_404() {
    let (s, mut c) = connected(
        Settings {
            session_ttl: Duration::from_millis(100),
            ..Settings::default()
        },
        HttpSettings::default(),
    )
    .await;
    let session = c.open_session().await;
    // The background sweep ends it: wait for that, not for a fixed time.
    let mut polls = 0;
    while s.state().sessions() != 0 {
        polls += 1;
        assert!(polls <= 500, "the session did not expire within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = c
        .send(post(&request(2, "ping", json!({}))).with("mcp-session-id", &session))
        .await;
    r.assert_rpc_error(404, codes::INVALID_REQUEST);
    s.shutdown().await;
}

// ---- Response type by Accept ----

/// The response to an `initialize` sent with `accept` (none: no header) to a
/// server with `prefer_sse`.
async fn initialize_accepting(prefer_sse: bool, accept: Option<&str>) -> Reply {
    let (s, mut c) = connected(
        Settings::default(),
        HttpSettings {
            prefer_sse,
            ..HttpSettings::default()
        },
    )
    .await;
    let request = post(&initialize(1, PROTOCOL_VERSION));
    let request = match accept {
        Some(accept) => request.with("accept", accept),
        None => request.without("accept"),
    };
    let r = c.send(request).await;
    s.shutdown().await;
    r
}

fn assert_initialized(status: u16, body: &Value) {
    assert_eq!(status, 200);
    assert_eq!(body["id"], 1, "{body}");
    assert_eq!(
        body["result"]["protocolVersion"], PROTOCOL_VERSION,
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_json_only_gets_json() {
    let r = initialize_accepting(true, Some("application/json")).await;
    assert_initialized(r.status, &r.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_event_stream_only_gets_one_sse_message_event() {
    let r = initialize_accepting(false, Some("text/event-stream")).await;
    assert_initialized(r.status, &r.event());
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("mcp-session-id").is_some(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_both_gets_json_by_default_and_sse_with_prefer_sse() {
    let r = initialize_accepting(false, Some(ACCEPT_BOTH)).await;
    assert_initialized(r.status, &r.json());
    let r = initialize_accepting(true, Some(ACCEPT_BOTH)).await;
    assert_initialized(r.status, &r.event());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_neither_type_gets_406() {
    let r = initialize_accepting(false, Some("text/html")).await;
    r.assert_rpc_error(406, codes::INVALID_REQUEST);
    assert_eq!(r.header("mcp-session-id"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_accept_header_accepts_anything_and_gets_json() {
    let r = initialize_accepting(false, None).await;
    assert_initialized(r.status, &r.json());
}

// ---- Request checks: content type, path, origin, JSON ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_json_gets_415() {
    let (s, mut c) = default_server().await;
    let r = c
        .send(post(&initialize(1, PROTOCOL_VERSION)).with("content-type", "text/plain"))
        .await;
    r.assert_rpc_error(415, codes::INVALID_REQUEST);
    assert_eq!(s.state().sessions(), 0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_other_than_the_endpoint_gets_404() {
    let (s, mut c) = default_server().await;
    let mut request = post(&initialize(1, PROTOCOL_VERSION));
    *request.uri_mut() = "/other".parse().unwrap();
    let r = c.send(request).await;
    assert!(r.assert_text(404).contains(ENDPOINT), "{r:?}");
    assert_eq!(s.state().sessions(), 0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_gets_403_loopback_and_listed_origins_are_allowed() {
    let (s, mut c) = connected(
        Settings::default(),
        HttpSettings {
            allowed_origins: vec!["https://app.example".into()],
            ..HttpSettings::default()
        },
    )
    .await;
    let from = |origin| post(&initialize(1, PROTOCOL_VERSION)).with("origin", origin);
    let r = c.send(from("http://evil.example")).await;
    assert!(r.assert_text(403).contains("http://evil.example"), "{r:?}");
    assert_eq!(s.state().sessions(), 0, "a refused origin opens no session");
    for allowed in ["http://localhost:1234", "https://app.example"] {
        let r = c.send(from(allowed)).await;
        assert_eq!(r.status, 200, "{allowed}: {r:?}");
        assert!(r.header("mcp-session-id").is_some());
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_valid_json_gets_400_parse_error() {
    let (s, mut c) = default_server().await;
    let mut request = post(&json!({}));
    *request.body_mut() = "{not json".into();
    let r = c.send(request).await;
    let body = r.assert_rpc_error(400, codes::PARSE_ERROR);
    assert_eq!(body["id"], Value::Null);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_that_is_not_one_json_rpc_message_gets_400_invalid_request() {
    let (s, mut c) = default_server().await;
    let batch = json!([initialize(1, PROTOCOL_VERSION)]);
    let wrong_version = json!({"jsonrpc":"1.0","id":1,"method":"ping"});
    for msg in [batch, wrong_version] {
        c.send(post(&msg))
            .await
            .assert_rpc_error(400, codes::INVALID_REQUEST);
    }
    assert_eq!(s.state().sessions(), 0);
    s.shutdown().await;
}

// ---- HTTP/1.1 framing, in raw bytes ----

/// A server with these limits, and a raw connection to it.
async fn limited_server(limits: HttpLimits) -> (Running, Raw) {
    let s = serve(
        Settings::default(),
        HttpSettings {
            limits,
            ..HttpSettings::default()
        },
    );
    let raw = Raw::connect(s.local_addr()).await;
    (s, raw)
}

/// A server whose bodies may be 1 KiB at most, and a raw connection to it.
async fn small_body_server() -> (Running, Raw) {
    limited_server(HttpLimits {
        max_body: 1024,
        ..HttpLimits::default()
    })
    .await
}

/// Asserts a `status` response saying why the request could not be read, then
/// the connection closing; the why.
async fn assert_refused(raw: &mut Raw, status: u16) -> String {
    let r = raw.response().await;
    let why = r.assert_text(status).to_string();
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    raw.assert_closed().await;
    why
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_length_over_the_limit_gets_413_and_the_connection_closes() {
    let (s, mut raw) = small_body_server().await;
    // Only the head: the refusal comes from it, before any body is read.
    raw.write(
        format!("POST {ENDPOINT} HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 2000\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_refused(&mut raw, 413).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_growing_past_the_limit_gets_413_and_the_connection_closes() {
    let (s, mut raw) = small_body_server().await;
    let mut bytes = chunked_head().into_bytes();
    bytes.extend(chunk(&[b' '; 400]));
    bytes.extend(chunk(&[b' '; 400]));
    // The third chunk's size line takes the body past 1024 bytes.
    bytes.extend_from_slice(format!("{:x}\r\n", 400).as_bytes());
    raw.write(&bytes).await;
    assert_refused(&mut raw, 413).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_under_the_limit_is_read_whole() {
    let (s, mut raw) = small_body_server().await;
    let body = initialize(1, "2025-06-18").to_string();
    let mut bytes = chunked_head().into_bytes();
    for piece in body.as_bytes().chunks(17) {
        bytes.extend(chunk(piece));
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    raw.write(&bytes).await;
    let r = raw.response().await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["result"]["protocolVersion"], "2025-06-18");
    assert!(r.header("mcp-session-id").is_some());
    assert_eq!(s.state().sessions(), 1);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_in_one_write_are_answered_in_order() {
    let (s, mut raw) = limited_server(HttpLimits::default()).await;
    let mut bytes = raw_post(&initialize(1, "2025-03-26"), "");
    bytes.extend(raw_post(&initialize(2, "2025-06-18"), ""));
    raw.write(&bytes).await;
    for (id, version) in [(1, "2025-03-26"), (2, "2025-06-18")] {
        let r = raw.response().await;
        assert_eq!(r.status, 200, "{r:?}");
        let body = r.json();
        assert_eq!(
            (
                body["id"].clone(),
                body["result"]["protocolVersion"].clone()
            ),
            (json!(id), json!(version))
        );
        assert_eq!(r.header("connection"), None, "the connection stays open");
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_closes_the_connection_after_the_response() {
    let (s, mut raw) = limited_server(HttpLimits::default()).await;
    raw.write(&raw_post(
        &initialize(1, PROTOCOL_VERSION),
        "connection: close\r\n",
    ))
    .await;
    let r = raw.response().await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["id"], 1);
    assert_eq!(r.header("connection"), Some("close"));
    raw.assert_closed().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_gets_continue_before_the_final_response() {
    let (s, mut raw) = limited_server(HttpLimits::default()).await;
    let request = raw_post(&initialize(1, PROTOCOL_VERSION), "expect: 100-continue\r\n");
    let head_end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    raw.write(&request[..head_end]).await;
    let interim = raw.response().await;
    assert_eq!(
        (interim.status, interim.body.len()),
        (100, 0),
        "{interim:?}"
    );
    // The body only once the server asked for it.
    raw.write(&request[head_end..]).await;
    let r = raw.response().await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["result"]["protocolVersion"], PROTOCOL_VERSION);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_line_gets_400_and_the_connection_closes() {
    let (s, mut raw) = limited_server(HttpLimits::default()).await;
    raw.write(b"NOT A REQUEST\r\n\r\n").await;
    let why = assert_refused(&mut raw, 400).await;
    assert!(why.contains("malformed request head"), "{why}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_over_the_limit_gets_431_and_the_connection_closes() {
    let (s, mut raw) = limited_server(HttpLimits {
        max_head: 256,
        ..HttpLimits::default()
    })
    .await;
    let long = "x".repeat(300);
    raw.write(format!("POST {ENDPOINT} HTTP/1.1\r\nx-long: {long}\r\n\r\n").as_bytes())
        .await;
    assert_refused(&mut raw, 431).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_coding_other_than_chunked_gets_501_and_the_connection_closes() {
    let (s, mut raw) = limited_server(HttpLimits::default()).await;
    raw.write(format!("POST {ENDPOINT} HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n").as_bytes())
        .await;
    assert_refused(&mut raw, 501).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_content_length_and_chunked_gets_400_and_the_connection_closes() {
    let (s, mut raw) = limited_server(HttpLimits::default()).await;
    let mut head = chunked_head();
    head.insert_str(head.len() - 2, "content-length: 5\r\n");
    raw.write(head.as_bytes()).await;
    assert_refused(&mut raw, 400).await;
    s.shutdown().await;
}

// ---- Stateless generation (2026-07-28) ----

fn echo_hi(id: u64) -> Value {
    with_meta(tool_call(id, "echo", json!({"text":"hi"})))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_discover_tells_versions_and_capabilities_without_a_session() {
    let (s, mut c) = default_server().await;
    let r = c
        .send(stateless_post(&with_meta(request(
            1,
            "server/discover",
            json!({}),
        ))))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("mcp-session-id"), None);
    let result = r.json()["result"].clone();
    assert!(
        result["supportedVersions"]
            .as_array()
            .is_some_and(|v| v.contains(&json!(STATELESS_VERSION))),
        "{result}"
    );
    assert!(result["capabilities"]["tools"].is_object(), "{result}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_tools_call_is_served_without_a_session() {
    let (s, mut c) = default_server().await;
    let r = c.send(stateless_post(&echo_hi(1))).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("mcp-session-id"), None);
    let body = r.json();
    assert_eq!(body["result"]["content"][0]["text"], "hi", "{body}");
    assert_eq!(body["result"]["resultType"], "complete");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_different_mcp_method_gets_400_header_mismatch() {
    let (s, mut c) = default_server().await;
    let missing = stateless_post(&echo_hi(1)).without("mcp-method");
    let different = stateless_post(&echo_hi(1)).with("mcp-method", "tools/list");
    for request in [missing, different] {
        c.send(request).await.assert_rpc_error(400, HEADER_MISMATCH);
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_mcp_name_gets_400_header_mismatch() {
    let (s, mut c) = default_server().await;
    let r = c
        .send(stateless_post(&echo_hi(1)).with("mcp-name", "text"))
        .await;
    r.assert_rpc_error(400, HEADER_MISMATCH);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_meta_version_gets_400_header_mismatch() {
    let (s, mut c) = default_server().await;
    let mut msg = echo_hi(1);
    msg["params"]["_meta"][META_VERSION] = json!("2025-11-25");
    c.send(stateless_post(&msg))
        .await
        .assert_rpc_error(400, HEADER_MISMATCH);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_request_without_meta_gets_400_invalid_params() {
    let (s, mut c) = default_server().await;
    let r = c
        .send(stateless_post(&tool_call(1, "echo", json!({"text":"hi"}))))
        .await;
    let body = r.assert_rpc_error(400, codes::INVALID_PARAMS);
    assert_eq!(body["id"], 1);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_notification_gets_202_with_no_body() {
    let (s, mut c) = default_server().await;
    let r = c
        .send(stateless_post(&notification("notifications/initialized")))
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    assert!(r.body.is_empty());
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_initialize_gets_400_invalid_request() {
    let (s, mut c) = default_server().await;
    let r = c
        .send(stateless_post(&with_meta(initialize(1, STATELESS_VERSION))))
        .await;
    r.assert_rpc_error(400, codes::INVALID_REQUEST);
    assert_eq!(r.header("mcp-session-id"), None);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_get_and_delete_get_405_with_an_allow_header() {
    let (s, mut c) = default_server().await;
    for method in [Method::GET, Method::DELETE] {
        let r = c
            .send(bodiless(method.clone()).with("mcp-protocol-version", STATELESS_VERSION))
            .await;
        r.assert_text(405);
        assert_eq!(r.header("allow"), Some("POST, DELETE"), "{method}");
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_requests_never_create_a_session() {
    let (s, mut c) = default_server().await;
    let exchanges = [
        (with_meta(request(1, "server/discover", json!({}))), 200),
        (echo_hi(2), 200),
        (with_meta(request(3, "tools/list", json!({}))), 200),
        (notification("notifications/initialized"), 202),
        (tool_call(4, "echo", json!({"text":"hi"})), 400),
    ];
    for (msg, status) in exchanges {
        let r = c.send(stateless_post(&msg)).await;
        assert_eq!(r.status, status, "{msg}: {r:?}");
        assert_eq!(s.state().sessions(), 0, "after {msg}");
    }
    s.shutdown().await;
}

//! The MCP server's Streamable HTTP transport over loopback, spoken to by hyper as
//! an independent client (and in raw bytes where the HTTP framing itself is under
//! test): both protocol generations, every status the transport answers with,
//! the session cap and session expiry (the HTTP/1.1 framing in raw bytes is in
//! http_framing.rs).

mod support;

use std::time::Duration;

use http::Method;
use mcpbench_netio::codes;
use mcpbench_server::http::{
    HEADER_MISMATCH, HttpSettings, STATELESS_VERSION, UNSUPPORTED_VERSION,
};
use mcpbench_server::{PROTOCOL_VERSION, SUPPORTED_VERSIONS, Settings};
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
    assert_eq!(names, ["echo", "text", "proxy", "touch"]);

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
async fn methods_other_than_post_delete_and_get_get_405() {
    let (s, mut c) = default_server().await;
    for method in [Method::PUT, Method::OPTIONS] {
        let r = c.send(bodiless(method.clone())).await;
        r.assert_text(405);
        assert_eq!(r.header("allow"), Some("GET, POST, DELETE"), "{method}");
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
        assert_eq!(r.header("allow"), Some("GET, POST, DELETE"), "{method}");
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

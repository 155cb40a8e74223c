//! The Streamable HTTP transport's HTTP/1.1 framing, in raw bytes: body limits,
//! chunked bodies, pipelining, `Connection: close`, 100-continue, malformed heads.

mod support;

use mcpbench_netio::http::HttpLimits;
use mcpbench_server::http::HttpSettings;
use mcpbench_server::{PROTOCOL_VERSION, Running, Settings};
use serde_json::json;
use support::*;

// ---- HTTP/1.1 framing, in raw bytes ----

/// A server with these limits, and a raw connection to it.
async fn limited_server(limits: HttpLimits) -> (Running, Raw) {
    let s = serve(
        Settings::default(),
        HttpSettings {
            limits,
            ..HttpSettings::default()
        },
    )
    .await;
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

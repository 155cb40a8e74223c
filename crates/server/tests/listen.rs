//! Server-to-client streams over Streamable HTTP, spoken to by hyper: the
//! resources, `subscriptions/listen` (2026-07-28: acknowledgement first, every
//! notification tagged with the subscription id, keep-alive comments, cancelled
//! by closing), the GET stream with `resources/subscribe` (2025-11-25), and a
//! listener that does not read, closed without delaying the others.

mod support;

use std::time::{Duration, Instant};

use http::Method;
use mcpbench_netio::codes;
use mcpbench_server::events::RESOURCES;
use mcpbench_server::http::{HttpSettings, STATELESS_VERSION};
use mcpbench_server::{Running, Settings};
use serde_json::{Value, json};
use support::*;
use tokio::io::AsyncWriteExt;

const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

fn listen(id: u64, uris: &[&str]) -> Value {
    with_meta(request(
        id,
        "subscriptions/listen",
        json!({"notifications": {"resourceSubscriptions": uris}}),
    ))
}

/// Touches `uri` with `stamp` in the stateless generation; the tool's text.
async fn touch(c: &mut Client, id: u64, uri: &str, stamp: &str) -> String {
    let r = c
        .send(stateless_post(&with_meta(tool_call(
            id,
            "touch",
            json!({"uri": uri, "stamp": stamp}),
        ))))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    assert_eq!(body["result"]["isError"], false, "{body}");
    body["result"]["content"][0]["text"]
        .as_str()
        .expect("a text result")
        .to_string()
}

/// Waits (bounded) until the server's stats satisfy `done`.
async fn until(s: &Running, what: &str, done: impl Fn(&mcpbench_files::ServerStats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(&s.state().stats()) {
        assert!(
            Instant::now() < deadline,
            "never: {what}: {:?}",
            s.state().stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_are_listed_read_and_touched() {
    let (s, mut c) = default_server().await;
    let r = c
        .send(stateless_post(&with_meta(request(
            1,
            "resources/list",
            json!({}),
        ))))
        .await;
    let uris: Vec<Value> = r.json()["result"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["uri"].clone())
        .collect();
    assert_eq!(uris, RESOURCES.map(Value::from).to_vec());
    // resources/read names its resource in Mcp-Name.
    let read = |id| {
        stateless_post(&with_meta(request(
            id,
            "resources/read",
            json!({"uri": RESOURCES[1]}),
        )))
        .with("mcp-name", RESOURCES[1])
    };
    let r = c.send(read(2).with("mcp-name", RESOURCES[0])).await;
    r.assert_rpc_error(400, mcpbench_server::http::HEADER_MISMATCH);
    assert_eq!(
        c.send(read(3)).await.json()["result"]["contents"][0]["text"],
        "0"
    );
    assert!(
        touch(&mut c, 4, RESOURCES[1], "x")
            .await
            .contains("is now 1")
    );
    assert_eq!(
        c.send(read(5)).await.json()["result"]["contents"][0]["text"],
        "1"
    );
    let r = c
        .send(stateless_post(&with_meta(tool_call(
            6,
            "touch",
            json!({"uri": "mcpbench://nope"}),
        ))))
        .await;
    let body = r.json();
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert!(body.to_string().contains("mcpbench://nope"), "{body}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_acknowledges_first_then_tags_each_subscribed_update_with_its_id() {
    let s = serve(Settings::default(), HttpSettings::default()).await;
    let mut listener = Client::connect(s.local_addr()).await;
    let (head, mut events) = listener
        .open_stream(stateless_post(&listen(
            42,
            &[RESOURCES[0], "mcpbench://nope"],
        )))
        .await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.content_type(), Some("text/event-stream"));
    let ack = events.data().await;
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    assert_eq!(
        ack["params"]["notifications"],
        json!({"resourceSubscriptions": [RESOURCES[0]]}),
        "only the known resource is honoured"
    );
    assert_eq!(ack["params"]["_meta"][SUBSCRIPTION_ID], 42);
    until(&s, "one listener", |st| st.listeners == 1).await;
    let mut c = Client::connect(s.local_addr()).await;
    // Not subscribed: never sent. Then two subscribed updates, in order.
    touch(&mut c, 1, RESOURCES[1], "other").await;
    touch(&mut c, 2, RESOURCES[0], "first").await;
    touch(&mut c, 3, RESOURCES[0], "second").await;
    for stamp in ["first", "second"] {
        let n = events.data().await;
        assert_eq!(n["method"], "notifications/resources/updated", "{n}");
        assert_eq!(n["params"]["uri"], RESOURCES[0]);
        assert_eq!(n["params"]["_meta"]["mcpbench/stamp"], stamp);
        assert_eq!(n["params"]["_meta"][SUBSCRIPTION_ID], 42);
    }
    let stats = s.state().stats();
    assert_eq!((stats.events_published, stats.listeners_lagged), (3, 0));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_gets_keep_alive_comments() {
    let http = HttpSettings {
        stream_keepalive: Duration::from_millis(50),
        ..HttpSettings::default()
    };
    let s = serve(Settings::default(), http).await;
    let mut c = Client::connect(s.local_addr()).await;
    let (_, mut events) = c
        .open_stream(stateless_post(&listen(1, &[RESOURCES[0]])))
        .await;
    assert!(matches!(events.next().await, Sse::Data(_)), "the ack first");
    for _ in 0..2 {
        assert_eq!(events.next().await, Sse::Comment("keep-alive".into()));
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_stream_cancels_the_subscription() {
    let s = serve(Settings::default(), HttpSettings::default()).await;
    let mut c = Client::connect(s.local_addr()).await;
    let (_, mut events) = c
        .open_stream(stateless_post(&listen(1, &[RESOURCES[0]])))
        .await;
    events.data().await;
    until(&s, "one listener", |st| st.listeners == 1).await;
    drop(events);
    drop(c);
    until(&s, "no listener once the client closed", |st| {
        st.listeners == 0
    })
    .await;
    assert_eq!(s.state().stats().listeners_opened, 1);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_is_refused_without_event_streams_in_accept_and_get_is_not_stateless() {
    let (s, mut c) = default_server().await;
    let r = c
        .send(stateless_post(&listen(1, &[RESOURCES[0]])).with("accept", "application/json"))
        .await;
    r.assert_rpc_error(406, codes::INVALID_REQUEST);
    let r = c
        .send(bodiless(Method::GET).with("mcp-protocol-version", STATELESS_VERSION))
        .await;
    assert!(r.assert_text(405).contains("subscriptions/listen"));
    assert_eq!(s.state().stats().listeners_opened, 0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_method_of_the_stateless_generation_gets_404_method_not_found() {
    let (s, mut c) = default_server().await;
    for method in ["resources/subscribe", "no/such"] {
        let r = c
            .send(stateless_post(&with_meta(request(1, method, json!({})))))
            .await;
        let body = r.assert_rpc_error(404, codes::METHOD_NOT_FOUND);
        assert!(body.to_string().contains(method), "{body}");
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_get_stream_carries_the_sessions_subscribed_updates() {
    let (s, mut c) = default_server().await;
    let session = c.open_session().await;
    let in_session = |msg: &Value| post(msg).with("mcp-session-id", &session);
    let mut listener = Client::connect(s.local_addr()).await;
    let (head, mut events) = listener
        .open_stream(
            bodiless(Method::GET)
                .with("accept", "text/event-stream")
                .with("mcp-session-id", &session),
        )
        .await;
    assert_eq!(head.status, 200, "{head:?}");
    until(&s, "one listener", |st| st.listeners == 1).await;
    let call = |id, uri: &str| tool_call(id, "touch", json!({"uri": uri, "stamp": id.to_string()}));
    // A resource the session never subscribes to: never sent. (The stream reads
    // the subscriptions when it delivers, so an update of RESOURCES[2] made just
    // before its subscribe could still arrive.)
    assert_eq!(c.send(in_session(&call(2, RESOURCES[3]))).await.status, 200);
    let r = c
        .send(in_session(&request(
            3,
            "resources/subscribe",
            json!({"uri": RESOURCES[2]}),
        )))
        .await;
    assert_eq!(r.json()["result"], json!({}), "{r:?}");
    assert_eq!(c.send(in_session(&call(4, RESOURCES[2]))).await.status, 200);
    let n = events.data().await;
    assert_eq!(n["method"], "notifications/resources/updated");
    assert_eq!(n["params"]["uri"], RESOURCES[2]);
    assert_eq!(n["params"]["_meta"]["mcpbench/stamp"], "4");
    assert!(
        n["params"]["_meta"].get(SUBSCRIPTION_ID).is_none(),
        "no subscription id on the GET stream: {n}"
    );
    let r = c
        .send(in_session(&request(
            5,
            "resources/subscribe",
            json!({"uri": "x:"}),
        )))
        .await;
    assert_eq!(r.json()["error"]["code"], -32002, "{r:?}");
    // Unsubscribed, then the session deleted: the stream ends with it.
    c.send(in_session(&request(
        6,
        "resources/unsubscribe",
        json!({"uri": RESOURCES[2]}),
    )))
    .await;
    assert_eq!(c.send(in_session(&call(7, RESOURCES[2]))).await.status, 200);
    assert_eq!(
        c.send(bodiless(Method::DELETE).with("mcp-session-id", &session))
            .await
            .status,
        200
    );
    let mut other = Client::connect(s.local_addr()).await;
    let stateless_touch = with_meta(tool_call(8, "touch", json!({"uri": RESOURCES[2]})));
    assert_eq!(
        other.send(stateless_post(&stateless_touch)).await.status,
        200
    );
    assert_eq!(
        events.next().await,
        Sse::End,
        "the stream ends with its session"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_does_not_read_is_closed_and_delays_no_one() {
    let settings = Settings {
        guards: mcpbench_netio::Guards {
            write: Some(Duration::from_millis(300)),
            ..Settings::default().guards
        },
        listen_queue: 4096,
        ..Settings::default()
    };
    let s = serve(settings, HttpSettings::default()).await;
    // A listener with a tiny receive window that reads nothing after its request.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stuck = socket.connect(s.local_addr()).await.expect("connect");
    let body = listen(1, &[RESOURCES[0]]).to_string();
    stuck
        .write_all(
            format!(
                "POST /mcp HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\naccept: text/event-stream\r\nmcp-protocol-version: {STATELESS_VERSION}\r\nmcp-method: subscriptions/listen\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let mut reader = Client::connect(s.local_addr()).await;
    let (_, mut events) = reader
        .open_stream(stateless_post(&listen(2, &[RESOURCES[0]])))
        .await;
    events.data().await;
    until(&s, "two listeners", |st| st.listeners == 2).await;
    // Updates with 128-byte stamps until the stuck socket is full and its write
    // deadline closes it (bounded), read meanwhile by the other listener.
    let stamp = "s".repeat(128);
    let mut c = Client::connect(s.local_addr()).await;
    let (published, mut total) = tokio::sync::watch::channel(None);
    let publish = async {
        let mut id = 0u64;
        loop {
            touch(&mut c, id, RESOURCES[0], &stamp).await;
            id += 1;
            if id % 256 == 0 && s.state().stats().closed_by_deadline[2] == 1 {
                break;
            }
            assert!(
                id < 100_000,
                "the stuck listener never closed: {:?}",
                s.state().stats()
            );
        }
        let _ = published.send(Some(id));
    };
    let receive = async {
        let mut seen = Vec::new();
        loop {
            if total.borrow().is_some_and(|t| seen.len() as u64 >= t) {
                return seen;
            }
            tokio::select! {
                n = events.data() => seen.push(
                    n["params"]["_meta"]["mcpbench/event"].as_u64().expect("an event number"),
                ),
                // Published all: look again (the last may be in already).
                _ = total.changed() => {}
            }
        }
    };
    let ((), seen) = tokio::join!(publish, receive);
    let total = total.borrow().expect("published");
    assert_eq!(
        seen,
        (1..=total).collect::<Vec<_>>(),
        "every update, in order"
    );
    let stats = s.state().stats();
    assert_eq!(
        (stats.listeners, stats.listeners_lagged),
        (1, 0),
        "{stats:?}"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_stream_ends_at_its_next_keep_alive_once_its_session_is_deleted() {
    let http = HttpSettings {
        stream_keepalive: Duration::from_millis(50),
        ..HttpSettings::default()
    };
    let (s, mut c) = connected(Settings::default(), http).await;
    let session = c.open_session().await;
    let mut listener = Client::connect(s.local_addr()).await;
    let (head, mut events) = listener
        .open_stream(
            bodiless(Method::GET)
                .with("accept", "text/event-stream")
                .with("mcp-session-id", &session),
        )
        .await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(
        head.header("connection"),
        Some("close"),
        "a stream is not pooled"
    );
    assert_eq!(
        events.next().await,
        Sse::Comment("keep-alive".into()),
        "held meanwhile"
    );
    let r = c
        .send(bodiless(Method::DELETE).with("mcp-session-id", &session))
        .await;
    assert_eq!(r.status, 200);
    // No update comes: the keep-alive tick finds the session gone.
    loop {
        match events.next().await {
            Sse::Comment(_) => {}
            Sse::End => break,
            other => panic!("not the end: {other:?}"),
        }
    }
    until(&s, "no listener", |st| st.listeners == 0).await;
    s.shutdown().await;
}

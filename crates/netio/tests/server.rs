//! The server and client over loopback TCP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use mcpbench_netio::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Echoes each request's frame back; records why connections closed; can be made
/// slow to test shutdown.
#[derive(Default)]
struct Echo {
    closed: Mutex<Vec<CloseReason>>,
    delay: Option<Duration>,
    started: Notify,
}

impl Handler for Echo {
    async fn handle(&self, msg: Message, _conn: &Conn) -> Option<Bytes> {
        self.started.notify_one();
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        match msg.method() {
            Some("bad/reply") => Some(Bytes::from_static(b"{\n}")),
            _ if msg.kind() == MessageKind::Request => Some(msg.into_frame()),
            _ => None,
        }
    }

    fn closed(&self, _conn: &Conn, reason: &CloseReason) {
        self.closed.lock().unwrap().push(reason.clone());
    }
}

fn request(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","n":{id}}}}}"#
    )
}

async fn start(handler: Echo, config: ServerConfig) -> (Server, Arc<Echo>) {
    let handler = Arc::new(handler);
    let server = Server::bind("127.0.0.1:0", handler.clone(), config)
        .await
        .unwrap();
    (server, handler)
}

/// Waits (bounded) until the handler has seen `n` connections close.
async fn closed_reasons(h: &Echo, n: usize) -> Vec<CloseReason> {
    for _ in 0..500 {
        if h.closed.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    h.closed.lock().unwrap().clone()
}

#[tokio::test]
async fn pipelined_requests_come_back_in_order_under_every_strategy() {
    for strategy in [
        IoStrategy::NAIVE,
        IoStrategy::POOLED,
        IoStrategy::BATCHED,
        IoStrategy::ZERO_COPY,
    ] {
        let (server, _) = start(
            Echo::default(),
            ServerConfig {
                strategy,
                read_chunk: 512,
                ..Default::default()
            },
        )
        .await;
        let mut client = Client::connect(server.local_addr()).await.unwrap();
        for id in 0..200 {
            client.send(request(id).as_bytes()).unwrap();
        }
        // A notification gets no reply and does not disturb the order.
        client
            .send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .unwrap();
        client.flush().await.unwrap();
        for id in 0..200 {
            let reply = client.recv().await.unwrap().unwrap();
            assert_eq!(reply, request(id).as_bytes(), "{strategy:?}");
        }
        drop(client);
        let stats = server.shutdown().await;
        assert_eq!(
            (stats.accepted, stats.closed, stats.closed_on_error),
            (1, 1, 0),
            "{strategy:?}"
        );
    }
}

#[tokio::test]
async fn a_frame_dribbled_byte_by_byte_reassembles() {
    let (server, _) = start(Echo::default(), ServerConfig::default()).await;
    let mut raw = TcpStream::connect(server.local_addr()).await.unwrap();
    raw.set_nodelay(true).unwrap();
    let line = format!("{}\r\n", request(9));
    for b in line.as_bytes() {
        raw.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let mut client = Client::from_stream(raw, 1 << 20);
    assert_eq!(client.recv().await.unwrap().unwrap(), request(9).as_bytes());
    server.shutdown().await;
}

async fn reply_then_eof(stream: &mut TcpStream) -> serde_json::Value {
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        all.last(),
        Some(&b'\n'),
        "one reply line, then the server closed"
    );
    serde_json::from_slice(&all).unwrap()
}

#[tokio::test]
async fn over_long_line_closes_only_that_connection_with_a_reason() {
    let config = ServerConfig {
        max_frame_len: 256,
        ..Default::default()
    };
    let (server, h) = start(Echo::default(), config).await;
    let mut good = Client::connect(server.local_addr()).await.unwrap();
    let mut bad = TcpStream::connect(server.local_addr()).await.unwrap();
    bad.write_all(&[b'x'; 1000]).await.unwrap();
    let reply = reply_then_eof(&mut bad).await;
    assert_eq!(reply["error"]["code"], codes::INVALID_REQUEST);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeds the maximum of 256")
    );
    assert!(matches!(
        closed_reasons(&h, 1).await[..],
        [CloseReason::Frame(FrameError::TooLong { max: 256, .. })]
    ));
    // The other connection carries on.
    assert_eq!(
        good.call(request(1).as_bytes()).await.unwrap(),
        request(1).as_bytes()
    );
    assert_eq!(server.stats().closed_on_error, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_gets_a_parse_error_and_close() {
    let (server, h) = start(Echo::default(), ServerConfig::default()).await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(b"{\"jsonrpc\":\"2.0\xff\"}\n").await.unwrap();
    let reply = reply_then_eof(&mut s).await;
    assert_eq!(reply["error"]["code"], codes::PARSE_ERROR);
    assert_eq!(reply["id"], serde_json::Value::Null);
    assert!(matches!(
        closed_reasons(&h, 1).await[..],
        [CloseReason::Frame(FrameError::InvalidUtf8 {
            valid_up_to: 15
        })]
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn replies_before_a_malformed_message_are_still_sent() {
    let (server, h) = start(Echo::default(), ServerConfig::default()).await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    let good = request(3);
    s.write_all(
        format!(
            "{good}\n{{\"jsonrpc\":\"1.0\",\"id\":4,\"method\":\"x\"}}\n{}\n",
            request(5)
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut all = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut all))
        .await
        .unwrap()
        .unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "the echo of 3, the error for 4, nothing for 5: {all}"
    );
    assert_eq!(lines[0], good);
    let err: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(
        (err["id"].as_i64(), err["error"]["code"].as_i64()),
        (Some(4), Some(codes::INVALID_REQUEST.into()))
    );
    assert!(matches!(
        closed_reasons(&h, 1).await[..],
        [CloseReason::Protocol(ProtocolError::InvalidRequest { .. })]
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn client_vanishing_mid_frame_is_reported_as_truncated() {
    let (server, h) = start(Echo::default(), ServerConfig::default()).await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(br#"{"jsonrpc":"2.0","id":1,"me"#)
        .await
        .unwrap();
    drop(s);
    assert!(matches!(
        closed_reasons(&h, 1).await[..],
        [CloseReason::Frame(FrameError::Truncated { len: 27 })]
    ));
    // A clean close between frames is not an error.
    let mut c = Client::connect(server.local_addr()).await.unwrap();
    c.call(request(1).as_bytes()).await.unwrap();
    drop(c);
    assert_eq!(closed_reasons(&h, 2).await[1], CloseReason::PeerClosed);
    server.shutdown().await;
}

#[tokio::test]
async fn a_reply_with_a_newline_closes_the_connection() {
    let (server, h) = start(Echo::default(), ServerConfig::default()).await;
    let mut c = Client::connect(server.local_addr()).await.unwrap();
    c.send(br#"{"jsonrpc":"2.0","id":1,"method":"bad/reply"}"#)
        .unwrap();
    c.flush().await.unwrap();
    assert!(c.recv().await.unwrap().is_none());
    assert!(matches!(
        closed_reasons(&h, 1).await[..],
        [CloseReason::BadReply(FrameError::EmbeddedNewline { .. })]
    ));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_replies() {
    let slow = Echo {
        delay: Some(Duration::from_millis(100)),
        ..Echo::default()
    };
    let (server, h) = start(slow, ServerConfig::default()).await;
    let mut c = Client::connect(server.local_addr()).await.unwrap();
    c.send(request(1).as_bytes()).unwrap();
    c.send(request(2).as_bytes()).unwrap();
    c.flush().await.unwrap();
    h.started.notified().await;
    let addr = server.local_addr();
    let stats = tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .unwrap();
    assert_eq!(c.recv().await.unwrap().unwrap(), request(1).as_bytes());
    assert_eq!(c.recv().await.unwrap().unwrap(), request(2).as_bytes());
    assert!(
        c.recv().await.unwrap().is_none(),
        "closed after the in-flight replies"
    );
    assert_eq!(h.closed.lock().unwrap()[..], [CloseReason::Shutdown]);
    assert_eq!(stats.closed, 1);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn client_refuses_to_send_a_message_with_a_newline() {
    let (server, _) = start(Echo::default(), ServerConfig::default()).await;
    let mut c = Client::connect(server.local_addr()).await.unwrap();
    assert!(matches!(
        c.call(b"{\n}").await,
        Err(ClientError::Frame(FrameError::EmbeddedNewline { at: 1 }))
    ));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reuse_port_listeners_share_a_port_and_both_serve() {
    let first = listen("127.0.0.1:0".parse().unwrap(), true).unwrap();
    let addr = first.local_addr().unwrap();
    let second = listen(addr, true).unwrap();
    assert!(
        listen(addr, false).is_err(),
        "without SO_REUSEPORT the port is taken"
    );
    let (h1, h2) = (Arc::new(Echo::default()), Arc::new(Echo::default()));
    let s1 = Server::serve(first, h1.clone(), ServerConfig::default()).unwrap();
    let s2 = Server::serve(second, h2.clone(), ServerConfig::default()).unwrap();
    // The kernel hashes connections over the two listeners; with 64 clients both
    // get some (the odds that one gets none are 2^-63).
    for id in 0..64 {
        let mut c = Client::connect(addr).await.unwrap();
        assert_eq!(
            c.call(request(id).as_bytes()).await.unwrap(),
            request(id).as_bytes()
        );
    }
    let (a, b) = (s1.shutdown().await.accepted, s2.shutdown().await.accepted);
    assert_eq!(a + b, 64);
    assert!(
        a > 0 && b > 0,
        "one listener got every connection: {a} / {b}"
    );
}

/// Answers `fast` at once and `slow` 100 ms later from another task; `forget`
/// promises a reply and drops the promise.
/// Defers `slow` (answered after 100 ms), drops the promise of `forget`, echoes
/// the rest; adds a permit to `seen` after each message it has taken.
struct Deferring {
    seen: tokio::sync::Semaphore,
}

impl Default for Deferring {
    fn default() -> Self {
        Deferring {
            seen: tokio::sync::Semaphore::new(0),
        }
    }
}

impl Handler for Deferring {
    async fn handle(&self, msg: Message, conn: &Conn) -> Option<Bytes> {
        // Counted on the way out, once the promise (if any) is counted.
        struct Seen<'a>(&'a tokio::sync::Semaphore);
        impl Drop for Seen<'_> {
            fn drop(&mut self) {
                self.0.add_permits(1);
            }
        }
        let _seen = Seen(&self.seen);
        match msg.method() {
            Some("slow") => {
                let reply = conn.defer();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    reply.send(msg.into_frame());
                });
                None
            }
            Some("forget") => {
                drop(conn.defer());
                None
            }
            _ => Some(msg.into_frame()),
        }
    }
}

fn named(id: u64, method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_replies_come_back_in_completion_order() {
    let server = Server::bind(
        "127.0.0.1:0",
        Arc::new(Deferring::default()),
        ServerConfig::default(),
    )
    .await
    .unwrap();
    let mut c = Client::connect(server.local_addr()).await.unwrap();
    for (id, m) in [
        (1, "slow"),
        (2, "fast"),
        (3, "forget"),
        (4, "slow"),
        (5, "fast"),
    ] {
        c.send(named(id, m).as_bytes()).unwrap();
    }
    c.flush().await.unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(String::from_utf8(c.recv().await.unwrap().unwrap().to_vec()).unwrap());
    }
    assert_eq!(
        &got[..2],
        [named(2, "fast"), named(5, "fast")],
        "the fast replies do not wait for the slow ones"
    );
    let mut slow = got[2..].to_vec();
    slow.sort();
    assert_eq!(slow, [named(1, "slow"), named(4, "slow")]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_deferred_replies_but_not_for_dropped_promises() {
    let handler = Arc::new(Deferring::default());
    let server = Server::bind("127.0.0.1:0", handler.clone(), ServerConfig::default())
        .await
        .unwrap();
    let mut c = Client::connect(server.local_addr()).await.unwrap();
    c.send(named(1, "forget").as_bytes()).unwrap();
    c.send(named(2, "slow").as_bytes()).unwrap();
    c.flush().await.unwrap();
    // Shut down only once the handler has taken both messages.
    handler.seen.acquire_many(2).await.unwrap().forget();
    let stats = tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .unwrap();
    assert_eq!(stats.closed, 1);
    assert_eq!(
        c.recv().await.unwrap().unwrap(),
        named(2, "slow").as_bytes()
    );
    assert!(c.recv().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_sending_still_gets_its_deferred_replies() {
    let server = Server::bind(
        "127.0.0.1:0",
        Arc::new(Deferring::default()),
        ServerConfig::default(),
    )
    .await
    .unwrap();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(format!("{}\n", named(1, "slow")).as_bytes())
        .await
        .unwrap();
    s.shutdown().await.unwrap(); // closes the sending half only
    let mut all = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all, format!("{}\n", named(1, "slow")));
    server.shutdown().await;
}

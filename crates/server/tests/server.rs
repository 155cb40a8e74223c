//! The MCP server over loopback: every method, every error reply, pipelined
//! requests, a client vanishing mid-frame, shutdown with a request in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mcpbench_netio::{Client, codes};
use mcpbench_server::{Running, Settings, start};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

async fn server(settings: Settings) -> Running {
    start("127.0.0.1:0".parse().unwrap(), settings)
        .await
        .unwrap()
}

async fn call(c: &mut Client, msg: Value) -> Value {
    let reply = tokio::time::timeout(Duration::from_secs(10), c.call(msg.to_string().as_bytes()))
        .await
        .unwrap()
        .unwrap();
    serde_json::from_slice(&reply).unwrap()
}

fn initialize(id: u64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"test","version":"1"}}})
}

fn tool(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":arguments}})
}

async fn session(addr: SocketAddr) -> Client {
    let mut c = Client::connect(addr).await.unwrap();
    let r = call(&mut c, initialize(0)).await;
    assert_eq!(r["result"]["protocolVersion"], "2025-11-25");
    c.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .unwrap();
    c
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers() {
    let s = server(Settings {
        result_size: 1000,
        ..Settings::default()
    })
    .await;
    let mut c = Client::connect(s.local_addr()).await.unwrap();
    let r = call(&mut c, initialize(1)).await;
    assert_eq!(
        (r["id"].as_u64(), r["result"]["serverInfo"]["name"].as_str()),
        (Some(1), Some("mcpbench-server"))
    );
    assert!(r["result"]["capabilities"]["tools"].is_object());
    assert_eq!(s.state().sessions(), 1);
    c.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .unwrap();
    let r = call(&mut c, json!({"jsonrpc":"2.0","id":"p","method":"ping"})).await;
    assert_eq!(
        (r["id"].as_str(), r["result"].clone()),
        (Some("p"), json!({})),
        "the notification got no reply; ping did"
    );
    let r = call(
        &mut c,
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
    )
    .await;
    let names: Vec<&str> = r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "text", "proxy", "touch"]);
    let r = call(&mut c, tool(3, "echo", json!({"text":"sunny"}))).await;
    assert_eq!(r["result"]["content"][0]["text"], "sunny");
    assert_eq!(r["result"]["isError"], false);
    let r = call(&mut c, tool(4, "text", json!({}))).await;
    assert_eq!(
        r["result"]["content"][0]["text"].as_str().unwrap().len(),
        1000
    );
    let r = call(
        &mut c,
        json!({"jsonrpc":"2.0","id":5,"method":"mcpbench/stats"}),
    )
    .await;
    assert_eq!(r["result"]["sessions"], 1);
    assert_eq!(
        r["result"]["allocatorCounted"], false,
        "tests run without the counting allocator"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_get_the_proper_replies() {
    let s = server(Settings::default()).await;
    let mut c = Client::connect(s.local_addr()).await.unwrap();
    let r = call(
        &mut c,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    )
    .await;
    assert_eq!(
        r["error"]["code"],
        codes::INVALID_REQUEST,
        "before initialize: {r}"
    );
    call(&mut c, initialize(2)).await;
    let r = call(&mut c, initialize(3)).await;
    assert_eq!(
        r["error"]["code"],
        codes::INVALID_REQUEST,
        "second initialize: {r}"
    );
    let r = call(
        &mut c,
        json!({"jsonrpc":"2.0","id":4,"method":"resources/subscribe","params":{"uri":"mcpbench://counter/0"}}),
    )
    .await;
    assert_eq!(r["error"]["code"], codes::METHOD_NOT_FOUND);
    let r = call(&mut c, tool(5, "weather", json!({}))).await;
    assert_eq!(r["error"]["code"], codes::INVALID_PARAMS);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown tool: weather")
    );
    let r = call(
        &mut c,
        json!({"jsonrpc":"2.0","id":6,"method":"tools/call"}),
    )
    .await;
    assert_eq!(r["error"]["code"], codes::INVALID_PARAMS);
    // A failing tool answers with isError, not a protocol error.
    let r = call(&mut c, tool(7, "echo", json!({"no_text": 1}))).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    let r = call(&mut c, tool(8, "proxy", json!({"text":"x"}))).await;
    assert_eq!(r["result"]["isError"], true, "no upstream configured: {r}");
    // Malformed JSON-RPC: parse error reply, then this connection closes.
    let r: Value = serde_json::from_slice(&c.call(b"{not json").await.unwrap()).unwrap();
    assert_eq!(r["error"]["code"], codes::PARSE_ERROR);
    assert!(c.recv().await.unwrap().is_none());
    wait_for("the session to go", || s.state().sessions() == 0).await;
    s.shutdown().await;
}

/// Sends calls 1..=n in one write (even ids `text`, odd `echo`), then checks each
/// comes back exactly once with its own result.
async fn pipeline_and_check(c: &mut Client, n: u64) {
    for id in 1..=n {
        let name = if id % 2 == 0 { "text" } else { "echo" };
        c.send(
            tool(id, name, json!({"text": id.to_string()}))
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    }
    c.flush().await.unwrap();
    let mut ids = Vec::new();
    for _ in 1..=n {
        let reply = tokio::time::timeout(Duration::from_secs(10), c.recv())
            .await
            .unwrap();
        let r: Value = serde_json::from_slice(&reply.unwrap().unwrap()).unwrap();
        let id = r["id"].as_u64().unwrap();
        let text = r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("no result: {r}"));
        if id % 2 == 0 {
            assert_eq!(text.len(), 4096);
        } else {
            assert_eq!(text, id.to_string());
        }
        ids.push(id);
    }
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=n).collect::<Vec<_>>(),
        "each request answered exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_on_one_connection_all_come_back() {
    let s = server(Settings::default()).await;
    let mut c = session(s.local_addr()).await;
    pipeline_and_check(&mut c, 100).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_tool_queue_holds_connections_back_instead_of_failing_calls() {
    let s = server(Settings {
        tool_queue: 1,
        ..Settings::default()
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut c = session(s.local_addr()).await;
        clients.push(tokio::spawn(async move {
            pipeline_and_check(&mut c, 200).await;
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_vanishing_mid_frame_ends_its_session_only() {
    let s = server(Settings::default()).await;
    let mut stays = session(s.local_addr()).await;
    let mut leaves = TcpStream::connect(s.local_addr()).await.unwrap();
    leaves
        .write_all(format!("{}\n", initialize(1)).as_bytes())
        .await
        .unwrap();
    let mut line = String::new();
    BufReader::new(&mut leaves)
        .read_line(&mut line)
        .await
        .unwrap();
    assert!(line.contains("serverInfo"));
    wait_for("two sessions", || s.state().sessions() == 2).await;
    leaves
        .write_all(br#"{"jsonrpc":"2.0","id":2,"meth"#)
        .await
        .unwrap();
    drop(leaves);
    wait_for("the vanished client's session to go", || {
        s.state().sessions() == 1
    })
    .await;
    let r = call(&mut stays, tool(9, "echo", json!({"text":"still here"}))).await;
    assert_eq!(r["result"]["content"][0]["text"], "still here");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_calls_echo_upstream_through_the_pool() {
    let upstream = server(Settings::default()).await;
    let s = server(Settings {
        upstream: Some(upstream.local_addr()),
        ..Settings::default()
    })
    .await;
    let mut c = session(s.local_addr()).await;
    for id in 0..5 {
        let r = call(
            &mut c,
            tool(id, "proxy", json!({"text": format!("via upstream {id}")})),
        )
        .await;
        assert_eq!(
            r["result"]["content"][0]["text"],
            format!("via upstream {id}"),
            "{r}"
        );
    }
    assert_eq!(
        upstream.state().sessions(),
        1,
        "one pooled upstream connection, reused"
    );
    s.shutdown().await;
    upstream.shutdown().await;
}

/// An upstream that answers initialize at once and tool calls after `delay`; it
/// signals `arrived` as each tool call comes in, so a test can order events on it.
async fn slow_upstream(delay: Duration) -> (SocketAddr, Arc<Notify>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let arrived = Arc::new(Notify::new());
    let signal = arrived.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let signal = signal.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = s.into_split();
                let mut lines = BufReader::new(rd).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let msg: Value = serde_json::from_str(&line).unwrap();
                    let Some(id) = msg.get("id").cloned() else {
                        continue;
                    };
                    if msg["method"] == "tools/call" {
                        signal.notify_one();
                        tokio::time::sleep(delay).await;
                    }
                    let text = msg["params"]["arguments"]["text"].clone();
                    let reply = json!({"jsonrpc":"2.0","id":id,"result":{"content":[{"type":"text","text":text}],"isError":false}});
                    wr.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
                }
            });
        }
    });
    (addr, arrived)
}

/// A server whose `proxy` tool waits 300 ms for its upstream, an initialized
/// client, and the upstream's "a tool call arrived" signal.
async fn proxying_to_a_slow_upstream() -> (Running, Client, Arc<Notify>) {
    let (upstream, arrived) = slow_upstream(Duration::from_millis(300)).await;
    let s = server(Settings {
        upstream: Some(upstream),
        ..Settings::default()
    })
    .await;
    let c = session(s.local_addr()).await;
    (s, c, arrived)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_the_request_in_flight() {
    let (s, mut c, arrived) = proxying_to_a_slow_upstream().await;
    c.send(
        tool(1, "proxy", json!({"text":"late"}))
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    c.flush().await.unwrap();
    // Shut down only once the call is in flight at the upstream.
    arrived.notified().await;
    let shutdown = tokio::spawn(s.shutdown());
    let r: Value = serde_json::from_slice(&c.recv().await.unwrap().unwrap()).unwrap();
    assert_eq!(r["result"]["content"][0]["text"], "late", "{r}");
    assert!(
        c.recv().await.unwrap().is_none(),
        "closed after the last reply"
    );
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_on_one_connection_are_served_concurrently() {
    let (s, mut c, _) = proxying_to_a_slow_upstream().await;
    c.send(
        tool(1, "proxy", json!({"text":"slow"}))
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    c.send(
        tool(2, "echo", json!({"text":"fast"}))
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    c.send(
        json!({"jsonrpc":"2.0","id":3,"method":"ping"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    c.flush().await.unwrap();
    let mut order = Vec::new();
    for _ in 0..3 {
        let r: Value = serde_json::from_slice(&c.recv().await.unwrap().unwrap()).unwrap();
        order.push(r["id"].as_u64().unwrap());
    }
    assert_eq!(
        order[2], 1,
        "the slow proxied call comes back last, in completion order: {order:?}"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_initializes_is_closed_and_its_session_count_stays_zero() {
    let s = server(Settings {
        guards: mcpbench_netio::Guards {
            handshake: Some(Duration::from_millis(200)),
            ..Settings::default().guards
        },
        ..Settings::default()
    })
    .await;
    let mut ok = session(s.local_addr()).await;
    let mut silent = TcpStream::connect(s.local_addr()).await.unwrap();
    silent
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n")
        .await
        .unwrap();
    let mut lines = BufReader::new(&mut silent).lines();
    // The ping is answered, then the connection closes: no initialize in time.
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await;
    assert!(matches!(first, Ok(Ok(Some(_)))), "{first:?}");
    let end = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await;
    assert!(matches!(end, Ok(Ok(None))), "closed by the server: {end:?}");
    wait_for("the handshake close to be counted", || {
        s.stats().closed_by_deadline[3] == 1
    })
    .await;
    // The initialized connection outlives the deadline and is still served.
    let r = call(&mut ok, json!({"jsonrpc":"2.0","id":5,"method":"ping"})).await;
    assert_eq!(r["id"], 5);
    assert_eq!(s.stats().sessions, 1);
}

/// An upstream whose first `tools/call` (over all connections) never gets an
/// answer, and which sends a notification and a response for another id before
/// each answer it does give.
async fn unruly_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let calls = calls.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = s.into_split();
                let mut lines = BufReader::new(rd).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let msg: Value = serde_json::from_str(&line).unwrap();
                    let Some(id) = msg.get("id").cloned() else {
                        continue;
                    };
                    let mut out = String::new();
                    if msg["method"] == "tools/call" {
                        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                            // Hangs: holds the connection, never answers.
                            std::future::pending::<()>().await;
                        }
                        out.push_str("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n");
                        out.push_str(&format!(
                            "{}\n",
                            json!({"jsonrpc":"2.0","id":987654321,"result":{"content":[{"type":"text","text":"not yours"}]}})
                        ));
                    }
                    let text = msg["params"]["arguments"]["text"].clone();
                    let reply = json!({"jsonrpc":"2.0","id":id,"result":{"content":[{"type":"text","text":text}],"isError":false,"protocolVersion":"2025-11-25"}});
                    out.push_str(&format!("{reply}\n"));
                    if wr.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_upstream_times_out_and_interleaved_messages_never_reach_the_wrong_caller() {
    let s = server(Settings {
        upstream: Some(unruly_upstream().await),
        call_timeout: Duration::from_millis(300),
        ..Settings::default()
    })
    .await;
    let mut c = session(s.local_addr()).await;
    let hung = call(&mut c, tool(1, "proxy", json!({"text":"first"}))).await;
    assert_eq!(hung["result"]["isError"], true, "{hung}");
    let why = hung["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(why.contains("no reply within 300 ms"), "{hung}");
    // The timed-out connection was discarded: the next calls go over a new one,
    // and each caller gets its own text despite the notification and the stray
    // response sent before it.
    for (id, text) in [(2, "second"), (3, "third")] {
        let r = call(&mut c, tool(id, "proxy", json!({ "text": text }))).await;
        assert_eq!(r["id"], id, "{r}");
        assert_eq!(r["result"]["content"][0]["text"], text, "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_initialize_is_refused_and_keeps_no_session() {
    let s = server(Settings::default()).await;
    let mut c = Client::connect(s.local_addr()).await.unwrap();
    let big = "x".repeat(mcpbench_server::MAX_SESSION_BYTES + 1);
    let r = call(
        &mut c,
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"experimental":{"blob":big}},"clientInfo":{"name":"t","version":"1"}}}),
    )
    .await;
    assert_eq!(r["error"]["code"], codes::INVALID_PARAMS, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit"),
        "{r}"
    );
    assert_eq!(s.stats().sessions, 0);
    // A normal initialize on the same connection still works.
    let r = call(&mut c, initialize(2)).await;
    assert_eq!(r["result"]["protocolVersion"], "2025-11-25");
}

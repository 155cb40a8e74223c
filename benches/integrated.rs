//! Test 7, integrated: the components used together.
//!
//! - `seed_mix/256x400`: the seed's mix on *shared* components (the seed's tasks
//!   shared nothing): 256 tasks x 400 ops, 25% route registrations, 25% route
//!   lookups, 25% iterations over a server's 100 tool routes, 25% mailbox push+pop,
//!   on two tokio workers. `seed_mix_1thread/256x400`: the same ops on one
//!   thread, tasks in turn (the one whose instructions and allocations are
//!   counted: threads make the two-worker run's counts vary). Both are defined in
//!   `mcpbench::workloads::integrated`.
//! - `tools_call/e2e_4KiB`: the real path of a `tools/call`, end to end on
//!   loopback: client -> netio frame -> JSON-RPC envelope -> session touch ->
//!   in-flight table -> registry route into the tool's mailbox -> tool worker task
//!   -> in-flight completion -> 4 KiB result -> reply frame -> client. Per-op
//!   round-trip latency, closed-loop.
//! - `tools_call_tcp/mcpbench_server` and `tools_call_http/mcpbench_server`:
//!   mcpbench-server itself (`text` tool, 4 KiB result) over each transport,
//!   closed-loop round trips on one session: what Streamable HTTP costs over raw
//!   TCP, measured in one run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use mcpbench::group::Group;
use mcpbench::http::{HttpConn, post};
use mcpbench::latency::Method;
use mcpbench::messages::{tool_call, tool_result};
use mcpbench_netio::{
    Client, Conn, Handler, Message, RequestId, Server, ServerConfig, codes, error_response,
};
use mcpbench_queue::Mailbox;
use mcpbench_registry::{InFlight, Registry, RouteKey};
use mcpbench_session::{ClientInfo, NewSession, SessionId, SessionStore};
use serde::Deserialize;

const RESULT_SIZE: usize = 4096;

/// The end-to-end MCP path. One session per connection is the TCP analogue of a
/// Streamable HTTP session; here the bench's single client has one.
struct ToolServer {
    session: SessionId,
    sessions: SessionStore,
    tools: Registry<(RequestId, Bytes)>,
    in_flight: InFlight<RequestId, Bytes>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    params: ToolName<'a>,
}

#[derive(Deserialize)]
struct ToolName<'a> {
    name: &'a str,
}

impl Handler for ToolServer {
    async fn handle(&self, msg: Message, _conn: &Conn) -> Option<Bytes> {
        let id = msg.id()?.clone();
        self.sessions.touch(&self.session, Instant::now());
        let Ok(call) = serde_json::from_slice::<CallParams<'_>>(msg.frame()) else {
            return Some(error_response(
                Some(&id),
                codes::INVALID_PARAMS,
                "tools/call needs params.name",
            ));
        };
        let answer = self
            .in_flight
            .begin(id.clone(), Instant::now() + Duration::from_secs(30))
            .ok()?;
        let key = RouteKey::new(call.params.name);
        if self
            .tools
            .route(&key, (id.clone(), msg.into_frame()))
            .is_err()
        {
            self.in_flight.cancel(&id);
            return Some(error_response(
                Some(&id),
                codes::METHOD_NOT_FOUND,
                "unknown or busy tool",
            ));
        }
        match answer.await {
            Ok(Ok(result)) => Some(result),
            _ => Some(error_response(
                Some(&id),
                codes::INTERNAL_ERROR,
                "tool did not answer",
            )),
        }
    }
}

/// `iters` closed-loop round trips of `call` on `rt`, each timed into `rec`; the
/// wall time. `call` says whether its reply was a 4 KiB tool result.
fn round_trips(
    rt: &tokio::runtime::Runtime,
    iters: u64,
    rec: &mut mcpbench::latency::Recorder,
    mut call: impl AsyncFnMut() -> bool,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            let t = Instant::now();
            let ok = call().await;
            rec.record(t.elapsed().as_nanos() as u64);
            assert!(ok, "a 4 KiB tool result");
        }
        start.elapsed()
    })
}

fn benches(c: &mut Criterion) {
    let rt = mcpbench::runtime(2);
    let mut g = Group::new(c, "integrated");
    g.workload(mcpbench::workloads::get("integrated/seed_mix/256x400"));
    g.workload(mcpbench::workloads::get(
        "integrated/seed_mix_1thread/256x400",
    ));

    // The end-to-end path.
    let mailbox = Arc::new(Mailbox::<(RequestId, Bytes)>::bounded(1024));
    let sessions = SessionStore::new(16);
    let session = sessions
        .create(
            NewSession {
                protocol_version: "2025-11-25".into(),
                client: ClientInfo::default(),
                capabilities: "{}".into(),
            },
            Instant::now(),
        )
        .expect("room");
    let server = Arc::new(ToolServer {
        session,
        sessions,
        tools: Registry::new(),
        in_flight: InFlight::new(),
    });
    server
        .tools
        .register(RouteKey::new("echo"), mailbox.clone())
        .expect("fresh key");
    let result = Bytes::from(tool_result(0, RESULT_SIZE));
    let worker = {
        let (server, mailbox) = (server.clone(), mailbox.clone());
        rt.spawn(async move {
            // The tool: answers each call with a 4 KiB result (its id patched in
            // would cost a copy; the bench client checks only the length).
            while let Some((id, _request)) = mailbox.pop().await {
                let _ = server.in_flight.complete(&id, result.clone());
            }
        })
    };
    let net = rt
        .block_on(Server::bind(
            "127.0.0.1:0",
            server.clone(),
            ServerConfig::default(),
        ))
        .expect("bind loopback");
    let mut client = rt
        .block_on(Client::connect(net.local_addr()))
        .expect("connect");
    let request = tool_call(1, 256);
    g.elements(1);
    let (tcp_server, http_server) = rt.block_on(async {
        let any = "127.0.0.1:0".parse().expect("an address");
        let settings = mcpbench_server::Settings::default();
        let tcp = mcpbench_server::start(any, settings.clone())
            .await
            .expect("bind loopback");
        let http = mcpbench_server::start_http(any, settings, Default::default())
            .await
            .expect("bind loopback");
        (tcp, http)
    });
    g.custom("tools_call", "e2e_4KiB", Method::PerOp, |iters, rec| {
        round_trips(&rt, iters, rec, async || {
            client.call(&request).await.expect("reply").len() == RESULT_SIZE
        })
    });

    let init = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
    let initialized = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"text","arguments":{}}}"#;
    let mut tcp = rt.block_on(async {
        let mut c = Client::connect(tcp_server.local_addr())
            .await
            .expect("connect");
        c.call(init).await.expect("initialize");
        c.send(initialized).expect("frame");
        c.flush().await.expect("initialized");
        c
    });
    g.custom(
        "tools_call_tcp",
        "mcpbench_server",
        Method::PerOp,
        |iters, rec| {
            round_trips(&rt, iters, rec, async || {
                tcp.call(call).await.expect("reply").len() > RESULT_SIZE
            })
        },
    );
    let (mut http, request) = rt.block_on(async {
        let mut c = HttpConn::connect(http_server.local_addr())
            .await
            .expect("connect");
        let (status, session, _) = c
            .exchange(&post("/mcp", &[], init), Some("mcp-session-id"))
            .await
            .expect("initialize");
        assert_eq!(status, 200, "initialize");
        let session = session.expect("a session id");
        let headers = [
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "2025-11-25"),
        ];
        let (status, _, _) = c
            .exchange(&post("/mcp", &headers, initialized), None)
            .await
            .expect("initialized");
        assert_eq!(status, 202, "notifications/initialized");
        (c, post("/mcp", &headers, call))
    });
    g.custom(
        "tools_call_http",
        "mcpbench_server",
        Method::PerOp,
        |iters, rec| {
            round_trips(&rt, iters, rec, async || {
                let (status, _, reply) = http.exchange(&request, None).await.expect("reply");
                status == 200 && reply.len() > RESULT_SIZE
            })
        },
    );
    g.finish();
    rt.block_on(async {
        tcp_server.shutdown().await;
        http_server.shutdown().await;
    });
    mailbox.close();
    rt.block_on(async {
        net.shutdown().await;
        let _ = worker.await;
    });
}

criterion_group! { name = integrated; config = mcpbench::criterion(); targets = benches }
criterion_main!(integrated);

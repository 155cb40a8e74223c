//! Test 5, network I/O: 4 KiB MCP messages (a `tools/call` carrying a realistic
//! mid-size payload) over loopback TCP, one real socket per client (the seed
//! copied a binary and opened none).
//!
//! - `pingpong/*`: one message, wait for its echo, repeat; per-op round-trip
//!   latency (closed-loop); client and server on different threads, as separate
//!   processes would be. `pingpong_1thread/*`: the same on one thread.
//! - `pipelined64/*`: up to 64 messages in flight on one connection; messages/s
//!   (bytes/s = messages/s x 4097).
//! - Each over the four steps of the seed's optimisation plan (`IoStrategy`):
//!   naive, pooled buffers, batched writes, zero-copy frames; and the ceiling: a
//!   bare tokio echo of the same bytes (no framing, no JSON-RPC check).
//! - `codec_*`: framing alone, in bytes/s; ceiling: a 4 KiB memcpy.
//! - `http_pingpong/*`: one HTTP/1.1 POST on a keep-alive connection, answered
//!   with the 4 KiB `text` tool result, wait, repeat (per-op round trip,
//!   closed-loop); `http_16conns/*`: 16 keep-alive connections doing the same at
//!   once (requests/s); `http_pingpong_1thread/*`: the ping-pong with server and
//!   client on one thread (no cross-thread wake-up). `netio` is netio's own HTTP loop (what mcpbench-server's
//!   Streamable HTTP runs on), `ceiling_httparse` a plain tokio loop doing only
//!   what netio's must (`httparse` heads, bodies by length, one pre-rendered
//!   response: the limit netio is judged against), `ceiling_hyper` a bare hyper
//!   1.x service sending the same body; none parses the request body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use mcpbench::group::Group;
use mcpbench::latency::Method;
use mcpbench::messages::tool_call;
use mcpbench_netio::{Conn, IoStrategy, Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

use mcpbench::http::{HttpConn, post};
use mcpbench::http_ceiling::HttparseServer;
use mcpbench_netio::http::{Request, Response};
use mcpbench_netio::{HttpConfig, HttpHandler};

use mcpbench::workloads::netio::{CODEC_FRAMES, Echo, FRAME, SIZE, frame};

const IN_FLIGHT: usize = 64;

/// Answers every HTTP request with the same JSON body: netio's HTTP path alone.
struct HttpReply(Bytes);

impl HttpHandler for HttpReply {
    async fn handle(&self, _request: Request, _conn: &Conn) -> Response {
        Response::json(200, self.0.clone())
    }
}

/// Concurrent keep-alive connections of `http_16conns`.
const HTTP_CONNS: usize = 16;

/// `iters` request/response exchanges spread over `conns` at once (a task per
/// connection); the wall time.
async fn http_exchanges(conns: &mut Vec<HttpConn>, iters: u64, request: &Arc<[u8]>) -> Duration {
    let n = conns.len() as u64;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (k, mut c) in conns.drain(..).enumerate() {
        let share = iters / n + u64::from((k as u64) < iters % n);
        let request = request.clone();
        tasks.spawn(async move {
            for _ in 0..share {
                let (status, _, body) = c.exchange(&request, None).await.expect("a response");
                assert!(status == 200 && body.len() > SIZE, "a 4 KiB result");
            }
            c
        });
    }
    while let Some(c) = tasks.join_next().await {
        conns.push(c.expect("a connection task"));
    }
    start.elapsed()
}

/// The ceiling: a bare tokio echo server, no framing at all.
async fn bare_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr)
        .await
        .expect("connect to the loopback server");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// `iters` round trips on `stream`, each timed.
async fn ping_pong(
    stream: &mut TcpStream,
    iters: u64,
    frame: &[u8],
    reply: &mut [u8],
    rec: &mut mcpbench::latency::Recorder,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let t = Instant::now();
        stream.write_all(frame).await.expect("send");
        stream.read_exact(reply).await.expect("echo");
        rec.record(t.elapsed().as_nanos() as u64);
    }
    let elapsed = start.elapsed();
    assert_eq!(reply, frame, "the echo must return the frame unchanged");
    elapsed
}

/// `iters` messages with at most `IN_FLIGHT` outstanding; the writer sends as many
/// as the window allows in one write.
async fn pipelined(stream: &mut TcpStream, iters: u64, window: &[u8]) -> Duration {
    let (mut rd, mut wr) = stream.split();
    let credits = Semaphore::new(IN_FLIGHT);
    let start = Instant::now();
    let writer = async {
        let mut sent = 0u64;
        while sent < iters {
            credits.acquire().await.expect("open semaphore").forget();
            let mut n = 1u64;
            while n < (iters - sent).min(IN_FLIGHT as u64) {
                match credits.try_acquire() {
                    Ok(p) => {
                        p.forget();
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            wr.write_all(&window[..n as usize * FRAME])
                .await
                .expect("send");
            sent += n;
        }
    };
    let reader = async {
        let mut buf = vec![0u8; 256 * 1024];
        let (mut bytes, total) = (0u64, iters * FRAME as u64);
        while bytes < total {
            let n = rd.read(&mut buf).await.expect("receive");
            assert!(n > 0, "server closed the connection");
            let before = bytes / FRAME as u64;
            bytes += n as u64;
            credits.add_permits((bytes / FRAME as u64 - before) as usize);
        }
    };
    tokio::join!(writer, reader);
    start.elapsed()
}

/// The four strategies and the bare echo, as `(name, strategy)`; `None` is the ceiling.
const VARIANTS: [(&str, Option<IoStrategy>); 5] = [
    ("naive", Some(IoStrategy::NAIVE)),
    ("pooled", Some(IoStrategy::POOLED)),
    ("batched", Some(IoStrategy::BATCHED)),
    ("zero_copy", Some(IoStrategy::ZERO_COPY)),
    ("ceiling_tokio_echo", None),
];

/// Starts one server per variant on `rt`; returns them (to shut down) and the
/// address of each variant.
fn start_servers(rt: &Runtime) -> (Vec<Server>, Vec<(&'static str, SocketAddr)>) {
    rt.block_on(async {
        let (mut servers, mut addrs) = (Vec::new(), Vec::new());
        for (name, strategy) in VARIANTS {
            let addr = match strategy {
                Some(strategy) => {
                    let config = ServerConfig {
                        strategy,
                        ..ServerConfig::default()
                    };
                    let server = Server::bind("127.0.0.1:0", Arc::new(Echo), config)
                        .await
                        .expect("bind loopback");
                    let addr = server.local_addr();
                    servers.push(server);
                    addr
                }
                None => bare_echo().await,
            };
            addrs.push((name, addr));
        }
        (servers, addrs)
    })
}

/// netio's HTTP loop answering every request with `body`, and the bare hyper
/// service sending the same body, on loopback (call from the runtime to serve on).
async fn http_servers(
    body: &Bytes,
) -> (
    Server,
    SocketAddr,
    mcpbench_server::bare_http::BareHttpServer,
) {
    let netio = Server::bind_http(
        "127.0.0.1:0".parse().expect("an address"),
        Arc::new(HttpReply(body.clone())),
        HttpConfig::default(),
    )
    .expect("bind loopback");
    let addr = netio.local_addr();
    let hyper = mcpbench_server::bare_http::start_bare_http(
        "127.0.0.1:0".parse().expect("an address"),
        false,
        SIZE,
    )
    .expect("bind loopback");
    (netio, addr, hyper)
}

/// `iters` exchanges of `request` on one keep-alive connection, each timed.
async fn http_round_trips(
    one: &mut HttpConn,
    request: &[u8],
    iters: u64,
    rec: &mut mcpbench::latency::Recorder,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let t = Instant::now();
        let (status, _, reply) = one.exchange(request, None).await.expect("a response");
        rec.record(t.elapsed().as_nanos() as u64);
        assert!(status == 200 && reply.len() > SIZE, "a 4 KiB result");
    }
    start.elapsed()
}

fn benches(c: &mut Criterion) {
    let rt: Runtime = mcpbench::runtime(2);
    // Client and server tasks on one thread: no cross-thread wake-up in the round
    // trip, so what remains is the I/O path itself (this machine's wake-up latency,
    // tens of microseconds, otherwise dominates a ping-pong).
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let frame = frame();
    let window: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(FRAME * IN_FLIGHT)
        .collect();
    let (servers, addrs) = start_servers(&rt);
    let (servers1, addrs1) = start_servers(&rt1);

    let mut g = Group::new(c, "netio");
    g.elements(1);
    for (function, rt, addrs) in [
        ("pingpong", &rt, &addrs),
        ("pingpong_1thread", &rt1, &addrs1),
    ] {
        for &(name, addr) in addrs {
            if function == "pingpong_1thread" && name == "zero_copy" {
                // The registry's workload (its own server on its own runtime): the
                // one the gate's paired clock runs too.
                g.workload(mcpbench::workloads::get("netio/pingpong_1thread/zero_copy"));
                g.elements(1);
                continue;
            }
            let mut stream = rt.block_on(connect(addr));
            let mut reply = vec![0u8; FRAME];
            g.custom(function, name, Method::PerOp, |iters, rec| {
                rt.block_on(ping_pong(&mut stream, iters, &frame, &mut reply, rec))
            });
        }
    }
    for &(name, addr) in &addrs {
        let mut stream = rt.block_on(connect(addr));
        g.timed("pipelined64", name, |iters| {
            rt.block_on(pipelined(&mut stream, iters, &window))
        });
    }

    // HTTP/1.1: netio's loop and bare hyper, the same 4 KiB body.
    let body = mcpbench_server::bare_http::reply_body(SIZE);
    let request: Arc<[u8]> = post("/mcp", &[], &tool_call(1, 64)).into();
    let (http_server, http_addr, hyper) = rt.block_on(http_servers(&body));
    let httparse = rt
        .block_on(HttparseServer::start(&body))
        .expect("bind loopback");
    for (name, addr) in [
        ("netio", http_addr),
        ("ceiling_httparse", httparse.local_addr()),
        ("ceiling_hyper", hyper.local_addr()),
    ] {
        let mut one = rt.block_on(HttpConn::connect(addr)).expect("connect");
        g.custom("http_pingpong", name, Method::PerOp, |iters, rec| {
            rt.block_on(http_round_trips(&mut one, &request, iters, rec))
        });
        let mut conns = rt.block_on(async {
            let mut v = Vec::new();
            for _ in 0..HTTP_CONNS {
                v.push(HttpConn::connect(addr).await.expect("connect"));
            }
            v
        });
        g.timed("http_16conns", name, |iters| {
            rt.block_on(http_exchanges(&mut conns, iters, &request))
        });
    }

    // The same HTTP ping-pong with server and client on one thread (as
    // pingpong_1thread): what is left without cross-thread wake-ups.
    let (http1, http1_addr, hyper1) = rt1.block_on(http_servers(&body));
    let httparse1 = rt1
        .block_on(HttparseServer::start(&body))
        .expect("bind loopback");
    for (name, addr) in [
        ("netio", http1_addr),
        ("ceiling_httparse", httparse1.local_addr()),
        ("ceiling_hyper", hyper1.local_addr()),
    ] {
        let mut one = rt1.block_on(HttpConn::connect(addr)).expect("connect");
        g.custom(
            "http_pingpong_1thread",
            name,
            Method::PerOp,
            |iters, rec| rt1.block_on(http_round_trips(&mut one, &request, iters, rec)),
        );
    }
    rt1.block_on(http1.shutdown());
    drop((hyper1, httparse1));

    // The codec alone: 256 frames of 4 KiB per iteration; framing alone, then
    // framing plus the JSON-RPC envelope check, then encoding.
    for id in [
        "netio/codec_decode/4KiB",
        "netio/codec_decode_parse/4KiB",
        "netio/codec_decode_parse_serde/4KiB",
        "netio/codec_encode/4KiB",
    ] {
        g.workload(mcpbench::workloads::get(id));
    }
    g.bytes((FRAME * CODEC_FRAMES) as u64);
    let mut copy = Vec::with_capacity(FRAME * CODEC_FRAMES);
    g.criterion()
        .bench_function(criterion::BenchmarkId::new("ceiling_memcpy", "4KiB"), |b| {
            b.iter(|| {
                copy.clear();
                for _ in 0..CODEC_FRAMES {
                    copy.extend_from_slice(std::hint::black_box(&frame));
                }
                copy.len()
            })
        });
    g.finish();
    rt.block_on(http_server.shutdown());
    drop((hyper, httparse));
    for (rt, servers) in [(&rt, servers), (&rt1, servers1)] {
        rt.block_on(async {
            for s in servers {
                s.shutdown().await;
            }
        });
    }
}

criterion_group! { name = netio; config = mcpbench::criterion(); targets = benches }
criterion_main!(netio);

//! Hostile clients against the deadlines and caps ([`Guards`]): each attack ends
//! with the connection closed for the right reason, the memory it held returned,
//! and a control connection answered throughout. Tests run one at a time (the heap
//! counter is process-wide).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use mcpbench_netio::http::{Request, Response};
use mcpbench_netio::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

#[global_allocator]
static ALLOC: mcpbench_alloc::Counting = mcpbench_alloc::Counting;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    let _one_at_a_time = serial();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Echoes requests; `big` answers each with 4 KiB; `initialize` establishes the
/// connection; records close reasons and signals each.
#[derive(Default)]
struct Echo {
    closed: Mutex<Vec<CloseReason>>,
    closed_signal: Notify,
}

const BIG: &[u8] = &[b'x'; 4096];

impl Handler for Echo {
    async fn handle(&self, msg: Message, conn: &Conn) -> Option<Bytes> {
        match msg.method() {
            Some("initialize") => conn.establish(),
            Some("big") => {
                let mut reply = br#"{"jsonrpc":"2.0","id":1,"result":""#.to_vec();
                reply.extend_from_slice(BIG);
                reply.extend_from_slice(br#""}"#);
                return Some(reply.into());
            }
            _ => {}
        }
        (msg.kind() == MessageKind::Request).then(|| msg.into_frame())
    }

    fn closed(&self, _conn: &Conn, reason: &CloseReason) {
        self.closed.lock().unwrap().push(reason.clone());
        self.closed_signal.notify_one();
    }
}

impl HttpHandler for Echo {
    async fn handle(&self, request: Request, _conn: &Conn) -> Response {
        Response::json(200, request.into_body())
    }

    fn closed(&self, _conn: &Conn, reason: &CloseReason) {
        self.closed.lock().unwrap().push(reason.clone());
        self.closed_signal.notify_one();
    }
}

impl Echo {
    /// Waits until `n` connections have closed; their reasons.
    async fn closes(&self, n: usize) -> Vec<CloseReason> {
        loop {
            let notified = self.closed_signal.notified();
            {
                let c = self.closed.lock().unwrap();
                if c.len() >= n {
                    return c.clone();
                }
            }
            tokio::time::timeout(Duration::from_secs(10), notified)
                .await
                .expect("connections closed within 10 s");
        }
    }
}

fn guards(f: impl FnOnce(&mut Guards)) -> Guards {
    let mut g = Guards {
        idle: Some(Duration::from_secs(30)),
        frame: Some(Duration::from_secs(30)),
        write: Some(Duration::from_secs(30)),
        handshake: None,
        max_connections: None,
        max_outbox_bytes: 1 << 20,
        shutdown: Duration::from_secs(10),
    };
    f(&mut g);
    g
}

async fn lines(g: Guards) -> (Server, Arc<Echo>) {
    let h = Arc::new(Echo::default());
    let config = ServerConfig {
        guards: g,
        ..Default::default()
    };
    (
        Server::bind("127.0.0.1:0", h.clone(), config)
            .await
            .unwrap(),
        h,
    )
}

/// The same echo over netio's HTTP loop.
fn http(g: Guards) -> (Server, Arc<Echo>) {
    let h = Arc::new(Echo::default());
    let config = HttpConfig {
        guards: g,
        ..Default::default()
    };
    (
        Server::bind_http("127.0.0.1:0".parse().unwrap(), h.clone(), config).unwrap(),
        h,
    )
}

/// Reads into `got` until it holds `k` replies (each containing `marker`); fails
/// if the server closes the connection or a reply takes over 2 s.
async fn until_replies(s: &mut TcpStream, got: &mut Vec<u8>, marker: &[u8], k: usize) {
    let mut buf = [0u8; 4096];
    while memchr::memmem::find_iter(got, marker).count() < k {
        match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => panic!("closed after {} requests", k - 1),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("request {k} not answered within 2 s"),
        }
    }
}

const PING: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n";

/// A connection that pings and expects its echo, each answered within 2 s (the
/// server stays responsive while it is attacked).
struct Control(TcpStream);

impl Control {
    async fn open(server: &Server) -> Control {
        let mut c = Control(TcpStream::connect(server.local_addr()).await.unwrap());
        c.ping().await;
        c
    }

    async fn ping(&mut self) {
        self.0.write_all(PING).await.unwrap();
        let mut got = vec![0u8; PING.len()];
        tokio::time::timeout(Duration::from_secs(2), self.0.read_exact(&mut got))
            .await
            .expect("the control ping is answered while the server is attacked")
            .unwrap();
        assert_eq!(got, PING);
    }
}

/// Reads until the server closes the connection (bounded), returning what came.
async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return all,
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server did not close the connection within 10 s"),
        }
    }
}

#[test]
fn trickling_sockets_are_all_closed_by_the_frame_deadline_and_their_memory_returned() {
    run(async {
        let (server, h) = lines(guards(|g| g.frame = Some(Duration::from_millis(300)))).await;
        let mut control = Control::open(&server).await;
        let before = mcpbench_alloc::live_bytes();
        let mut socks = Vec::new();
        for _ in 0..200 {
            let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
            s.write_all(b"{\"jsonrpc\":\"2.0\",").await.unwrap();
            socks.push(s);
        }
        // Each keeps sending one byte of its unterminated frame every 20 ms until
        // the server closes it (bounded: the server must do so within 10 s).
        let trickles: Vec<_> = socks
            .into_iter()
            .map(|mut s| {
                tokio::spawn(async move {
                    for _ in 0..500 {
                        if s.write_all(b" ").await.is_err() {
                            return true;
                        }
                        match tokio::time::timeout(
                            Duration::from_millis(20),
                            s.read(&mut [0u8; 64]),
                        )
                        .await
                        {
                            Ok(Ok(0)) | Ok(Err(_)) => return true,
                            _ => {}
                        }
                    }
                    false
                })
            })
            .collect();
        control.ping().await;
        let reasons = h.closes(200).await;
        control.ping().await;
        for t in trickles {
            assert!(
                t.await.unwrap(),
                "every trickling socket was closed by the server"
            );
        }
        assert_eq!(reasons.len(), 200);
        assert!(
            reasons
                .iter()
                .all(|r| *r == CloseReason::Deadline(Deadline::Frame)),
            "{reasons:?}"
        );
        assert_eq!(server.stats().closed_by_deadline, [0, 200, 0, 0]);
        let held = mcpbench_alloc::live_bytes() - before;
        assert!(
            held < 64 * 1024,
            "200 closed connections still hold {held} B of heap"
        );
        control.ping().await;
    });
}

#[test]
fn a_peer_that_never_reads_is_closed_at_the_write_deadline_with_bounded_heap() {
    run(async {
        let (server, h) = lines(guards(|g| {
            g.write = Some(Duration::from_millis(300));
            g.max_outbox_bytes = 64 * 1024;
        }))
        .await;
        let mut control = Control::open(&server).await;
        let before = mcpbench_alloc::live_bytes();
        let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
        // 20,000 requests of ~40 bytes for 4 KiB each: 80 MB of replies if they
        // were all queued. The socket buffers fill; the server stops reading.
        let req = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"big\"}\n";
        let all: Vec<u8> = req
            .iter()
            .copied()
            .cycle()
            .take(req.len() * 20_000)
            .collect();
        let writer = tokio::spawn(async move {
            let _ = s.write_all(&all).await;
            s
        });
        let reasons = h.closes(1).await;
        assert_eq!(reasons, vec![CloseReason::Deadline(Deadline::Write)]);
        let peak_bound = mcpbench_alloc::live_bytes() - before;
        assert!(
            peak_bound < 4 * 1024 * 1024,
            "the non-reading peer pinned {peak_bound} B"
        );
        control.ping().await;
        drop(writer.await.unwrap());
        assert_eq!(server.stats().closed_by_deadline, [0, 0, 1, 0]);
    });
}

#[test]
fn the_connection_cap_refuses_the_next_client_at_once_and_admits_again_after_a_close() {
    run(async {
        let (server, h) = lines(guards(|g| g.max_connections = Some(2))).await;
        let mut control = Control::open(&server).await;
        let mut second = Control::open(&server).await;
        let mut third = TcpStream::connect(server.local_addr()).await.unwrap();
        let got = until_closed(&mut third).await;
        assert!(
            String::from_utf8_lossy(&got).contains("connection limit"),
            "{got:?}"
        );
        assert_eq!(server.stats().refused, 1);
        second.ping().await;
        drop(second);
        h.closes(1).await;
        let mut again = Control::open(&server).await;
        again.ping().await;
        control.ping().await;
        assert_eq!(server.stats().refused, 1);
    });
}

#[test]
fn idle_and_never_established_connections_are_closed_by_their_deadlines() {
    run(async {
        let (server, h) = lines(guards(|g| {
            g.idle = Some(Duration::from_millis(400));
            g.handshake = Some(Duration::from_millis(200));
        }))
        .await;
        // Established, then silent: the idle deadline.
        let mut idle = TcpStream::connect(server.local_addr()).await.unwrap();
        idle.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}\n")
            .await
            .unwrap();
        // Talking, never established: the handshake deadline.
        let mut chatty = TcpStream::connect(server.local_addr()).await.unwrap();
        chatty.write_all(PING).await.unwrap();
        until_closed(&mut chatty).await;
        until_closed(&mut idle).await;
        let mut reasons = h.closes(2).await;
        reasons.sort_by_key(|r| format!("{r:?}"));
        assert_eq!(
            reasons,
            vec![
                CloseReason::Deadline(Deadline::Handshake),
                CloseReason::Deadline(Deadline::Idle),
            ]
        );
        assert_eq!(server.stats().closed_by_deadline, [1, 0, 0, 1]);
    });
}

/// The idle deadline counts from the last activity, however many times it moved:
/// a connection talking every 100 ms for 1.2 s under a 300 ms idle deadline is
/// kept (the connection's one timer fires early, sees the deadline moved, and is
/// re-armed), and closed by that deadline once it falls silent.
#[test]
fn a_connection_talking_longer_than_its_idle_deadline_is_kept_then_closed_when_silent() {
    run(async {
        let g = guards(|g| g.idle = Some(Duration::from_millis(300)));
        let (server, h) = lines(g).await;
        let mut c = Control::open(&server).await;
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.ping().await;
        }
        assert_eq!(server.stats().closed_by_deadline, [0, 0, 0, 0]);
        until_closed(&mut c.0).await;
        assert_eq!(h.closes(1).await, [CloseReason::Deadline(Deadline::Idle)]);

        let (http, h) = http(g);
        let mut s = TcpStream::connect(http.local_addr()).await.unwrap();
        let post = b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
        let mut got = Vec::new();
        for k in 1..=12 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.write_all(post).await.unwrap();
            until_replies(&mut s, &mut got, b"HTTP/1.1 200", k).await;
        }
        assert_eq!(http.stats().closed_by_deadline, [0, 0, 0, 0]);
        until_closed(&mut s).await;
        assert_eq!(h.closes(1).await, [CloseReason::Deadline(Deadline::Idle)]);
    });
}

#[test]
fn http_trickled_heads_idle_keep_alives_and_the_cap_are_handled() {
    run(async {
        let h = Arc::new(Echo::default());
        let config = HttpConfig {
            guards: guards(|g| {
                g.frame = Some(Duration::from_millis(300));
                g.idle = Some(Duration::from_millis(600));
                g.max_connections = Some(3);
            }),
            ..Default::default()
        };
        let server = Server::bind_http("127.0.0.1:0".parse().unwrap(), h.clone(), config).unwrap();
        let addr = server.local_addr();
        let post = b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
        // A head that never ends: the frame deadline (answered nothing, closed).
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"POST /mcp HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        // A keep-alive connection that goes quiet after one request: the idle one.
        let mut quiet = TcpStream::connect(addr).await.unwrap();
        quiet.write_all(post).await.unwrap();
        // The third fills the cap; a fourth is refused with 503 at once.
        let mut third = TcpStream::connect(addr).await.unwrap();
        third.write_all(post).await.unwrap();
        let mut first = [0u8; 12];
        third.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        let mut fourth = TcpStream::connect(addr).await.unwrap();
        let refused = String::from_utf8_lossy(&until_closed(&mut fourth).await).into_owned();
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        until_closed(&mut slow).await;
        let answered = String::from_utf8_lossy(&until_closed(&mut quiet).await).into_owned();
        assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
        let reasons = h.closes(2).await;
        assert!(
            reasons.contains(&CloseReason::Deadline(Deadline::Frame)),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&CloseReason::Deadline(Deadline::Idle)),
            "{reasons:?}"
        );
        assert_eq!(server.stats().refused, 1);
    });
}

/// Writes `request` split in two, a half at a time: the second half of one
/// together with the first half of the next, `rounds` times, `every` apart (each
/// request whole within `every` of its first byte, the connection busy far longer
/// than the frame deadline), then the last half alone; returns what came back
/// once the `rounds + 1` replies, each holding `marker`, are in. Fails if the
/// server closes the connection.
async fn pipeline_straddling(
    s: &mut TcpStream,
    request: &[u8],
    rounds: usize,
    every: Duration,
    marker: &[u8],
) -> Vec<u8> {
    let (a, b) = request.split_at(request.len() / 2);
    let straddle = [b, a].concat();
    s.write_all(a).await.unwrap();
    let mut got = Vec::new();
    for k in 1..=rounds + 1 {
        tokio::time::sleep(every).await;
        // The last write only completes the last request.
        s.write_all(if k <= rounds { &straddle } else { b })
            .await
            .unwrap();
        // Request k is whole: its reply comes before the next write.
        until_replies(s, &mut got, marker, k).await;
    }
    got
}

#[test]
fn requests_pipelined_across_reads_each_get_the_frame_deadline_from_their_first_byte() {
    run(async {
        // A frame deadline of 300 ms; 12 requests 100 ms apart: 1.2 s with a
        // request always partly in, none of them taking more than 100 ms.
        let g = guards(|g| g.frame = Some(Duration::from_millis(300)));
        let (lines, _) = lines(g).await;
        let mut s = TcpStream::connect(lines.local_addr()).await.unwrap();
        let got =
            pipeline_straddling(&mut s, PING, 12, Duration::from_millis(100), b"\"id\":7").await;
        assert_eq!(memchr::memmem::find_iter(&got, b"\"id\":7").count(), 13);
        assert_eq!(lines.stats().closed_by_deadline, [0, 0, 0, 0]);

        let (http, h) = http(g);
        let mut s = TcpStream::connect(http.local_addr()).await.unwrap();
        let post = b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
        let got = pipeline_straddling(
            &mut s,
            post,
            12,
            Duration::from_millis(100),
            b"HTTP/1.1 200",
        )
        .await;
        assert_eq!(memchr::memmem::find_iter(&got, b"HTTP/1.1 200").count(), 13);
        assert_eq!(http.stats().closed_by_deadline, [0, 0, 0, 0]);
        // The slowloris head beside it is still cut off (one request, 300 ms).
        let mut slow = TcpStream::connect(http.local_addr()).await.unwrap();
        slow.write_all(b"POST /mcp HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        until_closed(&mut slow).await;
        assert_eq!(h.closes(1).await, [CloseReason::Deadline(Deadline::Frame)]);
    });
}

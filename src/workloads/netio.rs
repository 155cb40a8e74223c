//! netio's gated workloads: the codec alone (framing, and framing plus the
//! JSON-RPC envelope check, the fast path and serde_json's) over 256 frames of a 4 KiB `tools/call`, and one
//! round trip over loopback TCP through the zero-copy server.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mcpbench_netio::{
    Conn, FrameDecoder, Handler, IoStrategy, Message, MessageKind, Server, ServerConfig, encode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use super::{Iteration, Prepared, Unit, Workload};
use crate::latency::Recorder;
use crate::messages::tool_call;

/// A message's size in the network benches.
pub const SIZE: usize = 4096;
/// A frame: the message and its newline.
pub const FRAME: usize = SIZE + 1;
/// Frames per codec iteration.
pub const CODEC_FRAMES: usize = 256;

pub(super) const ALL: &[Workload] = &[
    Workload {
        id: "netio/codec_decode/4KiB",
        per_iteration: (FRAME * CODEC_FRAMES) as u64,
        unit: Unit::Bytes,
        threads: 1,
        batch: None,
        counted: true,
        build: || decode(Parse::None),
    },
    Workload {
        id: "netio/codec_decode_parse/4KiB",
        per_iteration: (FRAME * CODEC_FRAMES) as u64,
        unit: Unit::Bytes,
        threads: 1,
        batch: None,
        counted: true,
        build: || decode(Parse::Fast),
    },
    Workload {
        id: "netio/codec_decode_parse_serde/4KiB",
        per_iteration: (FRAME * CODEC_FRAMES) as u64,
        unit: Unit::Bytes,
        threads: 1,
        batch: None,
        counted: true,
        build: || decode(Parse::Serde),
    },
    Workload {
        id: "netio/codec_encode/4KiB",
        per_iteration: (FRAME * CODEC_FRAMES) as u64,
        unit: Unit::Bytes,
        threads: 1,
        batch: None,
        counted: true,
        build: encode_frames,
    },
    Workload {
        id: "netio/pingpong_1thread/zero_copy",
        per_iteration: 1,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(1),
        counted: false,
        build: pingpong_1thread,
    },
];

/// One 4 KiB `tools/call` and its newline.
pub fn frame() -> Vec<u8> {
    let mut frame = tool_call(1, SIZE);
    frame.push(b'\n');
    frame
}

struct Decode {
    stream: Vec<u8>,
    buf: BytesMut,
    decoder: FrameDecoder,
    parse: Parse,
}

/// What a decode workload does with each frame.
#[derive(Clone, Copy)]
enum Parse {
    /// Nothing: framing alone.
    None,
    /// `Message::parse` (simd-json, serde_json on refusal).
    Fast,
    /// `Message::parse_serde` (serde_json alone: the path before the scan).
    Serde,
}

/// The 256 frames copied into a fresh buffer outside, then split (and each
/// envelope checked, as `parse` says) inside the measured region.
fn decode(parse: Parse) -> Box<dyn Iteration> {
    Prepared::boxed(
        Decode {
            stream: frame().repeat(CODEC_FRAMES),
            buf: BytesMut::new(),
            decoder: FrameDecoder::default(),
            parse,
        },
        |s: &mut Decode| s.buf = BytesMut::from(&s.stream[..]),
        |s: &mut Decode| {
            let mut n = 0;
            while let Some(f) = s.decoder.decode(&mut s.buf).expect("valid frames") {
                n += match s.parse {
                    Parse::None => f.len(),
                    Parse::Fast => Message::parse(f).expect("valid JSON-RPC").frame().len(),
                    Parse::Serde => Message::parse_serde(f)
                        .expect("valid JSON-RPC")
                        .frame()
                        .len(),
                };
            }
            black_box(n);
        },
    )
}

/// 256 frames encoded into one buffer (cleared inside, as a write path does).
fn encode_frames() -> Box<dyn Iteration> {
    let mut payload = frame();
    payload.pop();
    Prepared::boxed(
        (payload, BytesMut::with_capacity(FRAME * CODEC_FRAMES)),
        |_| {},
        |(payload, out): &mut (Vec<u8>, BytesMut)| {
            out.clear();
            for _ in 0..CODEC_FRAMES {
                encode(payload, usize::MAX, out).expect("no newline");
            }
            black_box(out.len());
        },
    )
}

/// Sends each request's frame back as the reply: netio's I/O path alone.
pub struct Echo;

impl Handler for Echo {
    async fn handle(&self, msg: Message, _conn: &Conn) -> Option<Bytes> {
        (msg.kind() == MessageKind::Request).then(|| msg.into_frame())
    }
}

struct PingPong {
    rt: Runtime,
    server: Option<Server>,
    stream: TcpStream,
    frame: Vec<u8>,
    reply: Vec<u8>,
}

impl PingPong {
    async fn round_trip(stream: &mut TcpStream, frame: &[u8], reply: &mut [u8]) {
        stream.write_all(frame).await.expect("send");
        stream.read_exact(reply).await.expect("echo");
    }
}

impl Iteration for PingPong {
    fn run(&mut self) {
        let (stream, frame, reply) = (&mut self.stream, &self.frame, &mut self.reply);
        self.rt.block_on(Self::round_trip(stream, frame, reply));
    }
    /// One round trip, timed (per op).
    fn run_batches(&mut self, _ops: u64, rec: &mut Recorder) -> Duration {
        let (stream, frame, reply) = (&mut self.stream, &self.frame, &mut self.reply);
        let elapsed = self.rt.block_on(async {
            let t = Instant::now();
            Self::round_trip(stream, frame, reply).await;
            t.elapsed()
        });
        rec.record(elapsed.as_nanos() as u64);
        elapsed
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown());
        }
    }
}

/// One 4 KiB message to netio's zero-copy echo server over loopback TCP and its
/// echo back, client and server on one thread (a current-thread runtime): the
/// I/O path without cross-thread wake-ups.
fn pingpong_1thread() -> Box<dyn Iteration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a tokio runtime: {e}"));
    let (server, stream) = rt.block_on(async {
        let config = ServerConfig {
            strategy: IoStrategy::ZERO_COPY,
            ..ServerConfig::default()
        };
        let server = Server::bind("127.0.0.1:0", Arc::new(Echo), config)
            .await
            .expect("bind loopback");
        let stream = TcpStream::connect(server.local_addr())
            .await
            .expect("connect to the loopback server");
        stream.set_nodelay(true).expect("nodelay");
        (server, stream)
    });
    Box::new(PingPong {
        rt,
        server: Some(server),
        stream,
        frame: frame(),
        reply: vec![0; FRAME],
    })
}

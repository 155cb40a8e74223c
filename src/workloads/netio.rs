//! netio's gated workloads: the codec alone (framing, and framing plus the
//! JSON-RPC envelope check) over 256 frames of a 4 KiB `tools/call`.

use std::hint::black_box;

use bytes::BytesMut;
use mcpbench_netio::{FrameDecoder, Message, encode};

use super::{Iteration, Prepared, Unit, Workload};
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
        build: || decode(false),
    },
    Workload {
        id: "netio/codec_decode_parse/4KiB",
        per_iteration: (FRAME * CODEC_FRAMES) as u64,
        unit: Unit::Bytes,
        threads: 1,
        batch: None,
        counted: true,
        build: || decode(true),
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
    parse: bool,
}

/// The 256 frames copied into a fresh buffer outside, then split (and, with
/// `parse`, each envelope checked) inside the measured region.
fn decode(parse: bool) -> Box<dyn Iteration> {
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
                n += if s.parse {
                    Message::parse(f).expect("valid JSON-RPC").frame().len()
                } else {
                    f.len()
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

//! The bodies of mcpbench's fuzz targets, as plain functions: `fuzz_targets/*.rs`
//! hand them libFuzzer's input (nightly, `cargo fuzz run`), `tests/replay.rs` runs
//! every file of `corpus/` through them (stable, `cargo test`). Each panics when an
//! invariant breaks; none may panic otherwise.

use bytes::{Bytes, BytesMut};
use mcpbench_netio::http::{Decoded, HttpError, HttpLimits, Method, Request, RequestDecoder};
use mcpbench_netio::{FrameDecoder, FrameError, Message, MessageKind, ProtocolError, RequestId};
use mcpbench_session::SessionId;

/// The targets by name, for the replay test (`corpus/<name>/`).
pub const TARGETS: [(&str, fn(&[u8])); 5] = [
    ("frame", frame),
    ("jsonrpc", jsonrpc),
    ("http_request", http_request),
    ("session_id", session_id),
    ("report_files", report_files),
];

/// A fuzz target binary: `fuzz_main!(frame);` after `#![cfg_attr(fuzzing, no_main)]`.
/// Without `--cfg fuzzing` (a stable build) the binary is an empty `main`.
#[macro_export]
macro_rules! fuzz_main {
    ($target:ident) => {
        #[cfg(fuzzing)]
        libfuzzer_sys::fuzz_target!(|data: &[u8]| $crate::$target(data));
        #[cfg(not(fuzzing))]
        fn main() {}
    };
}

/// Cuts `input` into reads of `size` bytes (the last shorter); `size` 0: one read.
fn reads(input: &[u8], size: usize) -> impl Iterator<Item = &[u8]> {
    let size = if size == 0 { input.len().max(1) } else { size };
    input.chunks(size)
}

// ---------------------------------------------------------------------------
// frame

/// What the framing rules say a whole stream holds: the frames, then the error
/// that ends it (if any), and the unfinished last line.
struct Expected<'a> {
    frames: Vec<&'a [u8]>,
    error: Option<FrameError>,
    rest: &'a [u8],
}

/// The framing rules, written out from the docs of `FrameDecoder` on the whole
/// stream at once: one frame per `\n`, one trailing `\r` stripped, blank lines
/// skipped, a line (without terminator) over `max` refused, a line that is not
/// UTF-8 refused; an unterminated tail over `max + 1` bytes refused too.
fn expected(input: &[u8], max: usize) -> Expected<'_> {
    let mut frames = Vec::new();
    let mut rest = input;
    loop {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            let error = (rest.len() > max + 1).then_some(FrameError::TooLong {
                len: rest.len(),
                max,
            });
            return Expected {
                frames,
                error,
                rest,
            };
        };
        let mut line = &rest[..nl];
        rest = &rest[nl + 1..];
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        if line.is_empty() {
            continue;
        }
        let error = if line.len() > max {
            Some(FrameError::TooLong {
                len: line.len(),
                max,
            })
        } else {
            std::str::from_utf8(line)
                .err()
                .map(|e| FrameError::InvalidUtf8 {
                    valid_up_to: e.valid_up_to(),
                })
        };
        if error.is_some() {
            return Expected {
                frames,
                error,
                rest,
            };
        }
        frames.push(line);
    }
}

/// Same error, ignoring `TooLong::len` (how much of an over-long line had been
/// read when it was refused depends on how the stream was cut).
fn same_error(a: &FrameError, b: &FrameError) -> bool {
    match (a, b) {
        (FrameError::TooLong { max: x, .. }, FrameError::TooLong { max: y, .. }) => x == y,
        _ => a == b,
    }
}

/// `FrameDecoder` over arbitrary bytes cut into arbitrary reads. Byte 0: read size
/// (0 = all at once); byte 1: the frame limit (0..=127); the rest: the stream.
///
/// Asserts: no frame is empty, over the limit, holds a `\n` or is not UTF-8; the
/// frames, the error and the unfinished tail are those of [`expected`] (so the
/// frames + the tail + the line terminators and blank lines are the input) however
/// the stream is cut; `decode_eof` says `Truncated` exactly when a tail is left;
/// every frame re-encodes and decodes to itself.
pub fn frame(data: &[u8]) {
    let [split, max, input @ ..] = data else {
        return;
    };
    let max = usize::from(*max & 0x7f);
    let want = expected(input, max);

    let mut decoder = FrameDecoder::new(max);
    assert_eq!(decoder.max_len(), max);
    let mut buf = BytesMut::new();
    let mut got: Vec<Bytes> = Vec::new();
    let mut error = None;
    'feed: for read in reads(input, usize::from(*split)) {
        buf.extend_from_slice(read);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => {
                    assert!(!f.is_empty(), "empty frame");
                    assert!(f.len() <= max, "frame of {} over the limit {max}", f.len());
                    assert!(!f.contains(&b'\n'), "frame with a newline: {f:?}");
                    assert!(std::str::from_utf8(&f).is_ok(), "frame not UTF-8: {f:?}");
                    got.push(f);
                }
                Ok(None) => {
                    assert!(
                        buf.len() <= max + 1,
                        "{} bytes buffered without a newline, over the limit {max} + 1",
                        buf.len()
                    );
                    assert!(!buf.contains(&b'\n'), "a complete line left in the buffer");
                    break;
                }
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    let got_frames: Vec<&[u8]> = got.iter().map(|f| &f[..]).collect();
    assert_eq!(got_frames, want.frames, "frames differ from the framing rules");
    match (&error, &want.error) {
        (None, None) => {
            assert_eq!(&buf[..], want.rest, "unfinished tail differs");
            let eof = decoder.decode_eof(&mut buf);
            if want.rest.is_empty() {
                assert_eq!(eof, Ok(None));
            } else {
                assert_eq!(
                    eof,
                    Err(FrameError::Truncated {
                        len: want.rest.len()
                    })
                );
            }
        }
        (Some(a), Some(b)) => assert!(same_error(a, b), "error {a:?}, the rules say {b:?}"),
        (a, b) => panic!("error {a:?}, the rules say {b:?}"),
    }

    // What was decoded encodes back into the same frames, except a frame ending in
    // `\r` (the decoder strips one before `\n`), which `encode` refuses: found by
    // this target, corpus/frame/crash-encode-trailing-cr.
    let mut again = FrameDecoder::new(max);
    for f in &got {
        let mut out = BytesMut::new();
        if f.ends_with(b"\r") {
            assert_eq!(
                mcpbench_netio::encode(f, max, &mut out),
                Err(mcpbench_netio::FrameError::TrailingCarriageReturn)
            );
            continue;
        }
        mcpbench_netio::encode(f, max, &mut out).expect("a decoded frame re-encodes");
        assert_eq!(again.decode(&mut out), Ok(Some(f.clone())), "{f:?} does not round-trip");
        assert!(out.is_empty());
    }
}

// ---------------------------------------------------------------------------
// jsonrpc

/// What `members` takes of `json`, serde_json reads as the same object (and a
/// plain literal among its values is exactly serde's string).
fn members_agree(json: &[u8]) {
    let Some(members) = mcpbench_netio::members(json) else {
        return;
    };
    // Raw values: a number out of f64 range is JSON, just not a `Value`.
    let serde: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_slice(json).expect("members took what serde refuses");
    assert_eq!(members.len(), serde.len(), "a member more or less than serde's");
    for (key, at) in members {
        let key = std::str::from_utf8(key).expect("a UTF-8 key");
        let raw = &json[at];
        let theirs = serde.get(key).expect("a key serde does not have");
        let (Ok(value), Ok(their_value)) = (
            serde_json::from_slice::<serde_json::Value>(raw),
            serde_json::from_str::<serde_json::Value>(theirs.get()),
        ) else {
            continue;
        };
        assert_eq!(value, their_value, "member {key:?} differs");
        if let Some(plain) = mcpbench_netio::plain_literal(raw) {
            assert_eq!(std::str::from_utf8(plain).ok(), value.as_str());
        }
    }
}

/// `Message::parse`, the envelope check both transports run on every incoming
/// message (netio's TCP server on each frame, the server's HTTP `POST` on the
/// body). Asserts: kind, id and method agree with each other and with the JSON
/// itself (read again as a `serde_json::Value`); nothing nested past
/// `MAX_DEPTH` is accepted; an error's reply is a JSON-RPC error response with
/// the right code and the id it can carry; what `members` takes of the message
/// and of its params, serde_json reads the same.
pub fn jsonrpc(data: &[u8]) {
    let frame = Bytes::copy_from_slice(data);
    // The fast scan and serde_json alone reach the same verdict on everything.
    match (
        Message::parse(frame.clone()),
        Message::parse_serde(frame.clone()),
    ) {
        (Ok(fast), Ok(serde)) => assert_eq!(
            (fast.kind(), fast.id(), fast.method()),
            (serde.kind(), serde.id(), serde.method()),
            "the fast path and serde_json read different envelopes"
        ),
        (Err(fast), Err(serde)) => assert_eq!(fast.reply(), serde.reply()),
        (fast, serde) => panic!("the fast path says {fast:?}, serde_json {serde:?}"),
    }
    match Message::parse(frame.clone()) {
        Ok(msg) => {
            assert_eq!(msg.frame(), &frame);
            assert_eq!(
                mcpbench_netio::deeper_than(data, mcpbench_netio::MAX_DEPTH),
                None,
                "a message nested past the limit was accepted"
            );
            let method = msg.method();
            match msg.kind() {
                MessageKind::Request => assert!(msg.id().is_some() && method.is_some()),
                MessageKind::Notification => assert!(msg.id().is_none() && method.is_some()),
                MessageKind::Response => assert!(method.is_none()),
            }
            // `params`, `result` and `error` are skipped, not read into values: a
            // number out of `f64` range there passes; then there is no `Value`.
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
                return;
            };
            let object = value.as_object().expect("a message is an object");
            assert_eq!(object.get("jsonrpc").and_then(|v| v.as_str()), Some("2.0"));
            assert_eq!(
                method,
                object.get("method").and_then(|v| v.as_str()),
                "method differs from the JSON's"
            );
            let id = object.get("id");
            match msg.id() {
                Some(RequestId::Number(n)) => assert_eq!(id.and_then(|v| v.as_i64()), Some(*n)),
                Some(RequestId::String(s)) => assert_eq!(id.and_then(|v| v.as_str()), Some(&**s)),
                None => assert!(id.is_none_or(|v| v.is_null())),
            }
            // Echoing the id into a reply, as the server does, makes valid JSON.
            let reply = mcpbench_netio::error_response(msg.id(), -32601, "x");
            let reply: serde_json::Value = serde_json::from_slice(&reply).expect("reply is JSON");
            match msg.id() {
                Some(id) => assert_eq!(reply["id"], serde_json::to_value(id).unwrap()),
                None => assert!(reply["id"].is_null()),
            }
            // What the scan says `params` is, is the JSON's `params`; what
            // `members` takes of it (and of the whole message), serde reads
            // the same.
            if let Some(params) = msg.scanned_params() {
                let text: serde_json::Value =
                    serde_json::from_slice(&params).expect("scanned params are JSON");
                assert_eq!(Some(&text), object.get("params"), "params differ");
                members_agree(&params);
            }
            members_agree(data);
            let _ = msg.into_frame();
        }
        Err(e) => {
            let reply: serde_json::Value =
                serde_json::from_slice(&e.reply()).expect("an error reply is JSON");
            assert_eq!(reply["jsonrpc"], "2.0");
            assert_eq!(reply["error"]["code"], e.code());
            match &e {
                ProtocolError::Parse(_) => {
                    assert_eq!(e.code(), mcpbench_netio::codes::PARSE_ERROR);
                    assert!(reply["id"].is_null());
                    // Valid JSON is a parse error only when nested past the
                    // limit (which serde_json's own, 128, may not reach).
                    assert!(
                        serde_json::from_slice::<serde_json::Value>(data).is_err()
                            || mcpbench_netio::deeper_than(data, mcpbench_netio::MAX_DEPTH)
                                .is_some(),
                        "a parse error on valid JSON within the nesting limit"
                    );
                }
                ProtocolError::InvalidRequest { id, .. } => {
                    assert_eq!(e.code(), mcpbench_netio::codes::INVALID_REQUEST);
                    match id {
                        Some(id) => assert_eq!(reply["id"], serde_json::to_value(id).unwrap()),
                        None => assert!(reply["id"].is_null()),
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// http_request

/// What a test can compare of a request.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    method: Method,
    path: String,
    headers: Vec<(String, Option<String>)>,
    body: Bytes,
    keep_alive: bool,
}

const NAMES: [&str; 8] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "mcp-session-id",
    "mcp-protocol-version",
    "accept",
    "content-type",
];

/// Checks one request against the limits and reads everything a server reads of it.
fn check_request(r: &Request, limits: HttpLimits) -> Seen {
    let body = r.body().clone();
    assert!(
        body.len() <= limits.max_body,
        "body of {} over the limit {}",
        body.len(),
        limits.max_body
    );
    // `headers`, as the decoder reads framing: `header` is only the first field of
    // the name, `None` when that one is not UTF-8 even if a later one is.
    let chunked = r.headers("transfer-encoding").next().is_some();
    if !chunked {
        let length: u64 = r
            .headers("content-length")
            .flat_map(|v| v.split(','))
            .next()
            .map(|v| v.trim().parse().expect("an accepted content-length is a number"))
            .unwrap_or(0);
        assert_eq!(body.len() as u64, length, "body length is not Content-Length");
    } else {
        assert_eq!(r.headers("content-length").count(), 0, "chunked with a length");
    }
    let path = r.path().to_string();
    assert!(!path.contains('?'), "path with its query: {path:?}");
    let headers = NAMES
        .iter()
        .map(|n| (n.to_string(), r.header(n).map(str::to_string)))
        .collect();
    let _ = mcpbench_netio::http::accepts(r.header("accept"));
    if let Some(id) = r.header("mcp-session-id") {
        session_text(id);
    }
    Seen {
        method: r.method(),
        path,
        headers,
        body,
        keep_alive: r.keep_alive(),
    }
}

/// Decodes `input` cut into reads of `size`: the requests, then the error that
/// ended it (if any) and whether the end of the stream is clean.
fn decode_http(
    input: &[u8],
    size: usize,
    limits: HttpLimits,
) -> (Vec<Seen>, Option<HttpError>, bool) {
    let mut decoder = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    for read in reads(input, size) {
        buf.extend_from_slice(read);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Decoded::Request(r)) => seen.push(check_request(&r, limits)),
                Ok(Decoded::NeedMore { .. }) => break,
                Err(e) => {
                    assert!(matches!(e.status(), 400 | 413 | 431 | 501));
                    let _ = e.to_string();
                    return (seen, Some(e), false);
                }
            }
        }
    }
    let clean = decoder.decode_eof(&buf).is_ok();
    assert_eq!(clean, !decoder.in_request(&buf));
    (seen, None, clean)
}

/// `RequestDecoder` over arbitrary bytes. Byte 0: read size (0 = all at once);
/// byte 1: the limits (255 = the defaults, else a head of 16 + 8 * b bytes and a
/// body of 4 * b); the rest: the stream.
///
/// Asserts: no panic; every body within the limit and of its `Content-Length`;
/// the requests read in those reads are those read from the whole stream at once
/// up to where one of the two stopped at an error, and the same when neither did.
pub fn http_request(data: &[u8]) {
    let [split, limit, input @ ..] = data else {
        return;
    };
    let limits = match *limit {
        255 => HttpLimits::default(),
        b => HttpLimits {
            max_head: 16 + 8 * usize::from(b),
            max_body: 4 * usize::from(b),
        },
    };
    let (cut, cut_error, cut_clean) = decode_http(input, usize::from(*split), limits);
    let (whole, whole_error, whole_clean) = decode_http(input, 0, limits);
    let n = cut.len().min(whole.len());
    assert_eq!(cut[..n], whole[..n], "the reads changed a request");
    if cut_error.is_none() && whole_error.is_none() {
        assert_eq!(cut.len(), whole.len(), "the reads changed how many requests");
        assert_eq!(cut_clean, whole_clean, "the reads changed where the stream ended");
    }
    if cut.len() < whole.len() {
        assert!(cut_error.is_some(), "fewer requests in reads without an error");
    }
    if whole.len() < cut.len() {
        assert!(whole_error.is_some(), "fewer requests at once without an error");
    }
}

// ---------------------------------------------------------------------------
// session_id

/// `Mcp-Session-Id` as the server's HTTP transport reads it:
/// `request.header("mcp-session-id")` then `.parse::<SessionId>()`
/// (`McpHttp::session` in crates/server/src/http.rs). Asserts an id is accepted
/// exactly when it is 32 lowercase hex digits, and displays as it was written.
fn session_text(text: &str) {
    let model = text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match text.parse::<SessionId>() {
        Ok(id) => {
            assert!(model, "accepted {text:?}");
            assert_eq!(id.to_string(), text);
            assert_eq!(SessionId::parse(&id.to_string()), Ok(id));
            let _ = format!("{id:?}");
        }
        Err(e) => {
            assert!(!model, "refused {text:?}: {e}");
            let _ = e.to_string();
        }
    }
}

/// The raw bytes as a header value in a real request, decoded by netio's HTTP
/// decoder, then parsed as the server does; and, when UTF-8, parsed directly.
pub fn session_id(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        session_text(text);
    }
    let mut head = b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nMcp-Session-Id: ".to_vec();
    head.extend_from_slice(data);
    head.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let mut buf = BytesMut::from(&head[..]);
    let mut decoder = RequestDecoder::new(HttpLimits::default());
    if let Ok(Decoded::Request(r)) = decoder.decode(&mut buf) {
        // An id the server accepted must be the one sent (up to the spaces the
        // header trims).
        if let Some(text) = r.header("mcp-session-id") {
            session_text(text);
            if let Ok(id) = text.parse::<SessionId>()
                && !data.contains(&b'\r')
                && !data.contains(&b'\n')
            {
                let sent = std::str::from_utf8(data).expect("an accepted id was UTF-8");
                assert_eq!(sent.trim(), id.to_string());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// report_files

/// Parses `text` as `T`; when it reads, writes it back and reads that again (a
/// file this version writes, this version reads).
fn parse_as<T>(text: &str) -> Option<T>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    match mcpbench_files::parse::<T>(text, "fuzz") {
        Ok(v) => {
            let written = serde_json::to_string(&v).expect("a file serializes");
            if let Err(e) = mcpbench_files::parse::<T>(&written, "rewritten") {
                panic!("{} written as {written} does not read back: {e}", std::any::type_name::<T>());
            }
            Some(v)
        }
        Err(e) => {
            let _ = e.to_string();
            None
        }
    }
}

/// Every file type of `mcpbench-files` (and what its readers compute from it) on
/// any UTF-8 text: never a panic; what reads writes back readable.
pub fn report_files(data: &[u8]) {
    use mcpbench_files::{
        ConnectionsFile, ServerStats, baseline::Baseline, bench, compare, env::Environment,
        instructions::InstructionsFile, latency::LatencyFile, noise::NoiseFile,
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(f) = parse_as::<ConnectionsFile>(text) {
        let _ = f.check();
        let _ = f.all_answered();
    }
    if let Some(f) = parse_as::<compare::CompareFile>(text) {
        let _ = f.check();
        let _ = mcpbench_tables::compare(&f);
    }
    if let Some(f) = parse_as::<mcpbench_files::capacity::CapacityFile>(text) {
        let _ = mcpbench_tables::capacity(&f);
        let _ = f.vs_bare("mcpbench");
    }
    if let Some(f) = parse_as::<Baseline>(text) {
        let _ = f.check();
        for m in f.benches.values() {
            let _ = (m.per_second(), m.per_second_ci());
        }
        for c in f.instructions.values() {
            let _ = c.per_op();
        }
    }
    if let Some(f) = parse_as::<NoiseFile>(text) {
        let _ = f.check();
        for id in f.benches.keys() {
            let _ = f.unstable(id);
        }
        let _ = f.unstable("");
    }
    if let Some(f) = parse_as::<InstructionsFile>(text) {
        for c in f.counts.values() {
            let _ = c.per_op();
        }
    }
    let _ = parse_as::<LatencyFile>(text);
    let _ = parse_as::<bench::MemoryFile>(text);
    let _ = parse_as::<bench::SustainedFile>(text);
    let _ = parse_as::<Environment>(text);
    let _ = parse_as::<ServerStats>(text);
}

//! Tests of the HTTP/1.1 request decoder and response writer.

use super::*;

fn decode_all(input: &[u8], limits: HttpLimits) -> Result<Vec<Request>, HttpError> {
    let mut d = RequestDecoder::new(limits);
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    while let Decoded::Request(r) = d.decode(&mut buf)? {
        out.push(r);
    }
    Ok(out)
}

#[test]
fn content_length_bodies_and_pipelined_requests_are_split_exactly() {
    let input = b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nMcp-Session-Id: abc\r\n\r\nhelloGET /mcp?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n";
    let got = decode_all(input, HttpLimits::default()).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].method(), Method::Post);
    assert_eq!(got[0].path(), "/mcp");
    assert_eq!(got[0].header("mcp-session-id"), Some("abc"));
    assert_eq!(got[0].header("MCP-SESSION-ID"), Some("abc"));
    assert_eq!(&got[0].body()[..], b"hello");
    assert!(got[0].keep_alive());
    assert_eq!(got[1].method(), Method::Get);
    assert_eq!(got[1].path(), "/mcp");
    assert!(!got[1].keep_alive());
}

#[test]
fn a_request_split_at_every_byte_decodes_the_same() {
    let input: &[u8] = b"POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: t\r\n\r\n";
    for cut in 1..input.len() {
        let mut d = RequestDecoder::new(HttpLimits::default());
        let mut buf = BytesMut::from(&input[..cut]);
        assert!(
            matches!(d.decode(&mut buf), Ok(Decoded::NeedMore { .. })),
            "cut at {cut}"
        );
        buf.extend_from_slice(&input[cut..]);
        match d.decode(&mut buf) {
            Ok(Decoded::Request(r)) => assert_eq!(&r.body()[..], b"abcdefg", "cut {cut}"),
            other => panic!("cut at {cut}: {other:?}"),
        }
        assert!(buf.is_empty());
    }
}

#[test]
fn oversized_and_malformed_requests_are_refused_with_their_status() {
    let small = HttpLimits {
        max_head: 80,
        max_body: 8,
    };
    let cases: [(&[u8], u16); 7] = [
        (b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n", 413),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 431),
    ];
    for (input, status) in cases {
        let e = decode_all(input, small).unwrap_err();
        assert_eq!(
            e.status(),
            status,
            "{}: {e}",
            String::from_utf8_lossy(input)
        );
    }
    let e = decode_all(b"NOT A REQUEST\r\n\r\n", small).unwrap_err();
    assert_eq!(e.status(), 400);
    // Trailer bytes that never end their line are refused, not buffered.
    let mut endless = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ".to_vec();
    endless.extend(std::iter::repeat_n(b'a', 9 * 1024));
    let e = decode_all(&endless, HttpLimits::default()).unwrap_err();
    assert_eq!(e, HttpError::BadChunk("trailer line too long"));
}

#[test]
fn expect_continue_is_signalled_once_before_the_body() {
    let mut d = RequestDecoder::new(HttpLimits::default());
    let mut buf = BytesMut::from(
        &b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"[..],
    );
    assert!(matches!(
        d.decode(&mut buf),
        Ok(Decoded::NeedMore {
            send_continue: true
        })
    ));
    assert!(matches!(
        d.decode(&mut buf),
        Ok(Decoded::NeedMore {
            send_continue: false
        })
    ));
    buf.extend_from_slice(b"{}");
    assert!(matches!(d.decode(&mut buf), Ok(Decoded::Request(_))));
}

#[test]
fn a_cut_request_is_an_error_at_eof_and_a_finished_one_is_not() {
    let mut d = RequestDecoder::new(HttpLimits::default());
    let mut buf = BytesMut::from(&b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab"[..]);
    assert!(matches!(d.decode(&mut buf), Ok(Decoded::NeedMore { .. })));
    assert_eq!(d.decode_eof(&buf), Err(HttpError::Truncated(2)));
    buf.extend_from_slice(b"cd");
    assert!(matches!(d.decode(&mut buf), Ok(Decoded::Request(_))));
    assert_eq!(d.decode_eof(&buf), Ok(()));
}

#[test]
fn responses_carry_length_type_and_sse_framing() {
    let mut out = BytesMut::new();
    Response::event(200, Bytes::from_static(b"{\"id\":1}"))
        .with_header("mcp-session-id", "s1")
        .encode(true, &mut out);
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("content-type: text/event-stream\r\n"));
    assert!(text.contains("mcp-session-id: s1\r\n"));
    let body = "event: message\ndata: {\"id\":1}\n\n";
    assert!(text.ends_with(&format!("content-length: {}\r\n\r\n{body}", body.len())));
    let mut out = BytesMut::new();
    Response::empty(202).encode(false, &mut out);
    assert_eq!(
        &out[..],
        b"HTTP/1.1 202 Accepted\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    );
}

#[test]
fn accept_headers_choose_json_events_both_or_neither() {
    assert_eq!(accepts(None), (true, true));
    assert_eq!(
        accepts(Some("application/json, text/event-stream")),
        (true, true)
    );
    assert_eq!(accepts(Some("text/event-stream")), (false, true));
    assert_eq!(accepts(Some("application/json;q=0.9")), (true, false));
    assert_eq!(accepts(Some("application/json;q=0, text/*")), (false, true));
    assert_eq!(accepts(Some("text/html")), (false, false));
    assert_eq!(accepts(Some("*/*")), (true, true));
}

#[test]
fn framing_fields_that_are_not_ascii_are_refused_not_skipped() {
    // Found by fuzzing: these used to be read as bodiless requests, leaving the
    // body to be parsed as the next request.
    for head in [
        &b"POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\xff\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
        &b"POST /mcp HTTP/1.1\r\nContent-Length: 5\xff\r\n\r\nhello"[..],
    ] {
        match decode_all(head, HttpLimits::default()) {
            Err(HttpError::BadFraming(why)) => assert!(why.contains("not ASCII"), "{why}"),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(head)),
        }
    }
}

//! The HTTP/1.1 ceiling below hyper: a plain tokio loop per connection that does
//! what netio's HTTP loop must do and nothing more. It parses each request head
//! with `httparse` (as netio does), takes the body by `Content-Length` without
//! reading it, and answers every request with one pre-rendered response (status
//! line, content-type, content-length, the body), every answer to what one read
//! brought written at once. No deadlines, no limits, no chunked bodies, no
//! header map: hyper is a general server and netio's loop beat it
//! (`netio/http_16conns`, 1.10x on 2026-12-05), so hyper is not the limit of what
//! netio does; this is.

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Header fields parsed per request (netio's limit is larger; a request here has
/// a handful).
const MAX_HEADERS: usize = 32;

/// A running ceiling server; aborted when dropped.
pub struct HttparseServer {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl HttparseServer {
    /// Binds loopback and answers every request with a `200` carrying `body` as
    /// `application/json`. Call inside a tokio runtime.
    pub async fn start(body: &[u8]) -> io::Result<HttparseServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let response = Bytes::from(response(body));
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, response.clone()));
            }
        });
        Ok(HttparseServer { addr, accept })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttparseServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The one response, rendered once.
fn response(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// What the front of `buf` holds.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A whole request (head and body) of this many bytes.
    Request(usize),
    /// Not all of it yet.
    Partial,
    /// Not HTTP/1.1 this loop can answer: the connection is closed.
    Invalid,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let head = match request.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid,
    };
    let length = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| {
            std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
        });
    match length.map(|l| l.and_then(|l| head.checked_add(l))) {
        None => Parsed::Request(head),
        Some(Some(whole)) if buf.len() >= whole => Parsed::Request(whole),
        Some(Some(_)) => Parsed::Partial,
        Some(None) => Parsed::Invalid,
    }
}

async fn serve(mut stream: TcpStream, response: Bytes) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut out = Vec::with_capacity(response.len());
    loop {
        loop {
            match parse(&buf) {
                Parsed::Request(n) => {
                    buf.advance(n);
                    out.extend_from_slice(&response);
                }
                Parsed::Partial => break,
                Parsed::Invalid => return,
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_whole_only_with_its_body() {
        let head = b"POST /mcp HTTP/1.1\r\nhost: x\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(parse(head), Parsed::Partial);
        let whole = [&head[..], b"abcd"].concat();
        assert_eq!(parse(&whole), Parsed::Request(whole.len()));
        let two = [&whole[..], &whole[..10]].concat();
        assert_eq!(parse(&two), Parsed::Request(whole.len()));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Parsed::Request(18));
        assert_eq!(parse(b"\x01\x02 nonsense\r\n\r\n"), Parsed::Invalid);
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\ncontent-length: x\r\n\r\n"),
            Parsed::Invalid
        );
    }

    #[test]
    fn pipelined_requests_get_one_answer_each() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let server = HttparseServer::start(b"{\"ok\":true}").await.expect("bind");
            let mut conn = TcpStream::connect(server.local_addr())
                .await
                .expect("connect");
            let one = b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
            conn.write_all(&[&one[..], &one[..], &one[..]].concat())
                .await
                .expect("write");
            let want = response(b"{\"ok\":true}").repeat(3);
            let mut got = vec![0u8; want.len()];
            conn.read_exact(&mut got).await.expect("three answers");
            assert_eq!(got, want);
        });
    }
}

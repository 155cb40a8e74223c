//! A minimal HTTP/1.1 keep-alive client for the benches: fixed request bytes out,
//! one response in (head by `httparse`, body by `Content-Length`). The servers it
//! measures (netio's HTTP loop, hyper, mcpbench-server) differ in their headers, so
//! the client parses rather than expecting exact bytes; it is the same for every
//! server in a group, so its cost is the same on both sides of a ratio.

use std::io;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection.
pub struct HttpConn {
    stream: TcpStream,
    buf: BytesMut,
}

/// `POST path` with `headers` and a JSON `body`, as bytes to send.
pub fn post(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        r.push_str(&format!("{name}: {value}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl HttpConn {
    /// Connects (with `TCP_NODELAY`).
    pub async fn connect(addr: SocketAddr) -> io::Result<HttpConn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConn {
            stream,
            buf: BytesMut::with_capacity(16 * 1024),
        })
    }

    /// Sends `request` and reads its response: the status, the named header (if
    /// asked for and present) and the body.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        header: Option<&str>,
    ) -> io::Result<(u16, Option<String>, Bytes)> {
        self.stream.write_all(request).await?;
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut fields);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(head)) => {
                    let status = response.code.unwrap_or(0);
                    let value = |name: &str| {
                        response
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).into_owned())
                    };
                    let len: usize = value("content-length")
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| io::Error::other("response without content-length"))?;
                    let wanted = header.and_then(value);
                    while self.buf.len() < head + len {
                        self.read_more().await?;
                    }
                    let _ = self.buf.split_to(head);
                    return Ok((status, wanted, self.buf.split_to(len).freeze()));
                }
                Ok(httparse::Status::Partial) => self.read_more().await?,
                Err(e) => return Err(io::Error::other(format!("bad response: {e}"))),
            }
        }
    }

    async fn read_more(&mut self) -> io::Result<()> {
        self.buf.reserve(16 * 1024);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

//! The ceiling beside the MCP server: the same port sharing and the same reply
//! bytes, with nothing of MCP, JSON-RPC or the components in between.
//!
//! Each connection is a plain tokio loop: read, count the request lines (a line
//! with an `"id"` member gets a reply, a notification none), write that many copies
//! of the `text` tool's reply (id 0), repeat. The load harness runs it with
//! `--server bare`, so a run against `mcpbench-server` can be set beside what
//! tokio and this machine's loopback TCP do with the same connections and bytes.
//! It is a throughput ceiling only: it keeps its buffers for a connection's life
//! (about 21 KiB each), so its memory figures are not a yardstick for anything.

use std::io;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use mcpbench_netio::RequestId;

use crate::protocol::result_raw;
use crate::tools::{result_text, text_content};

/// A running bare server; dropping it stops accepting (open connections end with
/// the runtime).
pub struct BareServer {
    local_addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl BareServer {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The reply line the bare server sends: what `mcpbench-server`'s `text` tool
/// answers for `result_size` bytes (with id 0), and its newline.
pub fn reply_line(result_size: usize) -> Bytes {
    let mut line = result_raw(
        &RequestId::Number(0),
        &text_content(&result_text(result_size), false),
    )
    .to_vec();
    line.push(b'\n');
    Bytes::from(line)
}

/// Starts a bare server on `addr` (`SO_REUSEPORT` when `reuse_port`). Call from a
/// tokio runtime.
pub fn start_bare(
    addr: SocketAddr,
    reuse_port: bool,
    result_size: usize,
) -> io::Result<BareServer> {
    let listener = mcpbench_netio::listen(addr, reuse_port)?;
    let local_addr = listener.local_addr()?;
    let reply = reply_line(result_size);
    let accept = tokio::spawn(accept_loop(listener, reply));
    Ok(BareServer { local_addr, accept })
}

async fn accept_loop(listener: TcpListener, reply: Bytes) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, reply.clone()));
            }
            // Out of descriptors, say: back off rather than spin.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

/// Longest line kept waiting for its newline; a longer one closes the connection.
const MAX_LINE: usize = mcpbench_netio::DEFAULT_MAX_FRAME_LEN;

/// One connection until the peer closes it, an I/O error, or a line longer than
/// [`MAX_LINE`].
async fn serve(mut stream: TcpStream, reply: Bytes) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut inbuf = BytesMut::new();
    let mut outbuf = BytesMut::new();
    loop {
        inbuf.reserve(16 * 1024);
        if stream.read_buf(&mut inbuf).await? == 0 {
            return Ok(());
        }
        while let Some(end) = memchr::memchr(b'\n', &inbuf) {
            let line = inbuf.split_to(end + 1);
            if memchr::memmem::find(&line, b"\"id\"").is_some() {
                outbuf.extend_from_slice(&reply);
            }
        }
        if !outbuf.is_empty() {
            stream.write_all(&outbuf).await?;
            outbuf.clear();
        }
        if inbuf.len() > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "line longer than the maximum frame",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};

    #[tokio::test]
    async fn answers_each_request_line_once_and_notifications_never() {
        let server = start_bare("127.0.0.1:0".parse().unwrap(), false, 100).unwrap();
        let stream = TcpStream::connect(server.local_addr()).await.unwrap();
        let (read, mut write) = stream.into_split();
        write
            .write_all(
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\
                  {\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n\
                  {\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\"}\n",
            )
            .await
            .unwrap();
        write.shutdown().await.unwrap();
        let mut lines = BufReader::new(read).lines();
        let mut replies = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            replies.push(line);
        }
        assert_eq!(
            replies.len(),
            2,
            "one reply per request, none for the notification"
        );
        let r: serde_json::Value = serde_json::from_str(&replies[0]).unwrap();
        assert_eq!(
            r["result"]["content"][0]["text"].as_str().unwrap().len(),
            100
        );
        assert_eq!(format!("{}\n", replies[1]).as_bytes(), &reply_line(100)[..]);
    }

    #[tokio::test]
    async fn a_line_without_end_closes_the_connection() {
        let server = start_bare("127.0.0.1:0".parse().unwrap(), false, 100).unwrap();
        let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        // The server closes once it holds more than MAX_LINE bytes without a newline;
        // writing then fails (reset) or reading sees the end.
        while sent <= MAX_LINE + chunk.len() {
            if stream.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut rest),
        )
        .await
        .expect("the server closed the connection");
        assert!(
            read.is_err() || rest.is_empty(),
            "no reply to a runaway line"
        );
    }
}

//! The HTTP ceiling beside the MCP server's HTTP transport: a plain hyper 1.x
//! HTTP/1.1 service (keep-alive, the same `SO_REUSEPORT` listener) that reads each
//! request's body and answers it with the same bytes `mcpbench-server`'s `text`
//! tool answers (id 0, `application/json`, a fixed `mcp-session-id`), parsing
//! nothing. `scripts/load ... --transport http --server bare` runs it, so a load on
//! the MCP server can be set beside what hyper, tokio and this machine's loopback
//! do with the same connections and bytes. Hyper keeps its read and write buffers
//! for a connection's life, so its memory per connection is the figure the
//! MCP transport (netio's own HTTP/1.1 loop) is measured against.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use mcpbench_netio::RequestId;

use super::bare_listen::{Fanout, SharedFanout};
use crate::protocol::result_raw;
use crate::tools::{result_text, text_content};

/// The session id the bare server hands every client (it keeps no session).
pub const BARE_SESSION_ID: &str = "00000000000000000000000000000000";

/// A running bare HTTP server; dropping it stops accepting.
pub struct BareHttpServer {
    local_addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl BareHttpServer {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for BareHttpServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The body every request gets: the `text` tool's reply for `result_size` bytes.
pub fn reply_body(result_size: usize) -> Bytes {
    result_raw(
        &RequestId::Number(0),
        &text_content(&result_text(result_size), false),
    )
}

/// Starts the bare HTTP server on `addr` (`SO_REUSEPORT` when `reuse_port`). Call
/// from a tokio runtime.
pub fn start_bare_http(
    addr: SocketAddr,
    reuse_port: bool,
    result_size: usize,
) -> io::Result<BareHttpServer> {
    let listener = mcpbench_netio::listen(addr, reuse_port)?;
    let local_addr = listener.local_addr()?;
    let fanout = std::sync::Arc::new(Fanout::new(crate::Settings::default().listen_queue));
    let accept = tokio::spawn(accept_loop(listener, reply_body(result_size), fanout));
    Ok(BareHttpServer { local_addr, accept })
}

async fn accept_loop(listener: TcpListener, reply: Bytes, fanout: SharedFanout) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let (reply, fanout) = (reply.clone(), fanout.clone());
                tokio::spawn(async move {
                    let service = service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let (reply, fanout) = (reply.clone(), fanout.clone());
                            async move { Ok::<_, Infallible>(answer(request, reply, &fanout).await) }
                        },
                    );
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Out of descriptors, say: back off rather than spin.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

type BareBody = Either<Full<Bytes>, super::bare_listen::ListenBody>;

/// The fixed reply, or (by `Mcp-Method` / `Mcp-Name` alone) a held stream or a
/// published update.
async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
    reply: Bytes,
    fanout: &Fanout,
) -> hyper::Response<BareBody> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default()
    };
    let (method, name) = (header("mcp-method"), header("mcp-name"));
    // Read the body whole, so keep-alive goes on.
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if method == b"subscriptions/listen" {
        return hyper::Response::builder()
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(Either::Right(fanout.listen(&body)))
            .unwrap_or_else(|_| hyper::Response::new(Either::Left(Full::default())));
    }
    if method == b"tools/call" && name == b"touch" {
        fanout.touch(&body);
    }
    hyper::Response::builder()
        .header("content-type", "application/json")
        .header("mcp-session-id", BARE_SESSION_ID)
        .body(Either::Left(Full::new(reply)))
        .unwrap_or_else(|_| hyper::Response::new(Either::Left(Full::default())))
}

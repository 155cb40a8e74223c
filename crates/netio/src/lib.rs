#![forbid(unsafe_code)]
//! MCP message I/O over TCP: newline-delimited JSON-RPC 2.0 on `bytes` and `tokio`.
//!
//! - [`FrameDecoder`] / [`encode`]: the framing. One UTF-8 JSON value per line,
//!   `\r\n` tolerated, a maximum frame length; frames are `Bytes` views of the
//!   receive buffer (zero-copy), reassembled however the stream was split.
//! - [`Message`]: the JSON-RPC envelope check (request, notification, response;
//!   id and method), with the error replies the JSON-RPC spec prescribes.
//! - [`Server`]: accept loop, one task per connection, a [`Handler`] that takes a
//!   message and returns an optional reply, replies to one read coalesced into one
//!   write, and graceful shutdown. A connection that sends an over-long line,
//!   invalid UTF-8 or something that is not JSON-RPC gets an error reply where
//!   JSON-RPC defines one and is closed, with a [`CloseReason`]; no other
//!   connection notices.
//! - [`Client`]: the other end.
//! - [`http`] and [`Server::serve_http`]: HTTP/1.1 with keep-alive on the same
//!   accept loop and buffer discipline (MCP's Streamable HTTP transport is built on
//!   it in `mcpbench-server`): requests read with `httparse`, bodies by
//!   `Content-Length` or chunked, responses as JSON or server-sent events, an
//!   [`HttpHandler`] per request.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use mcpbench_netio::{Client, Conn, Handler, Message, Server, ServerConfig};
//!
//! /// Answers every request with an empty result.
//! struct Empty;
//! impl Handler for Empty {
//!     async fn handle(&self, msg: Message, _conn: &Conn) -> Option<Bytes> {
//!         let id = msg.id()?;
//!         Some(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#).into())
//!     }
//! }
//!
//! let server = Server::bind("127.0.0.1:0", Arc::new(Empty), ServerConfig::default()).await?;
//! let mut client = Client::connect(server.local_addr()).await?;
//! let reply = client.call(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).await?;
//! assert_eq!(&reply[..], br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
//!
//! // Not JSON: a parse error reply, then this connection (only) is closed.
//! let reply = client.call(b"hello").await?;
//! assert!(reply.starts_with(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700"#));
//! assert!(client.recv().await?.is_none());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

// Leaves first, the accept loop on top: config, codec, jsonrpc, guard, http (the
// HTTP/1.1 parser) <- conn, write, io <- line, http_server <- server.
mod client;
mod codec;
mod config;
mod conn;
mod envelope;
mod guard;
pub mod http;
mod http_server;
mod io;
mod jsonrpc;
mod line;
mod server;
mod spare;
mod write;

pub use client::{Client, ClientError};
pub use codec::{DEFAULT_MAX_FRAME_LEN, FrameDecoder, FrameError, encode};
pub use config::{CloseReason, IoStrategy, ServerConfig};
pub use conn::{Conn, Handler};
pub use envelope::{members, plain_literal};
pub use guard::{Deadline, Guards};
pub use http_server::{HttpConfig, HttpHandler};
pub use jsonrpc::{
    MAX_DEPTH, Message, MessageKind, ProtocolError, RequestId, codes, deeper_than, error_response,
};
pub use server::{BACKLOG, Server, ServerStats, StatsHandle, listen};

//! A client for newline-delimited JSON-RPC over TCP.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::codec::{DEFAULT_MAX_FRAME_LEN, FrameDecoder, FrameError, encode};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The server's bytes broke the framing rules, or a message to send did.
    #[error("framing error: {0}")]
    Frame(#[from] FrameError),
    /// The server closed the connection before answering.
    #[error("server closed the connection")]
    Closed,
}

/// One connection to an MCP server. Messages are queued with [`send`](Client::send)
/// and go out together on [`flush`](Client::flush); replies come back one by one
/// from [`recv`](Client::recv).
pub struct Client {
    stream: TcpStream,
    decoder: FrameDecoder,
    inbuf: BytesMut,
    outbuf: BytesMut,
}

impl Client {
    /// Connects with `TCP_NODELAY` and the default maximum frame length.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client::from_stream(stream, DEFAULT_MAX_FRAME_LEN))
    }

    /// Wraps a connected stream, accepting frames up to `max_frame_len`.
    pub fn from_stream(stream: TcpStream, max_frame_len: usize) -> Client {
        Client {
            stream,
            decoder: FrameDecoder::new(max_frame_len),
            inbuf: BytesMut::new(),
            outbuf: BytesMut::new(),
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Queues one message (a JSON value without a newline) for the next flush.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), FrameError> {
        encode(msg, self.decoder.max_len(), &mut self.outbuf)
    }

    /// Writes every queued message in one write.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.outbuf.is_empty() {
            self.stream.write_all(&self.outbuf).await?;
            self.outbuf.clear();
        }
        Ok(())
    }

    /// The next message from the server; `Ok(None)` when it closed cleanly.
    pub async fn recv(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.inbuf)? {
                return Ok(Some(frame));
            }
            self.inbuf.reserve(16 * 1024);
            if self.stream.read_buf(&mut self.inbuf).await? == 0 {
                return Ok(self.decoder.decode_eof(&mut self.inbuf)?);
            }
        }
    }

    /// Sends one message and waits for the next message back.
    pub async fn call(&mut self, msg: &[u8]) -> Result<Bytes, ClientError> {
        self.send(msg)?;
        self.flush().await?;
        self.recv().await?.ok_or(ClientError::Closed)
    }
}

//! The pieces every protocol's connection loop shares: the [`Protocol`] an
//! accept loop serves connections with, and one non-blocking read.

use std::future::Future;
use std::io;

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::config::CloseReason;
use crate::conn::Conn;

/// How the connections of one server are served: newline-delimited JSON-RPC
/// (`crate::line`) or HTTP (`crate::http_server`).
pub(crate) trait Protocol: Send + Sync + 'static {
    /// Serves one connection until it ends; says why it ended.
    fn serve(
        &self,
        stream: TcpStream,
        conn: &Conn,
        stop: &CancellationToken,
    ) -> impl Future<Output = CloseReason> + Send;

    /// Called once when a connection has ended.
    fn closed(&self, conn: &Conn, reason: &CloseReason);

    /// What a connection refused over [`crate::Guards::max_connections`] is sent before
    /// it is closed.
    fn refusal(&self) -> &'static [u8];
}

/// What one read got.
pub(crate) enum Read {
    /// The peer closed its sending half.
    Eof,
    /// Bytes; `drained` when the socket had fewer than the buffer's room (so it is
    /// empty now and its readiness was cleared: no second read to learn that).
    Some { drained: bool },
    /// Nothing: the readiness was stale.
    Nothing,
}

/// One non-blocking read into `buf`. A short read clears the socket's readiness
/// the way tokio's own `AsyncRead` does, saving the `EAGAIN` read per message that
/// `try_read_buf` alone needs. Safe against a lost wake-up: `try_io` clears only
/// the readiness it saw before the read, so data arriving during the read keeps
/// the socket ready.
pub(crate) fn read_some(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<Read> {
    let room = buf.capacity() - buf.len();
    let mut got = 0;
    let outcome = stream.try_io(Interest::READABLE, || {
        got = stream.try_read_buf(buf)?;
        if got > 0 && got < room {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(got)
        }
    });
    match outcome {
        Ok(0) => Ok(Read::Eof),
        Ok(_) => Ok(Read::Some { drained: false }),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => {
            Ok(Read::Some { drained: true })
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::Nothing),
        Err(e) => Err(e),
    }
}

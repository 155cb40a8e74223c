//! Writing a connection's replies: the outbox flushed in batches, each write
//! whole within its deadline, the drain at shutdown or half-close.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::codec::encode;
use crate::config::{CloseReason, IoStrategy};
use crate::conn::{Conn, Outbox};
use crate::guard::Deadline;

/// Sends what waits in the outbox plus a last error reply, best effort: the
/// connection is closing anyway.
pub(crate) async fn send_last(
    stream: &mut TcpStream,
    conn: &Conn,
    out: &mut BytesMut,
    last: Option<Bytes>,
    write: Option<Duration>,
) {
    if let Some(outbox) = conn.current_outbox() {
        while let Some(reply) = outbox.replies.try_pop() {
            let _ = encode(&reply, usize::MAX, out);
        }
    }
    if let Some(reply) = last {
        let _ = encode(&reply, usize::MAX, out);
    }
    let _ = write_out(stream, out, write).await;
}

/// Most replies framed into one write.
const WRITE_BATCH: usize = 256;

/// Writes every reply waiting in the outbox (`first` before them), as `strategy`
/// says: one write per [`WRITE_BATCH`] replies, or one per reply.
pub(crate) async fn flush_outbox(
    stream: &mut TcpStream,
    outbox: &Outbox,
    first: Option<Bytes>,
    out: &mut BytesMut,
    (strategy, write): (IoStrategy, Option<Duration>),
) -> Result<(), CloseReason> {
    let mut next = first;
    loop {
        let mut framed = 0;
        while framed < WRITE_BATCH {
            let Some(reply) = next.take().or_else(|| outbox.replies.try_pop()) else {
                break;
            };
            if !strategy.reuse_buffers && out.is_empty() {
                *out = BytesMut::new();
            } else if out.capacity() == 0 {
                *out = crate::spare::take(0);
            }
            if let Err(e) = encode(&reply, usize::MAX, out) {
                // Send the good replies before it, then close.
                let _ = write_out(stream, out, write).await;
                return Err(CloseReason::BadReply(e));
            }
            framed += 1;
            if !strategy.coalesce_writes {
                write_out(stream, out, write).await?;
            }
        }
        write_out(stream, out, write).await?;
        if framed < WRITE_BATCH {
            return Ok(());
        }
    }
}

/// Writes `out` whole and clears it (nothing when empty), within `deadline` (a
/// peer that does not read fails it).
///
/// What the socket takes at once is written without a timer; only a write that
/// would block waits, in a boxed future with its deadline. Inline, that future
/// (a `Timeout` holding a tokio `Sleep`) sized every connection's task: an idle
/// connection's heap carries the largest state of its task.
pub(crate) async fn write_out(
    stream: &mut TcpStream,
    out: &mut BytesMut,
    deadline: Option<Duration>,
) -> Result<(), CloseReason> {
    let mut written = 0;
    while written < out.len() {
        match stream.try_write(&out[written..]) {
            Ok(0) => return Err(CloseReason::Io(std::io::ErrorKind::WriteZero)),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                Box::pin(write_rest(stream, &out[written..], deadline)).await?;
                break;
            }
            Err(e) => return Err(CloseReason::Io(e.kind())),
        }
    }
    out.clear();
    Ok(())
}

/// The part of a write the socket did not take at once, within `deadline`.
async fn write_rest(
    stream: &mut TcpStream,
    rest: &[u8],
    deadline: Option<Duration>,
) -> Result<(), CloseReason> {
    let written = match deadline {
        Some(d) => tokio::time::timeout(d, stream.write_all(rest))
            .await
            .map_err(|_| CloseReason::Deadline(Deadline::Write))?,
        None => stream.write_all(rest).await,
    };
    written.map_err(|e| CloseReason::Io(e.kind()))
}

/// At shutdown or half-close: waits (up to `limit`) for every promised reply and
/// sends them; a write that would end past `limit` closes the connection instead
/// (nothing is cut: a reply is written whole or the connection closes).
pub(crate) async fn drain_outbox(
    stream: &mut TcpStream,
    conn: &Conn,
    out: &mut BytesMut,
    (strategy, write): (IoStrategy, Option<Duration>),
    limit: Duration,
) {
    let Some(outbox) = conn.current_outbox() else {
        return;
    };
    let deadline = tokio::time::Instant::now() + limit;
    let mut next = None;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let write = Some(write.map_or(left, |w| w.min(left)));
        if flush_outbox(stream, &outbox, next.take(), out, (strategy, write))
            .await
            .is_err()
        {
            return;
        }
        if outbox.promised.load(Ordering::SeqCst) == 0 && outbox.replies.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        // A promise dropped unsent wakes no one: look again every 10 ms.
        if let Ok(reply) =
            tokio::time::timeout(Duration::from_millis(10), outbox.replies.pop()).await
        {
            next = reply;
        }
    }
}

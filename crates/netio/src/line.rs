//! Newline-delimited JSON-RPC over one connection: frames read into one buffer,
//! each handed to the [`Handler`] as a [`Message`], replies to one read coalesced
//! into one write, errors answered where JSON-RPC defines a reply.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::codec::{FrameDecoder, FrameError};
use crate::config::{CloseReason, ServerConfig};
use crate::conn::{Conn, Handler};
use crate::guard::{Alarm, Timer, unarmed};
use crate::io::{Protocol, Read, read_some};
use crate::jsonrpc::{Message, codes, error_response};
use crate::spare;
use crate::write::{drain_outbox, flush_outbox, send_last};

/// Newline-delimited JSON-RPC: a [`Handler`] per message.
pub(crate) struct Lines<H> {
    pub(crate) handler: Arc<H>,
    pub(crate) config: ServerConfig,
}

impl<H: Handler> Protocol for Lines<H> {
    async fn serve(&self, stream: TcpStream, conn: &Conn, stop: &CancellationToken) -> CloseReason {
        serve_connection(stream, conn, &*self.handler, &self.config, stop).await
    }

    fn closed(&self, conn: &Conn, reason: &CloseReason) {
        if let Some(outbox) = conn.current_outbox() {
            // Late replies to a gone connection are dropped, not queued.
            outbox.replies.close();
        }
        self.handler.closed(conn, reason);
    }

    fn refusal(&self) -> &'static [u8] {
        b"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,\"message\":\"server at its connection limit\"}}\n"
    }
}

/// The reply for a frame error, where one is due.
fn frame_error_reply(e: &FrameError) -> Option<Bytes> {
    match e {
        FrameError::InvalidUtf8 { .. } => {
            Some(error_response(None, codes::PARSE_ERROR, &e.to_string()))
        }
        FrameError::TooLong { .. } => {
            Some(error_response(None, codes::INVALID_REQUEST, &e.to_string()))
        }
        FrameError::Truncated { .. }
        | FrameError::EmbeddedNewline { .. }
        | FrameError::TrailingCarriageReturn => None,
    }
}

async fn serve_connection<H: Handler>(
    mut stream: TcpStream,
    conn: &Conn,
    handler: &H,
    config: &ServerConfig,
    stop: &CancellationToken,
) -> CloseReason {
    let strategy = config.strategy;
    let guards = config.guards;
    let io = (strategy, guards.write);
    let mut decoder = FrameDecoder::new(config.max_frame_len);
    let mut inbuf = BytesMut::new();
    let mut outbuf = BytesMut::new();
    let mut timer = Timer::new();
    let (mut alarm, sleep) = (Alarm::default(), unarmed());
    tokio::pin!(sleep);
    loop {
        // Wait for input holding no buffer (see `IoStrategy::reuse_buffers`), or for
        // deferred replies to send, or for the next deadline.
        let outbox = conn.current_outbox();
        let deadline = timer.next(&guards, conn.is_established(), Conn::busy(outbox.as_ref()));
        alarm.arm(sleep.as_mut(), deadline);
        let deferred = async {
            match &outbox {
                Some(o) => o.replies.pop().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => {
                drain_outbox(&mut stream, conn, &mut outbuf, io, guards.shutdown).await;
                return CloseReason::Shutdown;
            }
            Some(reply) = deferred => {
                // `deferred` only yields when there is an outbox.
                if let Some(o) = &outbox
                    && let Err(reason) = flush_outbox(&mut stream, o, Some(reply), &mut outbuf, io).await
                {
                    return reason;
                }
                timer.activity();
                drop(outbox);
                // Nothing partly read: the reply buffer goes back too (a
                // connection that only receives notifications holds none).
                if inbuf.is_empty() {
                    release_buffers(strategy.reuse_buffers, &mut inbuf, &mut outbuf);
                }
                conn.release_idle_outbox();
                continue;
            }
            ready = stream.readable() => {
                if let Err(e) = ready {
                    return CloseReason::Io(e.kind());
                }
            }
            passed = alarm.fired(sleep.as_mut(), deadline) => match passed {
                Some(which) => return CloseReason::Deadline(which),
                None => continue,
            },
        }
        drop(outbox);
        if strategy.reuse_buffers {
            if inbuf.capacity() == 0 {
                inbuf = spare::take(config.read_chunk);
            } else {
                inbuf.reserve(config.read_chunk);
            }
        } else {
            let mut fresh = BytesMut::with_capacity(inbuf.len() + config.read_chunk);
            fresh.extend_from_slice(&inbuf);
            inbuf = fresh;
        }
        let drained = match read_some(&stream, &mut inbuf) {
            Ok(Read::Eof) => {
                return match decoder.decode_eof(&mut inbuf) {
                    Ok(_) => {
                        // The client may only have closed its sending half: it still
                        // gets the replies it was promised.
                        drain_outbox(&mut stream, conn, &mut outbuf, io, guards.shutdown).await;
                        CloseReason::PeerClosed
                    }
                    Err(e) => CloseReason::Frame(e),
                };
            }
            Ok(Read::Some { drained }) => {
                timer.activity();
                drained
            }
            Ok(Read::Nothing) => {
                // Readiness was stale: nothing to read, the connection is idle.
                release_if_idle(conn, strategy.reuse_buffers, &mut inbuf, &mut outbuf);
                continue;
            }
            Err(e) => return CloseReason::Io(e.kind()),
        };
        // Reply bytes queued since the last write (see `Guards::max_outbox_bytes`).
        let mut queued = 0;
        loop {
            let frame = match decoder.decode(&mut inbuf) {
                Ok(Some(frame)) => {
                    timer.completed();
                    frame
                }
                Ok(None) => break,
                Err(e) => {
                    send_last(
                        &mut stream,
                        conn,
                        &mut outbuf,
                        frame_error_reply(&e),
                        guards.write,
                    )
                    .await;
                    return CloseReason::Frame(e);
                }
            };
            let frame = if strategy.copy_frames {
                Bytes::copy_from_slice(&frame)
            } else {
                frame
            };
            let msg = match Message::parse(frame) {
                Ok(msg) => msg,
                Err(e) => {
                    send_last(
                        &mut stream,
                        conn,
                        &mut outbuf,
                        Some(e.reply()),
                        guards.write,
                    )
                    .await;
                    return CloseReason::Protocol(e);
                }
            };
            // Boxed: the handler's future lives only while it runs, instead of
            // widening every connection's task by its size for the connection's
            // whole life (an idle connection's task measured 1,152 B unboxed with
            // mcpbench-server's handler, 848 B boxed; one allocation per message).
            let Some(reply) = Box::pin(handler.handle(msg, conn)).await else {
                continue;
            };
            // Every reply goes through the outbox; while the connection lives its
            // outbox is open and unbounded, so the push cannot fail.
            let outbox = conn.outbox();
            queued += reply.len();
            let _ = outbox.replies.try_push(reply);
            // Over the bound, stop reading and write first: a peer that sends but
            // never reads is then held by the write deadline, not by memory.
            if (!strategy.coalesce_writes || queued > guards.max_outbox_bytes)
                && let Err(reason) = flush_outbox(&mut stream, &outbox, None, &mut outbuf, io).await
            {
                return reason;
            }
            if queued > guards.max_outbox_bytes {
                queued = 0;
                timer.activity();
            }
        }
        // What is left in the buffer is a frame partly in: its deadline runs.
        timer.partial(!inbuf.is_empty());
        // The replies to this read (and deferred ones that came meanwhile), together.
        if let Some(outbox) = conn.current_outbox() {
            if let Err(reason) = flush_outbox(&mut stream, &outbox, None, &mut outbuf, io).await {
                return reason;
            }
            timer.activity();
        }
        if drained {
            release_if_idle(conn, strategy.reuse_buffers, &mut inbuf, &mut outbuf);
        }
    }
}

/// An idle connection (nothing pending to read) drops its buffers, unless a partial
/// frame waits in them, and its outbox, unless replies are promised: it then costs
/// only its task and socket.
fn release_if_idle(conn: &Conn, reuse: bool, inbuf: &mut BytesMut, outbuf: &mut BytesMut) {
    if inbuf.is_empty() {
        release_buffers(reuse, inbuf, outbuf);
        conn.release_idle_outbox();
    }
}

/// Gives both buffers up: back to this thread's spares when the strategy reuses
/// buffers, freed otherwise (the naive strategy allocates afresh and would never
/// take one back).
fn release_buffers(reuse: bool, inbuf: &mut BytesMut, outbuf: &mut BytesMut) {
    if reuse {
        spare::give(inbuf);
        spare::give(outbuf);
    } else {
        *inbuf = BytesMut::new();
        *outbuf = BytesMut::new();
    }
}

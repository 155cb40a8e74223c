//! HTTP/1.1 with keep-alive on netio's own accept loop and connection discipline:
//! requests read by [`RequestDecoder`], answered one after another in order (a
//! pipelined request waits for the one before it), and buffers dropped whenever a
//! connection is between requests with nothing left to read, so an idle
//! keep-alive connection holds only its task and socket.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::config::CloseReason;
use crate::conn::Conn;
use crate::guard::{Alarm, Guards, Timer, unarmed};
use crate::http::{
    Body, Decoded, EventSource, EventStream, HttpError, HttpLimits, LAST_CHUNK, Request,
    RequestDecoder, Response, push_chunk,
};
use crate::io::{Protocol, Read, read_some};
use crate::spare;
use crate::write::write_out;

/// What an HTTP server does with each request. One instance serves every
/// connection.
pub trait HttpHandler: Send + Sync + 'static {
    /// Answers one request of connection `conn`. The connection awaits this before
    /// it reads its next request.
    fn handle(&self, request: Request, conn: &Conn) -> impl Future<Output = Response> + Send;

    /// Called once when a connection ends, with why. The default does nothing.
    fn closed(&self, _conn: &Conn, _reason: &CloseReason) {}
}

/// HTTP server settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Largest head and body accepted.
    pub limits: HttpLimits,
    /// Bytes reserved for each read.
    pub read_chunk: usize,
    /// Set `TCP_NODELAY` on accepted connections.
    pub nodelay: bool,
    /// Deadlines and caps ([`Guards::default`]; the idle deadline is the
    /// keep-alive timeout, the frame deadline covers a request's head and body;
    /// `handshake` does not apply: HTTP sessions are not bound to connections).
    pub guards: Guards,
    /// How long an open event stream ([`Body::Stream`]) may go without a write
    /// before a keep-alive comment (`: keep-alive`) is sent, so idle proxies do not
    /// cut it.
    pub stream_keepalive: Duration,
}

impl Default for HttpConfig {
    /// [`HttpLimits::default`] (16 KiB heads, 4 MiB bodies), 16 KiB reads,
    /// `TCP_NODELAY`, [`Guards::default`], a keep-alive comment after 15 s
    /// without a write on an open stream.
    fn default() -> Self {
        HttpConfig {
            limits: HttpLimits::default(),
            read_chunk: 16 * 1024,
            nodelay: true,
            guards: Guards::default(),
            stream_keepalive: Duration::from_secs(15),
        }
    }
}

/// HTTP/1.1: an [`HttpHandler`] per request.
pub(crate) struct Http<H> {
    pub(crate) handler: Arc<H>,
    pub(crate) config: HttpConfig,
}

impl<H: HttpHandler> Protocol for Http<H> {
    async fn serve(&self, stream: TcpStream, conn: &Conn, stop: &CancellationToken) -> CloseReason {
        serve_connection(stream, conn, &*self.handler, &self.config, stop).await
    }

    fn closed(&self, conn: &Conn, reason: &CloseReason) {
        self.handler.closed(conn, reason);
    }

    fn refusal(&self) -> &'static [u8] {
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 32\r\nconnection: close\r\n\r\nserver at its connection limit\r\n"
    }
}

/// Longest a refused connection is read and discarded before it is closed.
const LINGER: Duration = Duration::from_secs(1);
/// Most bytes read and discarded then.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// The answer to a request that could not be read, then the connection closes.
/// Closing at once while the client is still sending (a body over the limit)
/// would make the kernel reset the connection, and the client could lose the
/// answer; so the sending half is closed first and what the client still sends
/// is read and dropped, within [`LINGER`] and [`LINGER_BYTES`] (RFC 9112 9.6).
async fn refuse(
    stream: &mut TcpStream,
    out: &mut BytesMut,
    e: HttpError,
    write: Option<Duration>,
) -> CloseReason {
    Response::text(e.status(), e.to_string()).encode(false, out);
    if write_out(stream, out, write).await.is_ok() {
        linger(stream).await;
    }
    CloseReason::Http(e)
}

/// Closes the sending half, then reads and drops what the client still sends
/// (within [`LINGER`] and [`LINGER_BYTES`]), so the last response is not lost to
/// a reset.
async fn linger(stream: &mut TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = vec![0u8; 16 * 1024];
    let mut read = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while read < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

async fn serve_connection<H: HttpHandler>(
    mut stream: TcpStream,
    conn: &Conn,
    handler: &H,
    config: &HttpConfig,
    stop: &CancellationToken,
) -> CloseReason {
    let mut decoder = RequestDecoder::new(config.limits);
    let mut inbuf = BytesMut::new();
    let mut outbuf = BytesMut::new();
    let guards = config.guards;
    let write = guards.write;
    let mut timer = Timer::new();
    let (mut alarm, sleep) = (Alarm::default(), unarmed());
    tokio::pin!(sleep);
    // The last read emptied the socket.
    let mut drained = false;
    loop {
        // Every complete request in the buffer, in order.
        loop {
            match decoder.decode(&mut inbuf) {
                Ok(Decoded::Request(request)) => {
                    timer.completed();
                    let keep_alive = request.keep_alive();
                    // Boxed: the handler's future lives only while it runs, not in
                    // every idle connection's task.
                    let response = Box::pin(handler.handle(request, conn)).await;
                    if outbuf.capacity() == 0 {
                        outbuf = spare::take(0);
                    }
                    response.encode(keep_alive, &mut outbuf);
                    if let Body::Stream(EventSource(source)) = response.body {
                        // The connection is the stream's from now on: what the
                        // client pipelined after this request is not served, and
                        // the receive buffer is given back (an open stream holds
                        // no buffer between writes).
                        drop((std::mem::take(&mut inbuf), decoder));
                        // On this loop's timer, and boxed: inline, the stream's
                        // state (larger than this loop's) sized every
                        // connection's task, streaming or not.
                        return Box::pin(serve_stream(
                            &mut stream,
                            source,
                            &mut outbuf,
                            config,
                            stop,
                            &mut alarm,
                            sleep.as_mut(),
                        ))
                        .await;
                    }
                    if !keep_alive {
                        if let Err(reason) = write_out(&mut stream, &mut outbuf, write).await {
                            return reason;
                        }
                        // Pipelined bytes after `Connection: close` are not
                        // served; closing on them unread would reset the
                        // connection and could lose this response.
                        if !inbuf.is_empty() {
                            linger(&mut stream).await;
                        }
                        return CloseReason::HttpClose;
                    }
                }
                Ok(Decoded::NeedMore { send_continue }) => {
                    if send_continue {
                        outbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    break;
                }
                Err(e) => return refuse(&mut stream, &mut outbuf, e, write).await,
            }
        }
        // The responses to this read, together.
        if !outbuf.is_empty() {
            if let Err(reason) = write_out(&mut stream, &mut outbuf, write).await {
                return reason;
            }
            timer.activity();
        }
        // A request partly in runs the frame deadline (from this read, when the
        // one before it was completed by this read); between requests, the
        // keep-alive (idle) one.
        timer.partial(!inbuf.is_empty() || decoder.in_request(&inbuf));
        // Between requests with the socket empty: hold no buffer (a chunked body
        // in progress keeps only its decoded part).
        if drained && inbuf.is_empty() {
            spare::give(&mut inbuf);
            spare::give(&mut outbuf);
        }
        let deadline = timer.next(&guards, true, false);
        alarm.arm(sleep.as_mut(), deadline);
        tokio::select! {
            biased;
            _ = stop.cancelled() => return CloseReason::Shutdown,
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
        if inbuf.capacity() == 0 {
            inbuf = spare::take(config.read_chunk);
        } else {
            inbuf.reserve(config.read_chunk);
        }
        match read_some(&stream, &mut inbuf) {
            Ok(Read::Eof) => {
                return match decoder.decode_eof(&inbuf) {
                    Ok(()) => CloseReason::PeerClosed,
                    Err(e) => CloseReason::Http(e),
                };
            }
            Ok(Read::Some { drained: d }) => {
                timer.activity();
                drained = d;
            }
            Ok(Read::Nothing) => drained = true,
            Err(e) => return CloseReason::Io(e.kind()),
        }
    }
}

/// What woke an open stream.
enum StreamStep {
    Events(Result<(), crate::http::StreamEnd>),
    Readable(std::io::Result<()>),
    KeepAlive,
}

/// Serves an open event stream on `stream` (its head already in `out`; both
/// borrowed from the connection, so the boxed stream state holds no second copy): each batch
/// of events one chunk, written within the write deadline; a keep-alive comment
/// after [`HttpConfig::stream_keepalive`] without a write. Ends when the client
/// closes (which cancels the stream), the source ends it, a write misses its
/// deadline, or the server shuts down; the connection closes with it. What the
/// client sends meanwhile is read and dropped. Between writes the stream holds no
/// buffer.
#[allow(clippy::too_many_arguments)] // the connection's parts, handed over whole
async fn serve_stream(
    stream: &mut TcpStream,
    mut source: Box<dyn EventStream>,
    out: &mut BytesMut,
    config: &HttpConfig,
    stop: &CancellationToken,
    alarm: &mut Alarm,
    mut sleep: Pin<&mut Sleep>,
) -> CloseReason {
    let write = config.guards.write;
    let mut events = BytesMut::new();
    // The keep-alive comment is due `stream_keepalive` after the last write, on
    // the connection's own timer (see `Alarm`): no timer per batch of events, and
    // no second one in the connection's task.
    let mut last_write = Instant::now();
    loop {
        if !out.is_empty() {
            if let Err(reason) = write_out(stream, out, write).await {
                return reason;
            }
            *out = BytesMut::new();
            last_write = Instant::now();
        }
        // A keep-alive too far to represent is none.
        let keepalive = last_write
            .checked_add(config.stream_keepalive)
            .map(|at| (at, ()));
        alarm.arm(sleep.as_mut(), keepalive);
        let step = tokio::select! {
            biased;
            _ = stop.cancelled() => {
                out.extend_from_slice(LAST_CHUNK);
                let _ = write_out(stream, out, write).await;
                return CloseReason::Shutdown;
            }
            ready = stream.readable() => StreamStep::Readable(ready),
            got = std::future::poll_fn(|cx| source.poll_events(cx, &mut events)) => {
                StreamStep::Events(got)
            }
            due = alarm.fired(sleep.as_mut(), keepalive) => match due {
                Some(()) => StreamStep::KeepAlive,
                None => continue,
            },
        };
        match step {
            StreamStep::Events(Ok(())) => {
                push_chunk(out, &events);
                events = BytesMut::new();
            }
            StreamStep::Events(Err(end)) => {
                push_chunk(out, &events);
                out.extend_from_slice(LAST_CHUNK);
                let _ = write_out(stream, out, write).await;
                return CloseReason::Stream(end);
            }
            StreamStep::KeepAlive => match source.still_open() {
                Ok(()) => push_chunk(out, b": keep-alive\n\n"),
                Err(end) => {
                    out.extend_from_slice(LAST_CHUNK);
                    let _ = write_out(stream, out, write).await;
                    return CloseReason::Stream(end);
                }
            },
            StreamStep::Readable(Err(e)) => return CloseReason::Io(e.kind()),
            StreamStep::Readable(Ok(())) => {
                let mut sink = BytesMut::with_capacity(1024);
                match read_some(stream, &mut sink) {
                    Ok(Read::Eof) => return CloseReason::PeerClosed,
                    Ok(_) => {}
                    Err(e) => return CloseReason::Io(e.kind()),
                }
            }
        }
    }
}

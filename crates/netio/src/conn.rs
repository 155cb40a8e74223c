//! One accepted connection as a handler sees it ([`Conn`]), its outbox of replies,
//! replies promised for later ([`Deferred`]), and the [`Handler`] trait.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use mcpbench_queue::UnboundedMailbox;

use crate::config::CloseReason;
use crate::jsonrpc::Message;

/// One accepted connection, as the handler sees it (lent for one `handle` call).
#[derive(Debug)]
pub struct Conn {
    /// Unique among the connections of one server, in accept order from 1.
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The connection's outbox while it is busy: made for the first reply after an
    /// idle spell and released once the connection is idle again with nothing
    /// waiting or promised, so an idle connection pays only for this slot.
    outbox: Mutex<Option<Arc<Outbox>>>,
    /// The handler said the connection is established ([`Conn::establish`]).
    established: AtomicBool,
}

/// Every reply of one connection on its way to the socket: a queue mailbox (replies
/// from `handle` and [`Deferred`] ones alike, sent in the order they arrive), and a
/// count of promised replies not yet sent.
#[derive(Debug)]
pub(crate) struct Outbox {
    pub(crate) replies: UnboundedMailbox<Bytes>,
    pub(crate) promised: AtomicUsize,
}

impl Conn {
    pub(crate) fn new(id: u64, peer: SocketAddr) -> Conn {
        Conn {
            id,
            peer,
            outbox: Mutex::new(None),
            established: AtomicBool::new(false),
        }
    }

    /// Marks the connection established (MCP: `initialize` answered), so the
    /// handshake deadline ([`Guards::handshake`]) no longer applies.
    pub fn establish(&self) {
        self.established.store(true, Ordering::Relaxed);
    }

    /// Whether [`Conn::establish`] was called.
    pub fn is_established(&self) -> bool {
        self.established.load(Ordering::Relaxed)
    }

    /// Replies promised and not yet sent (the connection is waiting on them).
    pub(crate) fn busy(outbox: Option<&Arc<Outbox>>) -> bool {
        outbox.is_some_and(|o| o.promised.load(Ordering::Relaxed) > 0 || !o.replies.is_empty())
    }

    /// The outbox, made if there is none.
    pub(crate) fn outbox(&self) -> Arc<Outbox> {
        let mut slot = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert_with(|| {
            Arc::new(Outbox {
                replies: UnboundedMailbox::unbounded(),
                promised: AtomicUsize::new(0),
            })
        })
        .clone()
    }

    /// The outbox, if there is one.
    pub(crate) fn current_outbox(&self) -> Option<Arc<Outbox>> {
        self.outbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops the outbox when nothing is promised or waiting in it. Only the
    /// connection's own task makes outboxes (`handle` runs on it), so none can be
    /// made meanwhile; a promise is released after its reply is pushed, so "nothing
    /// promised, then empty" sees every reply.
    pub(crate) fn release_idle_outbox(&self) {
        let mut slot = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(o) = slot.as_ref()
            && o.promised.load(Ordering::SeqCst) == 0
            && o.replies.is_empty()
        {
            *slot = None;
        }
    }

    /// Promises a reply that will be sent later, from anywhere (another task): the
    /// handler returns `None` now and the connection goes on reading and serving
    /// its next messages; replies go out in the order they are sent, which need not
    /// be the order of the requests (JSON-RPC ids correlate them). A graceful
    /// shutdown waits for every promised reply (or its [`Deferred`] being dropped).
    pub fn defer(&self) -> Deferred {
        let outbox = self.outbox();
        outbox.promised.fetch_add(1, Ordering::SeqCst);
        Deferred { outbox }
    }
}

impl PartialEq for Conn {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.peer == other.peer
    }
}

impl Eq for Conn {}

/// A reply promised by [`Conn::defer`]. Send it once; dropping it unsent releases
/// the promise (the client then gets no reply to that request).
#[derive(Debug)]
pub struct Deferred {
    outbox: Arc<Outbox>,
}

impl Deferred {
    /// Sends the reply (one JSON value, no newline). If the connection has ended,
    /// the reply is dropped: there is no one to send it to.
    pub fn send(self, reply: Bytes) {
        let _ = self.outbox.replies.try_push(reply);
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        self.outbox.promised.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the server does with each message. One instance serves every connection.
pub trait Handler: Send + Sync + 'static {
    /// Serves one message from connection `conn` and returns the reply to send
    /// (one JSON value, no newline), or `None` (notifications, responses, and
    /// replies promised with [`Conn::defer`]). The connection awaits this future
    /// before reading on: a handler that must wait (for an upstream, a tool) should
    /// defer its reply and return, so the connection's other requests are served
    /// meanwhile. Replies to one read are sent together.
    fn handle(&self, msg: Message, conn: &Conn) -> impl Future<Output = Option<Bytes>> + Send;

    /// Called once when a connection ends, with why. The default does nothing.
    fn closed(&self, _conn: &Conn, _reason: &CloseReason) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        Conn::new(1, "127.0.0.1:9".parse().expect("an address"))
    }

    #[test]
    fn an_outbox_is_released_only_when_empty_and_nothing_is_promised() {
        let c = conn();
        assert!(
            c.current_outbox().is_none(),
            "a new connection has no outbox"
        );
        c.release_idle_outbox();
        let o = c.outbox();
        assert!(Arc::ptr_eq(&o, &c.outbox()), "one outbox while busy");
        o.replies.try_push(Bytes::from_static(b"{}")).unwrap();
        c.release_idle_outbox();
        assert!(
            c.current_outbox().is_some(),
            "released with a reply waiting"
        );
        assert_eq!(o.replies.try_pop(), Some(Bytes::from_static(b"{}")));
        let promise = c.defer();
        c.release_idle_outbox();
        assert!(
            c.current_outbox().is_some(),
            "released with a reply promised"
        );
        promise.send(Bytes::from_static(b"[]"));
        c.release_idle_outbox();
        assert!(
            c.current_outbox().is_some(),
            "released with the promised reply waiting"
        );
        assert_eq!(o.replies.try_pop(), Some(Bytes::from_static(b"[]")));
        c.release_idle_outbox();
        assert!(c.current_outbox().is_none(), "kept while idle");
        drop(c.defer());
        c.release_idle_outbox();
        assert!(
            c.current_outbox().is_none(),
            "a dropped promise holds nothing"
        );
    }
}

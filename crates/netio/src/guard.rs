//! What a client may not do for long: the deadlines and caps every connection of
//! a server lives by, and the timer that turns them into one next deadline.
//!
//! The defaults follow what trusted servers do: a connection with nothing in
//! progress is closed after an idle time (nginx `keepalive_timeout`, HAProxy
//! `timeout client`), a frame or an HTTP request once started must arrive whole
//! within a deadline (nginx `client_header_timeout`/`client_body_timeout`,
//! hyper's `header_read_timeout`), a write to a peer that does not read fails
//! after a deadline (nginx `send_timeout`), and the server holds at most so many
//! connections (HAProxy `maxconn`, ranch `max_connections`), refusing the next
//! at once instead of letting it wait in the backlog.

use std::fmt;
use std::time::Duration;

use std::pin::Pin;

use tokio::time::{Instant, Sleep};

/// Deadlines and caps. `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guards {
    /// A connection with nothing in progress (no partial frame or request, no
    /// reply promised) is closed after this long. Default 300 s.
    pub idle: Option<Duration>,
    /// A frame (TCP) or request (HTTP, head and body) must arrive whole within this
    /// long of its first byte. Default 30 s.
    pub frame: Option<Duration>,
    /// A write that the peer does not let finish (it does not read) closes the
    /// connection after this long. Default 30 s.
    pub write: Option<Duration>,
    /// A connection must be marked established ([`crate::Conn::establish`]; MCP:
    /// `initialize` answered) within this long of being accepted. Default none:
    /// the handler decides what establishing means.
    pub handshake: Option<Duration>,
    /// Most connections open at once; the next is answered with a refusal and
    /// closed at once (counted). Default none.
    pub max_connections: Option<u64>,
    /// Reply bytes queued for one connection before it stops reading and writes
    /// them (so a peer that sends requests but never reads holds at most this,
    /// plus one read's worth, until the write deadline). Default 1 MiB.
    pub max_outbox_bytes: usize,
    /// At shutdown, how long a connection may take to send the replies it has
    /// computed or promised (each write whole, or the connection closed); the
    /// one deadline of a graceful shutdown. Default 10 s.
    pub shutdown: Duration,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            idle: Some(Duration::from_secs(300)),
            frame: Some(Duration::from_secs(30)),
            write: Some(Duration::from_secs(30)),
            handshake: None,
            max_connections: None,
            max_outbox_bytes: 1024 * 1024,
            shutdown: Duration::from_secs(10),
        }
    }
}

/// Which deadline closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Nothing in progress for [`Guards::idle`].
    Idle,
    /// A frame or request started and not finished within [`Guards::frame`].
    Frame,
    /// A write not finished within [`Guards::write`] (the peer does not read).
    Write,
    /// Not established within [`Guards::handshake`].
    Handshake,
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Deadline::Idle => "idle for too long",
            Deadline::Frame => "a frame or request took too long to arrive",
            Deadline::Write => "the peer did not read its replies in time",
            Deadline::Handshake => "not established in time",
        })
    }
}

/// One connection's clock: when it last did something, since when a frame has
/// been partly in.
#[derive(Debug)]
pub(crate) struct Timer {
    accepted: Instant,
    last: Instant,
    partial_since: Option<Instant>,
}

impl Timer {
    pub(crate) fn new() -> Timer {
        let now = Instant::now();
        Timer {
            accepted: now,
            last: now,
            partial_since: None,
        }
    }

    /// Bytes came in or went out.
    pub(crate) fn activity(&mut self) {
        self.last = Instant::now();
    }

    /// A frame or request was taken whole: the clock of the one partly in stops,
    /// and the next [`Timer::partial`] starts a new one for the bytes after it
    /// (a client that pipelines, each request arriving whole within the deadline,
    /// is never cut off however long it goes on).
    pub(crate) fn completed(&mut self) {
        self.partial_since = None;
    }

    /// Whether a frame or request is partly in (its clock starts at the first
    /// call that says so, or after [`Timer::completed`]).
    pub(crate) fn partial(&mut self, pending: bool) {
        match (pending, self.partial_since) {
            (true, None) => self.partial_since = Some(Instant::now()),
            (false, _) => self.partial_since = None,
            (true, Some(_)) => {}
        }
    }

    /// The earliest deadline that applies now, and which it is. `established`:
    /// the handshake deadline no longer applies; `busy`: replies are promised, so
    /// the connection is not idle.
    pub(crate) fn next(
        &self,
        g: &Guards,
        established: bool,
        busy: bool,
    ) -> Option<(Instant, Deadline)> {
        let handshake = (!established)
            .then_some(g.handshake)
            .flatten()
            .map(|d| (self.accepted + d, Deadline::Handshake));
        let progress = match self.partial_since {
            Some(since) => g.frame.map(|d| (since + d, Deadline::Frame)),
            None if busy => None,
            None => g.idle.map(|d| (self.last + d, Deadline::Idle)),
        };
        [handshake, progress]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
    }
}

/// The one timer a connection keeps for its deadlines, armed lazily. A new timer
/// per read (registered with tokio's timer wheel, then cancelled, both under the
/// driver's lock) cost ~20% of the CPU of netio's HTTP loop at 16 busy
/// connections; but a deadline mostly moves *later* (each request pushes the idle
/// deadline on), and a timer that fires early costs one look at the clock. So the
/// alarm is re-armed only when the deadline moves earlier than the time it is set
/// for (a request starts arriving: its frame deadline), and when it fires the
/// deadline that applies now is checked: passed, the connection closes; not yet,
/// the alarm is re-armed for it.
#[derive(Debug, Default)]
pub(crate) struct Alarm {
    /// When the timer is set to fire; `None`: not set.
    armed: Option<Instant>,
}

impl Alarm {
    /// Makes sure `sleep` fires no later than `deadline` (a time and what it is).
    pub(crate) fn arm<T>(&mut self, sleep: Pin<&mut Sleep>, deadline: Option<(Instant, T)>) {
        if let Some((at, _)) = deadline
            && self.armed.is_none_or(|armed| at < armed)
        {
            sleep.reset(at);
            self.armed = Some(at);
        }
    }

    /// Waits for the timer (forever when it is not set); then `Some` with the
    /// deadline that has passed, or `None` when `deadline` (the one that applies
    /// now) moved on or went away since the timer was set, so the caller re-arms
    /// and waits again.
    pub(crate) async fn fired<T>(
        &mut self,
        sleep: Pin<&mut Sleep>,
        deadline: Option<(Instant, T)>,
    ) -> Option<T> {
        if self.armed.is_none() {
            return std::future::pending().await;
        }
        sleep.await;
        self.armed = None;
        deadline
            .filter(|(at, _)| Instant::now() >= *at)
            .map(|(_, which)| which)
    }
}

/// An unarmed timer for [`Alarm`] (registered with the wheel on first arming).
pub(crate) fn unarmed() -> Sleep {
    tokio::time::sleep_until(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guards() -> Guards {
        Guards {
            idle: Some(Duration::from_secs(300)),
            frame: Some(Duration::from_secs(30)),
            write: Some(Duration::from_secs(30)),
            handshake: Some(Duration::from_secs(10)),
            max_connections: None,
            max_outbox_bytes: 1 << 20,
            shutdown: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_nearest_deadline_that_applies_wins() {
        let g = guards();
        let mut t = Timer::new();
        let at = |d: Option<(Instant, Deadline)>| d.map(|(i, w)| (i - t.accepted, w));
        assert_eq!(
            at(t.next(&g, false, false)),
            Some((Duration::from_secs(10), Deadline::Handshake))
        );
        assert_eq!(
            at(t.next(&g, true, false)),
            Some((Duration::from_secs(300), Deadline::Idle))
        );
        assert_eq!(
            at(t.next(&g, true, true)),
            None,
            "replies promised: not idle"
        );
        t.partial(true);
        let (when, which) = t.next(&g, true, true).expect("frame deadline");
        assert_eq!(which, Deadline::Frame);
        assert!(when - t.accepted <= Duration::from_secs(31));
        // A frame that keeps coming keeps its first byte's clock.
        let first = t.partial_since;
        t.partial(true);
        assert_eq!(t.partial_since, first);
        // A request taken whole restarts the clock for the bytes after it.
        t.completed();
        assert_eq!(
            t.partial_since, None,
            "the next request gets a clock of its own"
        );
        t.partial(true);
        assert!(t.partial_since.is_some());
        t.partial(false);
        assert_eq!(
            t.next(&g, true, false).map(|(_, w)| w),
            Some(Deadline::Idle)
        );
        let off = Guards {
            idle: None,
            frame: None,
            handshake: None,
            ..g
        };
        assert_eq!(t.next(&off, false, false), None);
    }
}

//! The open streams of server-to-client messages, one [`EventStream`] each:
//! `subscriptions/listen` (2026-07-28: acknowledged first, then every update of
//! a subscribed resource, each tagged with the subscription id) and a session's
//! GET stream (2025-11-25: the updates of the resources the session subscribed
//! to with `resources/subscribe`).
//!
//! A stream is a receiver of the server's [`EventBus`](crate::events::EventBus):
//! the events wait once, in the bus's ring; the stream holds its cursor, one
//! reusable box for its wait, and what it is subscribed to. It lives in its
//! connection's task, so a slow client delays nobody else: it falls behind in the
//! ring, and past the ring's capacity its stream ends ([`StreamEnd::Lagged`]) and
//! is counted. A GET stream reads its session's subscriptions when it delivers an
//! update (so an update published just before a `resources/subscribe` may still
//! be delivered), touches the session at each keep-alive tick (an open stream
//! keeps its session alive) and ends once the session is gone (at the next update
//! or tick).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use mcpbench_netio::RequestId;
use mcpbench_netio::http::{EventStream, StreamEnd, push_event};
use mcpbench_session::SessionId;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::ReusableBoxFuture;

use crate::McpServer;
use crate::events::{Event, RESOURCES, Resources, topic};

/// The `_meta` key of a subscription's id.
pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

type Received = (Result<Arc<Event>, RecvError>, Receiver<Arc<Event>>);

async fn next(mut rx: Receiver<Arc<Event>>) -> Received {
    (rx.recv().await, rx)
}

/// Who a stream delivers to, and how it closes each event.
enum Audience {
    /// `subscriptions/listen`: the subscribed resources' bits, and the end of each
    /// notification (`,"io.modelcontextprotocol/subscriptionId":<id>}}}`).
    Subscription { topics: u64, close: Bytes },
    /// A session's GET stream: its subscriptions are read at each event (they can
    /// change while the stream is open); the stream ends with the session.
    Session {
        server: Weak<McpServer>,
        id: SessionId,
    },
}

/// One open stream.
pub(crate) struct Listener {
    recv: ReusableBoxFuture<'static, Received>,
    /// Sent before any event (the acknowledgement).
    first: Option<Bytes>,
    audience: Audience,
    counters: Arc<Resources>,
}

/// `subscriptions/listen`'s `params`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListenParams {
    #[serde(default)]
    notifications: Filter,
}

/// The notification types a client asks for. Only resource subscriptions are
/// honoured: this server's tool, prompt and resource lists never change.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    resource_subscriptions: Vec<String>,
}

impl Listener {
    fn new(server: &McpServer, first: Option<Bytes>, audience: Audience) -> Listener {
        let counters = server.resources.clone();
        counters.listeners.fetch_add(1, Ordering::Relaxed);
        counters.listeners_opened.fetch_add(1, Ordering::Relaxed);
        Listener {
            recv: ReusableBoxFuture::new(next(server.bus.subscribe())),
            first,
            audience,
            counters,
        }
    }

    /// A `subscriptions/listen` stream for request `id` asking for `params`: its
    /// acknowledgement names the resources honoured (the known ones asked for).
    pub(crate) fn subscription(
        server: &McpServer,
        id: &RequestId,
        params: ListenParams,
    ) -> Listener {
        let honoured: Vec<&str> = params
            .notifications
            .resource_subscriptions
            .iter()
            .filter_map(|uri| RESOURCES.iter().find(|r| **r == uri.as_str()).copied())
            .collect();
        let topics = honoured
            .iter()
            .filter_map(|uri| topic(uri))
            .fold(0, |a, b| a | b);
        let mut notifications = json!({});
        if !params.notifications.resource_subscriptions.is_empty() {
            notifications["resourceSubscriptions"] = json!(honoured);
        }
        let ack = json!({
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": {"notifications": notifications, "_meta": {SUBSCRIPTION_ID: id}},
        });
        let id_json = serde_json::to_string(id).unwrap_or_default();
        let close = Bytes::from(format!(",\"{SUBSCRIPTION_ID}\":{id_json}}}}}}}"));
        Listener::new(
            server,
            serde_json::to_vec(&ack).ok().map(Bytes::from),
            Audience::Subscription { topics, close },
        )
    }

    /// The GET stream of session `id`.
    pub(crate) fn session(server: &McpServer, id: SessionId) -> Listener {
        Listener::new(
            server,
            None,
            Audience::Session {
                server: server.me.clone(),
                id,
            },
        )
    }

    /// Appends `event` if this stream wants it; `Err` when the stream is over
    /// (its session ended).
    fn deliver(&self, event: &Event, out: &mut BytesMut) -> Result<bool, StreamEnd> {
        match &self.audience {
            Audience::Subscription { topics, close } => {
                if topics & event.topic == 0 {
                    return Ok(false);
                }
                push_event(out, &[&event.open, close]);
            }
            Audience::Session { server, id } => {
                let subscribed = server
                    .upgrade()
                    .and_then(|s| s.sessions.read(id, |s| s.subscriptions))
                    .ok_or(StreamEnd::Finished)?;
                if subscribed & event.topic == 0 {
                    return Ok(false);
                }
                push_event(out, &[&event.open, b"}}}"]);
            }
        }
        Ok(true)
    }

    /// One received item: delivered, skipped, or the stream's end.
    fn take(
        &self,
        got: Result<Arc<Event>, RecvError>,
        out: &mut BytesMut,
    ) -> Result<bool, StreamEnd> {
        match got {
            Ok(event) => self.deliver(&event, out),
            Err(RecvError::Lagged(missed)) => Err(StreamEnd::Lagged { missed }),
            Err(RecvError::Closed) => Err(StreamEnd::Finished),
        }
    }
}

impl EventStream for Listener {
    fn still_open(&mut self) -> Result<(), StreamEnd> {
        self.session_alive()
    }

    fn poll_events(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut BytesMut,
    ) -> Poll<Result<(), StreamEnd>> {
        if let Some(first) = self.first.take() {
            push_event(out, &[&first]);
            return Poll::Ready(Ok(()));
        }
        loop {
            let (got, mut rx) = ready!(self.recv.poll(cx));
            let mut outcome = self.take(got, out);
            let mut wrote = matches!(outcome, Ok(true));
            // What is already in the ring goes in the same write.
            while outcome.is_ok() {
                outcome = match rx.try_recv() {
                    Ok(event) => self.deliver(&event, out),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Lagged(missed)) => Err(StreamEnd::Lagged { missed }),
                    Err(TryRecvError::Closed) => Err(StreamEnd::Finished),
                };
                wrote |= matches!(outcome, Ok(true));
            }
            self.recv.set(next(rx));
            match outcome {
                Err(end) => {
                    if matches!(end, StreamEnd::Lagged { .. }) {
                        self.counters
                            .listeners_lagged
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    return Poll::Ready(Err(end));
                }
                Ok(_) if wrote => return Poll::Ready(Ok(())),
                // Nothing for this stream: wait again.
                Ok(_) => {}
            }
        }
    }
}

impl Listener {
    /// A GET stream's session, touched (an open stream keeps its session alive);
    /// `Err` once the session is gone (deleted or expired).
    fn session_alive(&self) -> Result<(), StreamEnd> {
        match &self.audience {
            Audience::Subscription { .. } => Ok(()),
            Audience::Session { server, id } => {
                let alive = server
                    .upgrade()
                    .is_some_and(|s| s.sessions.touch(id, std::time::Instant::now()));
                if alive {
                    Ok(())
                } else {
                    Err(StreamEnd::Finished)
                }
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.counters.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    fn updated(seq: u64) -> Arc<Event> {
        Arc::new(Event::updated(RESOURCES[0], seq, None).expect("a known resource"))
    }

    async fn poll(l: &mut Listener, out: &mut BytesMut) -> Result<(), StreamEnd> {
        std::future::poll_fn(|cx| l.poll_events(cx, out)).await
    }

    #[tokio::test]
    async fn a_listener_further_behind_than_the_ring_ends_lagged_and_is_counted() {
        let settings = Settings {
            listen_queue: 2,
            ..Settings::default()
        };
        let server = McpServer::new(settings).expect("a server");
        let params: ListenParams = serde_json::from_value(
            json!({"notifications": {"resourceSubscriptions": [RESOURCES[0]]}}),
        )
        .expect("params");
        let mut l = Listener::subscription(&server, &RequestId::Number(9), params);
        let mut out = BytesMut::new();
        assert_eq!(poll(&mut l, &mut out).await, Ok(()), "the ack");
        assert!(std::str::from_utf8(&out).unwrap().contains("acknowledged"));
        // Two fit in the ring and are delivered in one batch.
        for seq in 1..=2 {
            server.bus.publish(updated(seq));
        }
        out.clear();
        assert_eq!(poll(&mut l, &mut out).await, Ok(()));
        let text = std::str::from_utf8(&out).unwrap();
        assert_eq!(text.matches("data: ").count(), 2, "{text}");
        // Five more: three fall out of the ring before the listener looks.
        for seq in 3..=7 {
            server.bus.publish(updated(seq));
        }
        assert_eq!(
            poll(&mut l, &mut out).await,
            Err(StreamEnd::Lagged { missed: 3 })
        );
        assert_eq!(server.resources.listeners_lagged.load(Ordering::Relaxed), 1);
        assert_eq!(server.resources.listeners.load(Ordering::Relaxed), 1);
        drop(l);
        assert_eq!(server.resources.listeners.load(Ordering::Relaxed), 0);
    }
}

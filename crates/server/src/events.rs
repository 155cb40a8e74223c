//! Server-to-client events: the resources clients can subscribe to, the event
//! bus an update is published on, and the counters of the streams it reaches.
//!
//! An update of a resource (the `touch` tool) becomes one [`Event`], rendered
//! once up to the per-stream part, and is published on the server's
//! [`EventBus`]. Every open stream (`listen.rs`) is a receiver of the bus: the
//! events wait once, in the bus's ring, not in a queue per stream; a stream
//! that falls further behind than the ring holds is closed and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// The resources of this server: counters a client can read, subscribe to, and
/// update with the `touch` tool. Their index is their bit in a subscription set.
pub const RESOURCES: [&str; 4] = [
    "mcpbench://counter/0",
    "mcpbench://counter/1",
    "mcpbench://counter/2",
    "mcpbench://counter/3",
];

/// The bit of `uri` in a subscription set, if it is one of [`RESOURCES`].
pub(crate) fn topic(uri: &str) -> Option<u64> {
    RESOURCES.iter().position(|r| *r == uri).map(|i| 1u64 << i)
}

/// One resource update, as every stream sends it: `open` is the notification up
/// to the inside of its `_meta` object, which each stream closes with its own
/// part (the subscription id in the 2026-07-28 generation, nothing in the GET
/// stream).
#[derive(Debug)]
pub struct Event {
    /// The updated resource's bit.
    pub(crate) topic: u64,
    /// `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":...,"_meta":{"mcpbench/event":N` and, when the trigger gave one, `,"mcpbench/stamp":...`.
    pub(crate) open: Bytes,
}

impl Event {
    /// The update of resource `uri` (one of [`RESOURCES`]), the `seq`-th of the
    /// server, carrying the trigger's `stamp` when it sent one (the load
    /// generator's send time: what delivery latency is measured from).
    pub(crate) fn updated(uri: &str, seq: u64, stamp: Option<&str>) -> Option<Event> {
        let topic = topic(uri)?;
        // Written by hand, `_meta` last and left open (a `json!` map would order
        // the keys alphabetically).
        let uri = serde_json::to_string(uri).ok()?;
        let stamp = match stamp {
            Some(s) => format!(",\"mcpbench/stamp\":{}", serde_json::to_string(s).ok()?),
            None => String::new(),
        };
        let text = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{{"uri":{uri},"_meta":{{"mcpbench/event":{seq}{stamp}"#
        );
        Some(Event {
            topic,
            open: Bytes::from(text.into_bytes()),
        })
    }
}

/// Where events are published and every stream receives them. One process's
/// streams all receive from one bus; a bus shared by several server processes
/// (or nodes) delivers an event published on one to the streams of all.
pub trait EventBus: Send + Sync + 'static {
    /// Sends `event` to every current receiver.
    fn publish(&self, event: Arc<Event>);
    /// A receiver of every event published from now on. It keeps at most the
    /// bus's capacity of unread events; past that it lags (and its stream is
    /// closed).
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
}

/// The in-process bus: one `tokio::sync::broadcast` ring of `capacity` events
/// shared by every stream of this process.
pub struct LocalBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl LocalBus {
    /// A bus whose receivers may fall `capacity` events behind.
    pub fn new(capacity: usize) -> LocalBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        LocalBus { tx }
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: Arc<Event>) {
        // No receiver: nobody is listening, nothing to deliver.
        let _ = self.tx.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// The resources' values and the streams' counters.
#[derive(Debug, Default)]
pub(crate) struct Resources {
    /// Each resource's value: how often it was touched.
    pub(crate) values: [AtomicU64; RESOURCES.len()],
    /// Events published so far.
    pub(crate) published: AtomicU64,
    /// Streams open now.
    pub(crate) listeners: AtomicU64,
    /// Streams opened so far.
    pub(crate) listeners_opened: AtomicU64,
    /// Streams closed because they fell behind.
    pub(crate) listeners_lagged: AtomicU64,
}

impl Resources {
    /// `resources/list`'s result.
    pub(crate) fn list() -> Value {
        let resources: Vec<Value> = RESOURCES
            .iter()
            .enumerate()
            .map(|(i, uri)| {
                json!({
                    "uri": uri,
                    "name": format!("counter-{i}"),
                    "description": "How often the `touch` tool updated this resource.",
                    "mimeType": "text/plain",
                })
            })
            .collect();
        json!({"resources": resources, "resultType": "complete", "ttlMs": 0, "cacheScope": "private"})
    }

    /// `resources/read`'s result for `uri`, or `None` for an unknown resource.
    pub(crate) fn read(&self, uri: &str) -> Option<Value> {
        let i = RESOURCES.iter().position(|r| *r == uri)?;
        let value = self.values[i].load(Ordering::Relaxed);
        Some(json!({
            "contents": [{"uri": uri, "mimeType": "text/plain", "text": value.to_string()}],
            "resultType": "complete",
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_a_notification_once_a_stream_closes_its_meta() {
        let e = Event::updated(RESOURCES[2], 7, Some("12\"3")).expect("a known resource");
        assert_eq!(e.topic, 1 << 2);
        let mut whole = e.open.to_vec();
        whole.extend_from_slice(br#","io.modelcontextprotocol/subscriptionId":5}}}"#);
        let v: Value = serde_json::from_slice(&whole).expect("valid JSON");
        assert_eq!(v["method"], "notifications/resources/updated");
        assert_eq!(v["params"]["uri"], RESOURCES[2]);
        assert_eq!(v["params"]["_meta"]["mcpbench/event"], 7);
        assert_eq!(v["params"]["_meta"]["mcpbench/stamp"], "12\"3");
        assert_eq!(
            v["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            5
        );
        let mut bare = e.open.to_vec();
        bare.extend_from_slice(b"}}}");
        assert!(serde_json::from_slice::<Value>(&bare).is_ok());
        assert!(Event::updated("mcpbench://nope", 1, None).is_none());
    }
}

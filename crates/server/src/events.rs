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

/// Several server processes on one host (sharing a port with `SO_REUSEPORT`):
/// each binds a Unix datagram socket in one folder, named by its process id; an
/// update published by one goes on its own ring and, as one datagram (its topic,
/// then its text), to every other socket in the folder, whose process puts it on
/// its ring. The datagrams are sent by a relay task over one connected socket per
/// member, so a member whose queue is full is waited for (up to
/// [`RELAY_PATIENCE`], then the update is dropped for it and said on stderr), never
/// skipped silently; a member whose process is gone (its socket refuses) is
/// removed from the folder.
pub struct HostBus {
    local: LocalBus,
    me: std::path::PathBuf,
    relay: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
}

/// Longest the relay waits for a member whose queue is full.
pub const RELAY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

impl HostBus {
    /// Joins the bus in `dir` (made if missing) with a ring of `capacity`
    /// events; starts the tasks that receive the others' updates and relay ours
    /// (call from a tokio runtime).
    pub fn join(dir: &std::path::Path, capacity: usize) -> std::io::Result<Arc<HostBus>> {
        std::fs::create_dir_all(dir)?;
        let me = dir.join(format!("{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&me);
        let receiver = tokio::net::UnixDatagram::bind(&me)?;
        let (relay, outgoing) = tokio::sync::mpsc::unbounded_channel();
        let bus = Arc::new(HostBus {
            local: LocalBus::new(capacity),
            me: me.clone(),
            relay,
        });
        let weak = Arc::downgrade(&bus);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = receiver.recv(&mut buf).await {
                let Some(bus) = weak.upgrade() else { return };
                if let Some(event) = decode(&buf[..n]) {
                    bus.local.publish(Arc::new(event));
                }
            }
        });
        tokio::spawn(relay_loop(dir.to_path_buf(), me, outgoing));
        Ok(bus)
    }
}

/// Sends each datagram to every other member of the bus in `dir`, over one
/// connected socket per member (a connected Unix datagram socket is writable only
/// when its peer's queue has room, so the wait is real, not a spin).
async fn relay_loop(
    dir: std::path::PathBuf,
    me: std::path::PathBuf,
    mut outgoing: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut members: std::collections::HashMap<std::path::PathBuf, tokio::net::UnixDatagram> =
        std::collections::HashMap::new();
    while let Some(datagram) = outgoing.recv().await {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let paths: Vec<std::path::PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| *p != me && p.extension().is_some_and(|x| x == "sock"))
            .collect();
        members.retain(|p, _| paths.contains(p));
        for path in paths {
            if !members.contains_key(&path) {
                match tokio::net::UnixDatagram::unbound().and_then(|s| s.connect(&path).map(|()| s))
                {
                    Ok(s) => {
                        members.insert(path.clone(), s);
                    }
                    // Nobody reads it any more: its process is gone.
                    Err(_) => {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                }
            }
            let Some(socket) = members.get(&path) else {
                continue;
            };
            match tokio::time::timeout(RELAY_PATIENCE, socket.send(&datagram)).await {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => {
                    members.remove(&path);
                    let _ = std::fs::remove_file(&path);
                }
                Err(_) => eprintln!(
                    "mcpbench-server: event bus: {} took no update within {RELAY_PATIENCE:?}; dropped for it",
                    path.display()
                ),
            }
        }
    }
}

/// An update as the host bus sends it (and the Redis bus, after the sender's
/// id): the topic (8 bytes, little-endian), the text.
pub(crate) fn encode(event: &Event) -> Vec<u8> {
    let mut d = Vec::with_capacity(8 + event.open.len());
    d.extend_from_slice(&event.topic.to_le_bytes());
    d.extend_from_slice(&event.open);
    d
}

pub(crate) fn decode(d: &[u8]) -> Option<Event> {
    let (topic, open) = d.split_at_checked(8)?;
    Some(Event {
        topic: u64::from_le_bytes(topic.try_into().ok()?),
        open: Bytes::copy_from_slice(open),
    })
}

impl EventBus for HostBus {
    fn publish(&self, event: Arc<Event>) {
        // The relay task ends only with the runtime: a send cannot fail before.
        let _ = self.relay.send(encode(&event));
        self.local.publish(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe()
    }
}

impl Drop for HostBus {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.me);
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

    #[tokio::test]
    async fn an_update_published_on_one_member_of_a_host_bus_reaches_the_others() {
        let dir = std::env::temp_dir().join(format!("mcpbench-bus-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Two members in one process need two names: the second binds beside.
        let a = HostBus::join(&dir, 8).expect("join");
        std::fs::rename(&a.me, dir.join("a.sock")).expect("rename");
        let b = HostBus::join(&dir, 8).expect("join");
        let (mut on_a, mut on_b) = (a.subscribe(), b.subscribe());
        // A stale member: its socket file is there, nobody reads it.
        drop(std::os::unix::net::UnixDatagram::bind(dir.join("gone.sock")).expect("bind"));
        b.publish(Arc::new(
            Event::updated(RESOURCES[1], 3, Some("s")).expect("event"),
        ));
        let here = on_b.recv().await.expect("local");
        let there = tokio::time::timeout(std::time::Duration::from_secs(10), on_a.recv())
            .await
            .expect("in time")
            .expect("remote");
        assert_eq!((there.topic, &there.open), (here.topic, &here.open));
        // The relay sends to the members in the folder's order: the stale one
        // may come after `a`. Wait (bounded) for its removal.
        let gone = dir.join("gone.sock");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while gone.exists() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(!gone.exists(), "the stale member is removed");
        let _ = std::fs::remove_dir_all(&dir);
    }

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

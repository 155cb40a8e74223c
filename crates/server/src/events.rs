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
/// its ring. A socket nobody reads any more (its process gone) is removed on the
/// first send that finds it refused.
pub struct HostBus {
    local: LocalBus,
    dir: std::path::PathBuf,
    me: std::path::PathBuf,
    socket: std::os::unix::net::UnixDatagram,
}

impl HostBus {
    /// Joins the bus in `dir` (made if missing) with a ring of `capacity`
    /// events; starts the task that receives the others' updates (call from a
    /// tokio runtime).
    pub fn join(dir: &std::path::Path, capacity: usize) -> std::io::Result<Arc<HostBus>> {
        std::fs::create_dir_all(dir)?;
        let me = dir.join(format!("{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&me);
        let receiver = std::os::unix::net::UnixDatagram::bind(&me)?;
        receiver.set_nonblocking(true)?;
        let receiver = tokio::net::UnixDatagram::from_std(receiver)?;
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        let bus = Arc::new(HostBus {
            local: LocalBus::new(capacity),
            dir: dir.to_path_buf(),
            me,
            socket,
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
        Ok(bus)
    }
}

/// A datagram of the host bus: the topic (8 bytes, little-endian), the text.
fn encode(event: &Event) -> Vec<u8> {
    let mut d = Vec::with_capacity(8 + event.open.len());
    d.extend_from_slice(&event.topic.to_le_bytes());
    d.extend_from_slice(&event.open);
    d
}

fn decode(d: &[u8]) -> Option<Event> {
    let (topic, open) = d.split_at_checked(8)?;
    Some(Event {
        topic: u64::from_le_bytes(topic.try_into().ok()?),
        open: Bytes::copy_from_slice(open),
    })
}

impl EventBus for HostBus {
    fn publish(&self, event: Arc<Event>) {
        let datagram = encode(&event);
        self.local.publish(event);
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path == self.me || path.extension().is_none_or(|x| x != "sock") {
                continue;
            }
            if let Err(e) = self.socket.send_to(&datagram, &path)
                && matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                )
            {
                let _ = std::fs::remove_file(&path);
            }
        }
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
        assert!(
            !dir.join("gone.sock").exists(),
            "the stale member is removed"
        );
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

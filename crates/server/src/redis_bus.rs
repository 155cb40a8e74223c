//! The event bus of several server nodes: Redis pub/sub.
//!
//! Every member subscribes to one channel ([`CHANNEL`]) and publishes each update
//! there as one message: the member's id (8 bytes), then the update as the host
//! bus encodes it (topic, text). A member puts an update on its own ring at once
//! and skips its own messages when Redis echoes them back, so its local streams
//! never wait for the round trip; the others get it from Redis.
//!
//! Redis delivers each message at most once and keeps nothing for a subscriber
//! that is away (pub/sub, not streams), which is what `subscriptions/listen`
//! promises too: missed events are not replayed. A lost connection is said on
//! stderr and reopened (once a second); updates published meanwhile reach this
//! node's streams only.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::broadcast;

use crate::events::{Event, EventBus, LocalBus, decode, encode};

/// The channel every member publishes on and subscribes to.
pub const CHANNEL: &str = "mcpbench:events";

/// Longest a connection to Redis may take to open (loopback or one LAN hop).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Wait before reopening a lost connection.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// A member of the Redis bus at one URL.
pub struct RedisBus {
    local: LocalBus,
    relay: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
}

impl RedisBus {
    /// Joins the bus at `url` (`redis://HOST:PORT`) with a ring of `capacity`
    /// events: subscribed (confirmed by Redis) and able to publish when this
    /// returns. Call from a tokio runtime.
    pub async fn join(url: &str, capacity: usize) -> Result<Arc<RedisBus>, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let subscriber = subscribe(&client).await?;
        let publisher = publisher(&client).await?;
        let me = member_id();
        let (relay, outgoing) = tokio::sync::mpsc::unbounded_channel();
        let bus = Arc::new(RedisBus {
            local: LocalBus::new(capacity),
            relay,
        });
        tokio::spawn(receive_loop(
            client.clone(),
            subscriber,
            me,
            Arc::downgrade(&bus),
        ));
        tokio::spawn(relay_loop(client, publisher, me, outgoing));
        Ok(bus)
    }
}

impl EventBus for RedisBus {
    fn publish(&self, event: Arc<Event>) {
        // The relay task ends only with the runtime: a send cannot fail before.
        let _ = self.relay.send(encode(&event));
        self.local.publish(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe()
    }
}

/// An id for this member that no other process (here or on another node) has:
/// the process id and the clock's nanoseconds.
fn member_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 40)
}

async fn subscribe(client: &redis::Client) -> Result<redis::aio::PubSub, String> {
    let open = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(CHANNEL).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, open).await {
        Ok(r) => r.map_err(|e| format!("subscribing to {CHANNEL}: {e}")),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

async fn publisher(client: &redis::Client) -> Result<redis::aio::MultiplexedConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection()).await {
        Ok(r) => r.map_err(|e| format!("opening the publishing connection: {e}")),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// Puts the other members' updates on this member's ring; reopens the
/// subscription when it is lost. Ends when the bus is dropped.
async fn receive_loop(
    client: redis::Client,
    first: redis::aio::PubSub,
    me: u64,
    bus: std::sync::Weak<RedisBus>,
) {
    let mut subscriber = Some(first);
    loop {
        let Some(pubsub) = subscriber.take() else {
            tokio::time::sleep(RECONNECT_EVERY).await;
            if bus.strong_count() == 0 {
                return;
            }
            match subscribe(&client).await {
                Ok(s) => {
                    eprintln!("mcpbench-server: event bus: Redis subscription reopened");
                    subscriber = Some(s);
                }
                Err(e) => eprintln!("mcpbench-server: event bus: Redis: {e}"),
            }
            continue;
        };
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let Some(bus) = bus.upgrade() else { return };
            let payload = message.get_payload_bytes();
            let Some((from, update)) = payload.split_at_checked(8) else {
                continue;
            };
            if from == me.to_le_bytes() {
                continue;
            }
            if let Some(event) = decode(update) {
                bus.local.publish(Arc::new(event));
            }
        }
        eprintln!(
            "mcpbench-server: event bus: the Redis subscription was lost; reopening every {RECONNECT_EVERY:?} (updates from other nodes are missed meanwhile)"
        );
    }
}

/// Publishes this member's updates, in order, over one connection; reopens it
/// when it fails (the update that failed is said on stderr and not retried:
/// pub/sub keeps nothing for late subscribers either).
async fn relay_loop(
    client: redis::Client,
    first: redis::aio::MultiplexedConnection,
    me: u64,
    mut outgoing: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut connection = Some(first);
    while let Some(update) = outgoing.recv().await {
        if connection.is_none() {
            match publisher(&client).await {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    eprintln!(
                        "mcpbench-server: event bus: Redis: {e}; an update reached this node only"
                    );
                    continue;
                }
            }
        }
        let Some(c) = connection.as_mut() else {
            continue;
        };
        let mut message = Vec::with_capacity(8 + update.len());
        message.extend_from_slice(&me.to_le_bytes());
        message.extend_from_slice(&update);
        let sent: redis::RedisResult<usize> = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(message)
            .query_async(c)
            .await;
        if let Err(e) = sent {
            eprintln!(
                "mcpbench-server: event bus: Redis PUBLISH: {e}; an update reached this node only"
            );
            connection = None;
        }
    }
}

/// A Redis server of this process's own, for tests and benchmark runs: Debian's
/// `redis-server` on a Unix socket in a fresh temporary folder (no TCP port, no
/// persistence), stopped and removed when dropped.
pub struct LocalRedis {
    child: std::process::Child,
    dir: std::path::PathBuf,
    socket: std::path::PathBuf,
}

/// Longest `redis-server` may take to say it is ready.
const REDIS_START_LIMIT: Duration = Duration::from_secs(10);

impl LocalRedis {
    /// Starts `redis-server` (from `PATH`) on a Unix socket and waits until it
    /// says it accepts connections. Refused, saying what to install, when it is
    /// not there.
    pub fn start() -> Result<LocalRedis, String> {
        LocalRedis::spawn(0)
    }

    /// The same, listening on `127.0.0.1:port` too (for `redis-benchmark` over
    /// loopback TCP, as clients of an MCP server over TCP are).
    pub fn start_tcp(port: u16) -> Result<LocalRedis, String> {
        LocalRedis::spawn(port)
    }

    fn spawn(port: u16) -> Result<LocalRedis, String> {
        use std::io::BufRead;
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // In the temporary folder: a Unix socket's path has at most 107 bytes.
        let dir = std::env::temp_dir().join(format!("mcpbench-redis-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let socket = dir.join("redis.sock");
        let mut child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--unixsocket"])
            .arg(&socket)
            .args(["--unixsocketperm", "700", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--dir"])
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run redis-server ({e}): install it (Debian: apt-get install redis-server)"
                )
            })?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err("redis-server: no stdout".into());
        };
        // Its log is read on a thread of its own: the ready line is the signal,
        // and the rest must keep being drained.
        let (ready, is_ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if line
                    .to_ascii_lowercase()
                    .contains("ready to accept connections")
                    && let Some(r) = ready.take()
                {
                    let _ = r.send(());
                }
            }
        });
        let redis = LocalRedis { child, dir, socket };
        match is_ready.recv_timeout(REDIS_START_LIMIT) {
            Ok(()) => Ok(redis),
            Err(_) => Err(format!(
                "redis-server did not say it was ready within {REDIS_START_LIMIT:?}"
            )),
        }
    }

    /// The URL to give `--event-bus` (`redis+unix:///...`).
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::RESOURCES;

    async fn next(rx: &mut broadcast::Receiver<Arc<Event>>) -> Arc<Event> {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("in time")
            .expect("an update")
    }

    #[tokio::test]
    async fn an_update_published_on_one_member_reaches_the_other_once_and_its_own_once() {
        let redis = LocalRedis::start().expect("redis-server (apt-get install redis-server)");
        let a = RedisBus::join(&redis.url(), 8).await.expect("join a");
        let b = RedisBus::join(&redis.url(), 8).await.expect("join b");
        let (mut on_a, mut on_b) = (a.subscribe(), b.subscribe());
        b.publish(Arc::new(
            Event::updated(RESOURCES[1], 3, Some("s")).expect("event"),
        ));
        a.publish(Arc::new(
            Event::updated(RESOURCES[2], 4, None).expect("event"),
        ));
        // Each member: its own update at once, the other's through Redis.
        let mut seen_a = [next(&mut on_a).await.topic, next(&mut on_a).await.topic];
        let mut seen_b = [next(&mut on_b).await.topic, next(&mut on_b).await.topic];
        seen_a.sort();
        seen_b.sort();
        assert_eq!(seen_a, [1 << 1, 1 << 2]);
        assert_eq!(seen_b, [1 << 1, 1 << 2]);
        // A marker through Redis: anything echoed back (a member's own update
        // twice) would arrive before it.
        let c = RedisBus::join(&redis.url(), 8).await.expect("join c");
        c.publish(Arc::new(
            Event::updated(RESOURCES[3], 5, None).expect("event"),
        ));
        assert_eq!(next(&mut on_a).await.topic, 1 << 3, "no echo on a");
        assert_eq!(next(&mut on_b).await.topic, 1 << 3, "no echo on b");
    }

    #[tokio::test]
    async fn a_bus_nobody_answers_at_is_refused_with_its_reason() {
        let dir = std::env::temp_dir().join(format!("mcpbench-no-redis-{}", std::process::id()));
        let url = format!("redis+unix://{}/none.sock", dir.display());
        let e = RedisBus::join(&url, 8).await.err().expect("refused");
        assert!(e.contains("subscribing"), "{e}");
    }
}

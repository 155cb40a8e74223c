//! The listener side of `listen`: N streams opened (from a source address, when
//! given) and held, each delivery timed against the trigger's stamp; what they
//! got, as one [`Part`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use mcpbench_files::listen::ListenPart;
use mcpbench_files::scenario::ErrorCount;
use mcpbench_files::shard::encode_histogram;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::drive::mono_ns;
use super::stream::{Seen, SseReader};
use crate::cli::Protocol;
use crate::client_error::ClientError;
use crate::counters::histogram;
use crate::http_client::HttpMcp;
use crate::socket::bind_source;

/// What every listener task shares.
pub(super) struct Shared {
    uri: String,
    delivery: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    /// Woken at each delivery: the end of the run waits on it.
    progress: Notify,
    failures: Mutex<BTreeMap<String, u64>>,
    ended: AtomicU64,
}

impl Shared {
    pub(super) fn fail(&self, why: String) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *f.entry(why).or_default() += 1;
    }
}

/// Where to connect, as the HTTP client needs it.
#[derive(Clone)]
pub(super) struct Endpoint {
    pub(super) addr: SocketAddr,
    pub(super) authority: String,
    pub(super) path: String,
    pub(super) protocol: Protocol,
    /// The local address to connect from (`None`: the kernel's choice).
    pub(super) source: Option<IpAddr>,
}

impl Endpoint {
    /// The endpoint of `target` (HTTP), connected to from `source`.
    pub(super) fn of(
        target: &crate::target::Target,
        plan: &crate::cli::ListenPlan,
        source: Option<IpAddr>,
    ) -> Result<Endpoint, crate::error::LoadError> {
        match target {
            crate::target::Target::Http {
                addr,
                authority,
                path,
            } => Ok(Endpoint {
                addr: *addr,
                authority: authority.clone(),
                path: path.clone(),
                protocol: plan.protocol,
                source,
            }),
            other => Err(crate::error::LoadError::Plan(format!(
                "--target {other}: not HTTP"
            ))),
        }
    }

    /// A connection with its MCP conversation started.
    pub(super) async fn client(&self) -> Result<HttpMcp, ClientError> {
        let socket_error = |op: &str, e: std::io::Error| ClientError::Socket {
            op: op.into(),
            kind: e.kind(),
        };
        let stream = match self.source {
            Some(ip) => bind_source(ip)
                .map_err(|e| socket_error(&format!("bind {ip}"), e))?
                .connect(self.addr)
                .await
                .map_err(|e| socket_error("connect", e))?,
            None => tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| socket_error("connect", e))?,
        };
        let _ = stream.set_nodelay(true);
        let mut c = HttpMcp::handshake_http(stream, &self.authority, &self.path).await?;
        c.start(self.protocol).await?;
        Ok(c)
    }
}

/// Longest one listener may take to open (connect, start, listen, its
/// acknowledgement).
const OPEN_LIMIT: Duration = Duration::from_secs(60);

/// The listeners of one process, open and held.
pub(super) struct Listeners {
    shared: Arc<Shared>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<Option<u64>>>,
    /// Held (opened and acknowledged).
    pub(super) held: u64,
    /// Not opened.
    pub(super) failed: u64,
    /// Seconds it took.
    pub(super) open_s: f64,
}

impl Listeners {
    /// Opens `count` listeners of `uri` on `endpoint`, `concurrency` at a time,
    /// with a progress line every 2 s; returns once each is held or failed.
    pub(super) async fn open(
        endpoint: &Endpoint,
        uri: &str,
        count: u64,
        concurrency: usize,
    ) -> Listeners {
        let shared = Arc::new(Shared {
            uri: uri.to_string(),
            delivery: Mutex::new(histogram()),
            delivered: AtomicU64::new(0),
            progress: Notify::new(),
            failures: Mutex::new(BTreeMap::new()),
            ended: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        let opened = Arc::new(AtomicU64::new(0));
        let open_done = Arc::new(Notify::new());
        let permits = Arc::new(Semaphore::new(concurrency));
        let opening = Instant::now();
        let mut tasks = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let (endpoint, shared, stop) = (endpoint.clone(), shared.clone(), stop.clone());
            let (opened, open_done, permits) = (opened.clone(), open_done.clone(), permits.clone());
            tasks.push(tokio::spawn(async move {
                let permit = permits.acquire_owned().await;
                let stream = tokio::time::timeout(OPEN_LIMIT, open_listener(&endpoint, &shared))
                    .await
                    .unwrap_or_else(|_| Err(format!("not open within {OPEN_LIMIT:?}")));
                drop(permit);
                opened.fetch_add(1, Ordering::Relaxed);
                open_done.notify_one();
                match stream {
                    Ok(held) => held.hold(&shared, &stop).await,
                    Err(why) => {
                        shared.fail(why);
                        None
                    }
                }
            }));
        }
        let mut last_line = Instant::now();
        while opened.load(Ordering::Relaxed) < count {
            let _ = tokio::time::timeout(Duration::from_secs(1), open_done.notified()).await;
            if last_line.elapsed() >= Duration::from_secs(2) {
                println!(
                    "listen: {} of {count} listeners opened",
                    opened.load(Ordering::Relaxed)
                );
                last_line = Instant::now();
            }
        }
        let failed = shared.failure_count();
        Listeners {
            shared,
            stop,
            tasks,
            held: count - failed,
            failed,
            open_s: opening.elapsed().as_secs_f64(),
        }
    }

    /// Records why something failed (a trigger, a control call).
    pub(super) fn fail(&self, why: String) {
        self.shared.fail(why);
    }

    /// Waits until `expected` deliveries are in or `until` has passed.
    pub(super) async fn wait_for(&self, expected: u64, until: Instant) {
        while self.shared.delivered.load(Ordering::Relaxed) < expected && Instant::now() < until {
            let _ = tokio::time::timeout_at(until, self.shared.progress.notified()).await;
        }
    }

    /// Ends every stream; what they got, `acked` updates being due to each.
    pub(super) async fn finish(self, acked: u64) -> (ListenPart, Histogram<u64>) {
        self.stop.cancel();
        let mut missed = 0u64;
        for t in self.tasks {
            if let Ok(Some(got)) = t.await {
                missed += acked.saturating_sub(got);
            }
        }
        let delivery = self
            .shared
            .delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut failures: Vec<ErrorCount> = self
            .shared
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(why, count)| ErrorCount {
                why: why.clone(),
                count: *count,
            })
            .collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.count));
        let part = ListenPart {
            listeners: self.held,
            failed: self.failed,
            failures,
            delivered: delivery.len(),
            missed,
            ended: self.shared.ended.load(Ordering::Relaxed),
            histogram: encode_histogram(&delivery),
        };
        (part, delivery)
    }
}

impl Shared {
    fn failure_count(&self) -> u64 {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }
}

/// An open stream, acknowledged (2026-07-28) or with its head in (GET).
struct Held {
    /// Kept: dropping it would close the connection.
    _client: HttpMcp,
    body: hyper::body::Incoming,
    reader: SseReader,
    subscription: Option<u64>,
}

/// Opens one listener: connect, start, listen; for `subscriptions/listen`, waits
/// for its acknowledgement (the first message, carrying the request's id).
async fn open_listener(endpoint: &Endpoint, shared: &Shared) -> Result<Held, String> {
    let mut client = endpoint.client().await.map_err(|e| e.to_string())?;
    let (status, id, body) = client
        .listen(&shared.uri)
        .await
        .map_err(|e| format!("listen: {e}"))?;
    if status != 200 {
        return Err(format!("listen: HTTP {status}"));
    }
    let mut held = Held {
        _client: client,
        body,
        reader: SseReader::default(),
        subscription: id,
    };
    if id.is_some() {
        match tokio::time::timeout(Duration::from_secs(30), held.next()).await {
            Ok(Some(Seen::Acknowledged(got))) if got == id => {}
            Ok(Some(Seen::Acknowledged(got))) => {
                return Err(format!(
                    "acknowledged with subscription id {got:?}, not the request's {id:?}"
                ));
            }
            Ok(Some(other)) => {
                return Err(format!(
                    "the first message is not the acknowledgement: {other:?}"
                ));
            }
            Ok(None) => return Err("the stream ended before its acknowledgement".into()),
            Err(_) => return Err("no acknowledgement within 30 s".into()),
        }
    }
    Ok(held)
}

impl Held {
    /// The next event, or `None` when the stream has ended.
    async fn next(&mut self) -> Option<Seen> {
        loop {
            if let Some(seen) = self.reader.next_event() {
                return Some(seen);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.reader.push(&data);
                    }
                }
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Reads deliveries until `stop`; returns how many updates of the resource
    /// arrived (`None`: none expected, the stream is not counted).
    async fn hold(mut self, shared: &Shared, stop: &CancellationToken) -> Option<u64> {
        let mut got = 0u64;
        loop {
            let seen = tokio::select! {
                biased;
                _ = stop.cancelled() => return Some(got),
                seen = self.next() => seen,
            };
            match seen {
                Some(Seen::Updated {
                    uri,
                    stamp,
                    subscription,
                }) => {
                    let now = mono_ns();
                    if uri != shared.uri || subscription != self.subscription {
                        shared.fail(format!(
                            "an update of {uri:?} for subscription {subscription:?} on the stream of {:?}",
                            self.subscription
                        ));
                        continue;
                    }
                    let Some(stamp) = stamp else {
                        shared.fail("an update without a numeric mcpbench/stamp".into());
                        continue;
                    };
                    got += 1;
                    {
                        let mut h = shared.delivery.lock().unwrap_or_else(|p| p.into_inner());
                        let _ = h.record(now.saturating_sub(stamp).max(1));
                    }
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    shared.progress.notify_one();
                }
                Some(Seen::Malformed(why)) => shared.fail(format!("an event not read: {why}")),
                Some(_) => {}
                None => {
                    shared.ended.fetch_add(1, Ordering::Relaxed);
                    // What it got counts; the rest is missed.
                    stop.cancelled().await;
                    return Some(got);
                }
            }
        }
    }
}

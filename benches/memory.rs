//! Test 6, memory: allocator-counted live bytes before, while loaded and after
//! teardown of each component, and the bytes each entry, session, queued message
//! and connection costs (docs/method.md: leaks by allocation counting, not RSS; RSS
//! reported beside, labelled). Not a Criterion bench: it writes
//! `target/mcpbench/memory.json` (schema `mcpbench.memory/1`) and prints a table.
//!
//! Each workload runs three times: once to pay for one-time allocations (lazy
//! statics, tokio's I/O slab pages, which tokio keeps for reuse), then with N items
//! and with 2N items. The leak is the slope, (residue at 2N - residue at N) / N
//! bytes per item: anything kept per item grows it by at least one byte, while a
//! buffer of the runtime that grows to a new high-water mark in one of the runs
//! (seen: 0 to 288 B after 2,000 connections, varying run to run) does not scale
//! with N and reads as a fraction of a byte.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mcpbench::alloc::{self, Counting};
use mcpbench::env::Environment;
use mcpbench::files::{MEMORY_SCHEMA, MemoryComponent, MemoryFile, Snapshot};
use mcpbench::harness::Harness;
use mcpbench::messages::{new_session, tool_call};
use mcpbench::results;
use mcpbench_netio::{Conn, Handler, Message, MessageKind, Server, ServerConfig};
use mcpbench_pool::{PoolConfig, PoolSet, TcpManager};
use mcpbench_queue::Mailbox;
use mcpbench_registry::{Registry, RouteKey};
use mcpbench_session::SessionStore;

#[global_allocator]
static ALLOC: Counting = Counting;

fn snapshot() -> Snapshot {
    Snapshot {
        live_bytes: alloc::live_bytes(),
        rss_bytes: alloc::rss_bytes().unwrap_or(0),
    }
}

/// Snapshots taken by one workload run.
#[derive(Default)]
struct Probe {
    before: Option<Snapshot>,
    marks: Vec<(&'static str, Snapshot)>,
    after: Option<Snapshot>,
}

impl Probe {
    /// Room for the marks is made here, so marking allocates nothing.
    fn start(&mut self) {
        self.marks.reserve(4);
        self.before = Some(snapshot());
    }
    fn mark(&mut self, name: &'static str) {
        self.marks.push((name, snapshot()));
    }
    fn end(&mut self) {
        self.after = Some(snapshot());
    }
}

/// Live bytes after teardown minus before, of one run.
fn residue(id: &str, p: &Probe) -> (Snapshot, Snapshot) {
    let (Some(before), Some(after)) = (p.before, p.after) else {
        panic!("workload {id} must call start() and end()");
    };
    (before, after)
}

/// Runs `workload` with `items` (discarded: one-time allocations), `items` and
/// `2 * items`; `ops` is the operations of the run with `items`.
fn measure(
    id: &str,
    item: &str,
    items: u64,
    ops: u64,
    mut workload: impl FnMut(&mut Probe, u64),
) -> MemoryComponent {
    workload(&mut Probe::default(), items);
    let mut p = Probe::default();
    workload(&mut p, items);
    let (before, after) = residue(id, &p);
    let mut twice = Probe::default();
    workload(&mut twice, 2 * items);
    let (before_2n, after_2n) = residue(id, &twice);
    let leaked = after.live_bytes - before.live_bytes;
    let leaked_2n = after_2n.live_bytes - before_2n.live_bytes;
    let per_item = p
        .marks
        .iter()
        .map(|(n, s)| {
            (
                n.to_string(),
                (s.live_bytes - before.live_bytes) as f64 / items as f64,
            )
        })
        .collect();
    MemoryComponent {
        id: id.to_string(),
        item: item.to_string(),
        items,
        ops,
        before,
        loaded: p
            .marks
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect(),
        bytes_per_item: per_item,
        after,
        leaked_bytes: leaked,
        leaked_bytes_2n: Some(leaked_2n),
        leak_per_item: Some((leaked_2n - leaked) as f64 / items as f64),
    }
}

fn registry(p: &mut Probe, n: u64) {
    let names: Vec<String> = (0..n)
        .map(|i| format!("tools/server_{}/tool_{i}", i % 128))
        .collect();
    let mailbox = Arc::new(Mailbox::<u64>::bounded(n as usize));
    p.start();
    let table = Registry::new();
    let keys: Vec<RouteKey> = names.iter().map(|s| RouteKey::new(s)).collect();
    for k in &keys {
        table
            .register(k.clone(), mailbox.clone())
            .expect("fresh key");
    }
    p.mark("loaded");
    for (i, k) in keys.iter().enumerate() {
        table.route(k, i as u64).expect("room");
    }
    while mailbox.try_pop().is_some() {}
    for k in &keys {
        table.unregister(k).expect("registered");
    }
    drop((table, keys));
    p.end();
}

fn session(p: &mut Probe, n: u64) {
    let t0 = Instant::now();
    p.start();
    let store = SessionStore::new(n as usize);
    let ids: Vec<_> = (0..n)
        .map(|_| store.create(new_session(), t0).expect("room"))
        .collect();
    p.mark("loaded");
    for id in &ids {
        store.update(id, |s| s.requests += 1).expect("live");
    }
    assert_eq!(
        store.evict_idle(t0 + Duration::from_secs(301), Duration::from_secs(300)),
        n as usize
    );
    drop((store, ids));
    p.end();
}

fn queue(p: &mut Probe, n: u64) {
    p.start();
    let q = Mailbox::unbounded();
    for i in 0..n {
        q.try_push(i).expect("unbounded");
    }
    p.mark("loaded");
    let mut popped = 0;
    while q.try_pop().is_some() {
        popped += 1;
    }
    assert_eq!(popped, n);
    drop(q);
    p.end();
}

/// A loopback upstream on a plain thread, holding what it accepts in a list sized
/// up front, so it allocates nothing while a measurement runs.
fn holding_upstream(max: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        let mut held = Vec::with_capacity(max);
        while let Ok((s, _)) = listener.accept() {
            if held.len() == held.capacity() {
                held.clear();
            }
            held.push(s);
        }
    });
    addr
}

fn pool(
    rt: &tokio::runtime::Runtime,
    max_pools: usize,
    ops_per_pool: u64,
) -> impl FnMut(&mut Probe, u64) {
    let upstream = holding_upstream(max_pools * 4);
    move |p, pools| {
        let pools = pools as usize;
        p.start();
        rt.block_on(async {
            let set = PoolSet::new(
                (0..pools).map(|i| (i, TcpManager::new(upstream))),
                &PoolConfig::default(),
            )
            .expect("config");
            for i in 0..pools {
                drop(set.checkout(&i).await.expect("connect"));
            }
            p.mark("loaded");
            for i in 0..pools {
                for _ in 0..ops_per_pool {
                    drop(set.checkout(&i).await.expect("checkout"));
                }
            }
            set.close();
            drop(set);
            // tokio frees deregistered sockets' bookkeeping on a later driver turn.
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        p.end();
    }
}

struct Echo;

impl Handler for Echo {
    async fn handle(&self, msg: Message, _conn: &Conn) -> Option<Bytes> {
        (msg.kind() == MessageKind::Request).then(|| msg.into_frame())
    }
}

/// Waits (bounded) until `done()`; the sleep allocates nothing.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn connections(rt: &tokio::runtime::Runtime, max: usize) -> impl FnMut(&mut Probe, u64) {
    let server = rt
        .block_on(Server::bind(
            "127.0.0.1:0",
            Arc::new(Echo),
            ServerConfig::default(),
        ))
        .expect("bind loopback");
    let mut request = tool_call(1, 1024);
    request.push(b'\n');
    let mut reply = vec![0u8; request.len()];
    let mut clients: Vec<TcpStream> = Vec::with_capacity(max);
    move |p, n| {
        let n = n as usize;
        assert!(n <= max, "room for {max} clients made up front, {n} asked");
        let accepted = server.stats().accepted;
        p.start();
        for _ in 0..n {
            clients.push(TcpStream::connect(server.local_addr()).expect("connect"));
        }
        wait_for("the server to accept", || {
            server.stats().accepted == accepted + n as u64
        });
        // Let every connection task reach its first wait for input.
        std::thread::sleep(Duration::from_millis(200));
        p.mark("idle_never_used");
        for c in &mut clients {
            c.write_all(&request).expect("send");
            c.read_exact(&mut reply).expect("reply");
        }
        assert_eq!(reply, request);
        std::thread::sleep(Duration::from_millis(200));
        p.mark("idle_after_one_request");
        clients.clear();
        wait_for("the server to close", || {
            server.stats().closed == accepted + n as u64
        });
        // tokio frees deregistered sockets' bookkeeping on a later driver turn.
        std::thread::sleep(Duration::from_millis(200));
        p.end();
    }
}

/// Raises this process's soft open-file limit to its hard limit and returns it
/// (the netio component holds a client and a server socket per connection, 2N of
/// them at once).
fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on this process with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        let wanted = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
            limit = wanted;
        }
    }
    limit.rlim_cur
}

fn main() {
    let h = Harness::from_env();
    let quick = h.quick();
    let (n, conns, pools, per_pool) = if quick {
        // Connections stay at 2,000: the runtime's residue (up to ~300 B) must be
        // a fraction of a byte per connection for the slope to tell.
        (10_000, 2_000, 8, 100)
    } else {
        (100_000, 2_000, 128, 1000)
    };
    // 2N connections at once, a socket on each side, and room for the rest.
    let files = raise_open_file_limit();
    let conns = if 4 * conns as u64 + 256 > files {
        let fit = (files.saturating_sub(256) / 4) as usize;
        println!(
            "memory: the open-file limit is {files}: memory/netio runs with {fit} connections, not {conns} (its slope is the noisier for it)"
        );
        fit.max(1)
    } else {
        conns
    };
    let ids = [
        "memory/registry/100k",
        "memory/session/100k",
        "memory/queue/100k",
        "memory/pool/128x1000",
        "memory/netio/2000conns",
    ];
    if h.list(&ids) {
        return;
    }
    if h.args.profile_time.is_some() {
        println!("memory: nothing to profile (allocation counting, not timing)");
        return;
    }
    assert!(
        alloc::installed(),
        "the counting allocator must be the global allocator"
    );
    let rt = mcpbench::runtime(2);
    let mut components = Vec::new();
    for id in ids.iter().filter(|id| h.selected(id)) {
        let started = Instant::now();
        let c = match *id {
            "memory/registry/100k" => measure(id, "route", n, n, registry),
            "memory/session/100k" => measure(id, "session", n, n, session),
            "memory/queue/100k" => measure(id, "queued message", n, n, queue),
            "memory/pool/128x1000" => measure(
                id,
                "pooled connection",
                pools as u64,
                pools as u64 * per_pool,
                pool(&rt, 2 * pools, per_pool),
            ),
            _ => measure(
                id,
                "connection",
                conns as u64,
                conns as u64,
                connections(&rt, 2 * conns),
            ),
        };
        let per: Vec<String> = c
            .bytes_per_item
            .iter()
            .map(|(k, v)| format!("{k} {v:.0} B/{}", c.item))
            .collect();
        println!(
            "{id:<24} residue {:>5} B at {} {item}s, {:>5} B at twice that: leak {:.2} B per {item}  {}  (RSS {:.1} MiB; {:.1} s)",
            c.leaked_bytes,
            c.items,
            c.leaked_bytes_2n.unwrap_or(0),
            c.leak_per_item.unwrap_or(0.0),
            per.join(", "),
            c.after.rss_bytes as f64 / 1048576.0,
            started.elapsed().as_secs_f64(),
            item = c.item,
        );
        components.push(c);
    }
    if components.is_empty() {
        return;
    }
    let path = results::results_dir().join("memory.json");
    let file = MemoryFile {
        schema: MEMORY_SCHEMA.to_string(),
        environment: Environment::capture(),
        components,
    };
    match results::write_json(&path, &file) {
        Ok(()) => println!("memory: wrote {}", path.display()),
        Err(e) => {
            eprintln!("memory: could not write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}

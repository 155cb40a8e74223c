//! Test 2, connection pool: the seed's 128 pools x 1000 checkout/return (the seed
//! summed a list; here: real pools of real loopback TCP connections), one task
//! alone, and contention (128 tasks on one pool of 16) with wait-time percentiles.
//! Ceilings, same task layout: deadpool's unmanaged pool get/drop (the raw
//! library), and deadpool's managed pool with a do-nothing manager (what the
//! managed machinery itself costs, without the TCP health check).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use deadpool::unmanaged;
use hdrhistogram::Histogram;
use mcpbench::group::{BATCH, Group};
use mcpbench::latency::{Method, histogram};
use mcpbench::parallel::{repeat, run_tasks};
use mcpbench::workloads::NoopManager;
use mcpbench_pool::{Pool, PoolConfig, PoolSet, TcpManager};
use tokio::runtime::Runtime;

const POOLS: usize = 128;
const OPS_PER_POOL: u64 = 1000;
const CONTENDERS: usize = 128;
const CONTENDED_SIZE: usize = 16;
const OPS_PER_CONTENDER: u64 = 100;
const ALONE_OPS: u64 = 100_000;

/// An upstream that accepts connections and holds them open, on loopback.
fn upstream(rt: &Runtime) -> SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        addr
    })
}

fn unmanaged_pool(size: usize) -> unmanaged::Pool<u64> {
    unmanaged::Pool::from((0..size as u64).collect::<Vec<_>>())
}

fn benches(c: &mut Criterion) {
    let rt = mcpbench::runtime(2);
    let addr = upstream(&rt);
    let config = PoolConfig::default();

    // The seed's layout: 128 pools, one task per pool.
    let set = Arc::new(
        PoolSet::new((0..POOLS).map(|i| (i, TcpManager::new(addr))), &config)
            .expect("valid config"),
    );
    rt.block_on(async {
        for i in 0..POOLS {
            drop(
                set.checkout(&i)
                    .await
                    .expect("connect to the loopback upstream"),
            );
        }
    });
    let bare: Arc<Vec<unmanaged::Pool<u64>>> =
        Arc::new((0..POOLS).map(|_| unmanaged_pool(1)).collect());
    let noops = Arc::new(
        PoolSet::new((0..POOLS).map(|i| (i, NoopManager)), &config).expect("valid config"),
    );

    let mut g = Group::new(c, "pool");
    g.elements(POOLS as u64 * OPS_PER_POOL);
    g.custom(
        "checkout_return",
        "128x1000",
        Method::BatchMean(BATCH),
        |iters, rec| {
            repeat(iters, rec, || {
                let set = set.clone();
                run_tasks(&rt, POOLS, OPS_PER_POOL, move |t, _| {
                    let set = set.clone();
                    async move { drop(set.checkout(&t).await.expect("checkout")) }
                })
            })
        },
    );
    g.custom(
        "ceiling_managed_noop",
        "128x1000",
        Method::BatchMean(BATCH),
        |iters, rec| {
            repeat(iters, rec, || {
                let noops = noops.clone();
                run_tasks(&rt, POOLS, OPS_PER_POOL, move |t, _| {
                    let noops = noops.clone();
                    async move { drop(noops.checkout(&t).await.expect("checkout")) }
                })
            })
        },
    );
    g.custom(
        "ceiling_unmanaged",
        "128x1000",
        Method::BatchMean(BATCH),
        |iters, rec| {
            repeat(iters, rec, || {
                let bare = bare.clone();
                run_tasks(&rt, POOLS, OPS_PER_POOL, move |t, _| {
                    let bare = bare.clone();
                    async move { drop(bare[t].get().await.expect("get")) }
                })
            })
        },
    );

    // One task alone on one pool.
    g.elements(ALONE_OPS);
    let alone = Pool::new(TcpManager::new(addr), &config).expect("valid config");
    let bare_alone = unmanaged_pool(1);
    g.custom(
        "checkout_return_1task",
        "100k",
        Method::BatchMean(BATCH),
        |iters, rec| {
            repeat(iters, rec, || {
                let alone = alone.clone();
                run_tasks(&rt, 1, ALONE_OPS, move |_, _| {
                    let alone = alone.clone();
                    async move { drop(alone.checkout().await.expect("checkout")) }
                })
            })
        },
    );
    // The pool's in-memory path: one task on the caller's thread.
    g.workload(mcpbench::workloads::get(
        "pool/ceiling_managed_noop_1task/100k",
    ));
    g.elements(ALONE_OPS);
    g.custom(
        "ceiling_unmanaged_1task",
        "100k",
        Method::BatchMean(BATCH),
        |iters, rec| {
            repeat(iters, rec, || {
                let bare = bare_alone.clone();
                run_tasks(&rt, 1, ALONE_OPS, move |_, _| {
                    let bare = bare.clone();
                    async move { drop(bare.get().await.expect("get")) }
                })
            })
        },
    );

    // Contention: 128 tasks, 16 connections; each holds its connection across a
    // yield (a stand-in for using it). Latency = wait for a checkout, per op.
    g.elements(CONTENDERS as u64 * OPS_PER_CONTENDER);
    let small = Pool::new(
        TcpManager::new(addr),
        &PoolConfig {
            max_size: CONTENDED_SIZE,
            ..config
        },
    )
    .expect("valid config");
    let bare_small = unmanaged_pool(CONTENDED_SIZE);
    g.custom(
        "contention",
        "128tasks_16conns",
        Method::PerOp,
        |iters, rec| {
            repeat(iters, rec, || {
                let small = small.clone();
                contended(&rt, move || {
                    let small = small.clone();
                    async move {
                        let t = Instant::now();
                        let conn = small.checkout().await.expect("checkout");
                        let waited = t.elapsed();
                        tokio::task::yield_now().await;
                        drop(conn);
                        waited
                    }
                })
            })
        },
    );
    g.custom(
        "ceiling_unmanaged_contention",
        "128tasks_16conns",
        Method::PerOp,
        |iters, rec| {
            repeat(iters, rec, || {
                let bare = bare_small.clone();
                contended(&rt, move || {
                    let bare = bare.clone();
                    async move {
                        let t = Instant::now();
                        let obj = bare.get().await.expect("get");
                        let waited = t.elapsed();
                        tokio::task::yield_now().await;
                        drop(obj);
                        waited
                    }
                })
            })
        },
    );
    g.finish();
}

/// 128 tasks x 100 operations, each returning its own checkout wait.
fn contended<F, Fut>(rt: &Runtime, op: F) -> (Duration, Vec<Histogram<u64>>)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Duration> + Send,
{
    let op = Arc::new(op);
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..CONTENDERS)
            .map(|_| {
                let op = op.clone();
                tokio::spawn(async move {
                    let mut h = histogram();
                    for _ in 0..OPS_PER_CONTENDER {
                        h.saturating_record((op().await.as_nanos() as u64).max(1));
                    }
                    h
                })
            })
            .collect();
        let mut hists = Vec::with_capacity(CONTENDERS);
        for h in handles {
            hists.push(h.await.expect("bench task panicked"));
        }
        (start.elapsed(), hists)
    })
}

criterion_group! { name = pool; config = mcpbench::criterion(); targets = benches }
criterion_main!(pool);

//! Test 1, registry: the seed's 100K registrations + 100K lookups, plus routing
//! into mailboxes, the in-flight request table, and lookups on 2 threads. Ceiling:
//! a bare `DashMap` doing the same job the same way: the same names, each hashed
//! once with ahash when its key is made, compared by pointer first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dashmap::DashMap;
use mcpbench::ceilings::{PassThroughState, PreHashed};
use mcpbench::group::{BATCH, Group};
use mcpbench::latency::Method;
use mcpbench::parallel::{threaded_batches, timed_batches};
use mcpbench::scattered;
use mcpbench_queue::Mailbox;
use mcpbench_registry::{InFlight, Registry, RouteKey};
use std::hint::black_box;

const N: u64 = 100_000;

type Bare = DashMap<PreHashed, Arc<Mailbox<u64>>, PassThroughState>;

fn names() -> Vec<Arc<str>> {
    (0..N)
        .map(|i| Arc::from(format!("tools/server_{}/tool_{i}", i % 128)))
        .collect()
}

fn benches(c: &mut Criterion) {
    let names = names();
    let keys: Vec<RouteKey> = names.iter().map(|n| RouteKey::new(n)).collect();
    let seed = ahash::RandomState::new();
    let bare_keys: Vec<PreHashed> = names
        .iter()
        .map(|n| PreHashed::new(n.clone(), &seed))
        .collect();
    let order: Vec<usize> = scattered(N as usize).collect();
    let destination = Arc::new(Mailbox::<u64>::bounded(1024));

    let registry = Registry::new();
    let bare: Bare = DashMap::default();
    for (k, b) in keys.iter().zip(&bare_keys) {
        registry
            .register(k.clone(), destination.clone())
            .expect("fresh key");
        bare.insert(b.clone(), destination.clone());
    }

    let mut g = Group::new(c, "registry");
    g.elements(N);
    g.criterion()
        .bench_function(criterion::BenchmarkId::new("register", "100k"), |b| {
            b.iter_batched(
                || (Registry::new(), keys.clone()),
                |(table, keys)| {
                    for k in keys {
                        table.register(k, destination.clone()).expect("fresh key");
                    }
                    table
                },
                BatchSize::PerIteration,
            )
        });
    g.criterion().bench_function(
        criterion::BenchmarkId::new("ceiling_dashmap_insert", "100k"),
        |b| {
            b.iter_batched(
                || (Bare::default(), bare_keys.clone()),
                |(table, keys)| {
                    for k in keys {
                        table.insert(k, destination.clone());
                    }
                    table
                },
                BatchSize::PerIteration,
            )
        },
    );

    g.batched("lookup", "100k", N, |i| {
        black_box(registry.lookup(&keys[order[i as usize]]).is_some());
    });
    g.batched("ceiling_dashmap_get", "100k", N, |i| {
        black_box(bare.get(&bare_keys[order[i as usize]]).is_some());
    });

    // Two threads, each half of the lookups, one wall clock around both.
    g.custom(
        "lookup_2threads",
        "100k",
        Method::BatchMean(BATCH),
        |iters, rec| {
            threaded_batches(iters, 2, N, rec, |i| {
                black_box(registry.lookup(&keys[order[i as usize]]).is_some())
            })
        },
    );
    g.custom(
        "ceiling_dashmap_get_2threads",
        "100k",
        Method::BatchMean(BATCH),
        |iters, rec| {
            threaded_batches(iters, 2, N, rec, |i| {
                black_box(bare.get(&bare_keys[order[i as usize]]).is_some())
            })
        },
    );

    // route: deliver into the mailbox of 1,000 routes (100 messages each), then
    // drain them; one op = one route + one pop.
    let (router, routes) = mcpbench::workloads::upstream_routes();
    g.custom(
        "route_and_drain",
        "100k",
        Method::BatchMean(1000),
        |iters, rec| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += timed_batches(
                    N,
                    1000,
                    |i| {
                        let (key, mailbox) = &routes[(i % 1000) as usize];
                        router.route(key, i).expect("room for 100 per route");
                        if i % 1000 == 999 {
                            // Drain one batch worth: every route got one message.
                            for (_, m) in &routes {
                                black_box(m.try_pop());
                            }
                        }
                        black_box(mailbox);
                    },
                    |d, n| rec.record_batch(d, n),
                );
            }
            total
        },
    );

    // In-flight table: begin + complete of 100K requests (the answers are read
    // outside the clock).
    g.custom(
        "inflight_begin_complete",
        "100k",
        Method::BatchMean(BATCH),
        |iters, rec| {
            let table = InFlight::<u64, u64>::new();
            let far = Instant::now() + Duration::from_secs(3600);
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut answers = Vec::with_capacity(N as usize);
                total += timed_batches(
                    N,
                    BATCH,
                    |id| answers.push(table.begin(id, far).expect("unique id")),
                    |_, _| {},
                );
                total += timed_batches(
                    N,
                    BATCH,
                    |id| table.complete(&id, id).expect("in flight"),
                    |d, n| rec.record_batch(d, n),
                );
                black_box(answers);
            }
            total
        },
    );
    g.finish();
}

criterion_group! { name = registry; config = mcpbench::criterion(); targets = benches }
criterion_main!(registry);

//! The registry's gated workloads: the seed's 100K registrations and lookups,
//! routing into mailboxes, the in-flight table.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcpbench_queue::Mailbox;
use mcpbench_registry::{Answer, InFlight, Registry, RouteKey};

use super::{Iteration, Ops, Prepared, Threaded, Unit, Workload, upstream_routes};
use crate::latency::Recorder;
use crate::parallel::BATCH;
use crate::parallel::timed_batches;
use crate::scattered;

const N: u64 = 100_000;

pub(super) const ALL: &[Workload] = &[
    Workload {
        id: "registry/register/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 1,
        batch: None,
        counted: true,
        build: register,
    },
    Workload {
        id: "registry/lookup/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(BATCH),
        counted: true,
        build: lookup,
    },
    Workload {
        id: "registry/lookup_2threads/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 2,
        batch: Some(BATCH),
        counted: false,
        build: lookup_2threads,
    },
    Workload {
        id: "registry/route_and_drain/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(1000),
        counted: true,
        build: route_and_drain,
    },
    Workload {
        id: "registry/inflight_begin_complete/100k",
        per_iteration: N,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(BATCH),
        counted: true,
        build: inflight,
    },
];

/// The seed's 100K route names, `tools/server_{i % 128}/tool_{i}`.
pub fn route_keys() -> Vec<RouteKey> {
    (0..N)
        .map(|i| RouteKey::new(&format!("tools/server_{}/tool_{i}", i % 128)))
        .collect()
}

struct Register {
    keys: Vec<RouteKey>,
    destination: Arc<Mailbox<u64>>,
    pending: Vec<RouteKey>,
    table: Registry<u64>,
}

/// 100K registrations into a fresh table; the table and the keys' clones are
/// made (and the previous table dropped) outside the measured region.
fn register() -> Box<dyn Iteration> {
    Prepared::boxed(
        Register {
            keys: route_keys(),
            destination: Arc::new(Mailbox::bounded(1024)),
            pending: Vec::new(),
            table: Registry::new(),
        },
        |s: &mut Register| {
            s.table = Registry::new();
            s.pending = s.keys.clone();
        },
        |s: &mut Register| {
            for k in s.pending.drain(..) {
                s.table
                    .register(k, s.destination.clone())
                    .expect("fresh key");
            }
        },
    )
}

/// A registry holding the 100K route keys, the keys, and a scattered order.
fn filled() -> (Registry<u64>, Vec<RouteKey>, Vec<usize>) {
    let keys = route_keys();
    let destination = Arc::new(Mailbox::<u64>::bounded(1024));
    let registry = Registry::new();
    for k in &keys {
        registry
            .register(k.clone(), destination.clone())
            .expect("fresh key");
    }
    (registry, keys, scattered(N as usize).collect())
}

/// 100K lookups of registered keys in a scattered order.
fn lookup() -> Box<dyn Iteration> {
    let (registry, keys, order) = filled();
    Ops::boxed(N, BATCH, move |i| {
        black_box(registry.lookup(&keys[order[i as usize]]).is_some());
    })
}

/// The same lookups on two threads, each half of them.
fn lookup_2threads() -> Box<dyn Iteration> {
    let (registry, keys, order) = filled();
    Threaded::boxed(2, N, move |i| {
        registry.lookup(&keys[order[i as usize]]).is_some()
    })
}

/// Deliver into the mailboxes of 1,000 routes (100 messages each), then drain
/// them; one op = one route + one pop.
fn route_and_drain() -> Box<dyn Iteration> {
    let (router, routes) = upstream_routes();
    Ops::boxed(N, 1000, move |i| {
        router
            .route(&routes[(i % 1000) as usize].0, i)
            .expect("room for 100 per route");
        if i % 1000 == 999 {
            for (_, m) in &routes {
                black_box(m.try_pop());
            }
        }
    })
}

struct Inflight {
    table: InFlight<u64, u64>,
    far: Instant,
    answers: Vec<Answer<u64>>,
}

impl Inflight {
    fn begin(&mut self, id: u64) {
        let answer = self.table.begin(id, self.far).expect("unique id");
        self.answers.push(answer);
    }
    fn complete(&mut self, id: u64) {
        self.table.complete(&id, id).expect("in flight");
    }
}

impl Iteration for Inflight {
    /// The previous answers dropped and room for the next made, outside.
    fn prepare(&mut self) {
        self.answers = Vec::with_capacity(N as usize);
    }
    fn run(&mut self) {
        for id in 0..N {
            self.begin(id);
        }
        for id in 0..N {
            self.complete(id);
        }
    }
    /// Both halves timed; the completions' batches recorded.
    fn run_batches(&mut self, _ops: u64, rec: &mut Recorder) -> Duration {
        timed_batches(N, BATCH, |id| self.begin(id), |_, _| {})
            + timed_batches(
                N,
                BATCH,
                |id| self.complete(id),
                |d, n| rec.record_batch(d, n),
            )
    }
}

/// Begin + complete of 100K requests (the answers are dropped outside).
fn inflight() -> Box<dyn Iteration> {
    Box::new(Inflight {
        table: InFlight::new(),
        far: Instant::now() + Duration::from_secs(3600),
        answers: Vec::new(),
    })
}

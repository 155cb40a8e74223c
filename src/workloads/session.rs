//! The session store's gated workloads: the seed's 10K sessions x 100
//! operations, create/remove churn, idle eviction.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mcpbench_session::{NewSession, Session, SessionId, SessionStore};

use super::{Iteration, Ops, Prepared, Threaded, Unit, Workload};
use crate::latency::Recorder;
use crate::messages::new_session;
use crate::parallel::BATCH;
use crate::parallel::timed_batches;
use crate::scattered;

/// Sessions in every session workload.
pub const SESSIONS: usize = 10_000;
const OPS_PER_SESSION: u64 = 100;
/// Operations of `lookup_update`: 100 per session.
pub const OPS: u64 = SESSIONS as u64 * OPS_PER_SESSION;

pub(super) const ALL: &[Workload] = &[
    Workload {
        id: "session/lookup_update/10kx100",
        per_iteration: OPS,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(BATCH),
        counted: true,
        build: lookup_update,
    },
    Workload {
        id: "session/lookup_update_2threads/10kx100",
        per_iteration: OPS,
        unit: Unit::Elements,
        threads: 2,
        batch: Some(BATCH),
        counted: false,
        build: lookup_update_2threads,
    },
    Workload {
        id: "session/create_remove/10k",
        per_iteration: SESSIONS as u64,
        unit: Unit::Elements,
        threads: 1,
        batch: Some(BATCH),
        counted: true,
        build: create_remove,
    },
    Workload {
        id: "session/evict_idle/10k",
        per_iteration: SESSIONS as u64,
        unit: Unit::Elements,
        threads: 1,
        batch: None,
        counted: true,
        build: evict_idle,
    },
];

/// One request's worth of session work: count it and mark the session seen.
#[inline]
pub fn on_request(s: &mut Session, now: Instant) {
    s.requests += 1;
    s.last_seen = now;
}

/// A store of [`SESSIONS`] sessions (room for twice as many), their ids, a
/// scattered order over them, and the instant they were made.
pub fn filled_store() -> (SessionStore, Vec<SessionId>, Vec<usize>, Instant) {
    let t0 = Instant::now();
    let store = SessionStore::new(SESSIONS * 2);
    let ids = (0..SESSIONS)
        .map(|_| store.create(new_session(), t0).expect("room"))
        .collect();
    (store, ids, scattered(SESSIONS).collect(), t0)
}

/// Lookup + update of a session record, 100 times per session, scattered.
fn lookup_update() -> Box<dyn Iteration> {
    let (store, ids, order, t0) = filled_store();
    Ops::boxed(OPS, BATCH, move |i| {
        let id = &ids[order[(i % SESSIONS as u64) as usize]];
        black_box(store.update(id, |s| on_request(s, t0)));
    })
}

/// The same on two threads, each half of the operations.
fn lookup_update_2threads() -> Box<dyn Iteration> {
    let (store, ids, order, t0) = filled_store();
    Threaded::boxed(2, OPS, move |i| {
        store
            .update(&ids[order[(i % SESSIONS as u64) as usize]], |s| {
                on_request(s, t0)
            })
            .is_some()
    })
}

struct Churn {
    store: SessionStore,
    inputs: Vec<NewSession>,
    made: Vec<SessionId>,
}

impl Churn {
    fn create_all(&mut self, now: Instant) -> Duration {
        let mut inputs = std::mem::take(&mut self.inputs).into_iter();
        let (store, made) = (&self.store, &mut self.made);
        timed_batches(
            SESSIONS as u64,
            BATCH,
            |_| {
                made.push(
                    store
                        .create(inputs.next().expect("one per op"), now)
                        .expect("room"),
                )
            },
            |_, _| {},
        )
    }
    fn remove_all(&mut self, rec: &mut Recorder) -> Duration {
        let (store, made) = (&self.store, &self.made);
        let mut it = made.iter();
        timed_batches(
            SESSIONS as u64,
            BATCH,
            |_| {
                black_box(store.remove(it.next().expect("one per op")));
            },
            |d, n| rec.record_batch(d, n),
        )
    }
}

impl Iteration for Churn {
    /// Fresh inputs, built outside the measured region.
    fn prepare(&mut self) {
        self.made.clear();
        self.inputs = (0..SESSIONS).map(|_| new_session()).collect();
    }
    fn run(&mut self) {
        let now = Instant::now();
        let mut inputs = std::mem::take(&mut self.inputs).into_iter();
        for _ in 0..SESSIONS {
            let id = self
                .store
                .create(inputs.next().expect("one per op"), now)
                .expect("room");
            self.made.push(id);
        }
        for id in &self.made {
            black_box(self.store.remove(id));
        }
    }
    /// Both halves timed; the removals' batches recorded.
    fn run_batches(&mut self, _ops: u64, rec: &mut Recorder) -> Duration {
        let now = Instant::now();
        self.create_all(now) + self.remove_all(rec)
    }
}

/// 10K sessions created then removed; one op = one create + one remove.
fn create_remove() -> Box<dyn Iteration> {
    Box::new(Churn {
        store: SessionStore::new(SESSIONS),
        inputs: Vec::new(),
        made: Vec::with_capacity(SESSIONS),
    })
}

struct Evict {
    t0: Instant,
    store: SessionStore,
}

/// `evict_idle` over 10K sessions, half of them idle; one op = one session
/// scanned. The store is filled (and the previous one dropped) outside.
fn evict_idle() -> Box<dyn Iteration> {
    let later = |t0: Instant| t0 + Duration::from_secs(400);
    Prepared::boxed(
        Evict {
            t0: Instant::now(),
            store: SessionStore::new(1),
        },
        move |s: &mut Evict| {
            s.store = SessionStore::new(SESSIONS);
            for i in 0..SESSIONS {
                let id = s.store.create(new_session(), s.t0).expect("room");
                if i % 2 == 0 {
                    s.store.touch(&id, later(s.t0));
                }
            }
        },
        move |s: &mut Evict| {
            assert_eq!(
                s.store.evict_idle(later(s.t0), Duration::from_secs(300)),
                SESSIONS / 2
            );
        },
    )
}

//! Test 4, session: the seed's 10K sessions x 100 operations (lookup + update of a
//! session record) on one shared store, on 1 and 2 threads; create/remove churn;
//! `evict_idle` over 10K sessions. Ceiling: a bare `DashMap::get_mut` on the same
//! ids with the store's own trick (a random id's low bits are its hash, nothing is
//! hashed), doing the same update (it also answers the crate's question: dashmap or
//! sharded parking_lot maps?).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dashmap::DashMap;
use mcpbench::ceilings::PassThroughState;
use mcpbench::group::{BATCH, Group};
use mcpbench::latency::Method;
use mcpbench::messages::new_session;
use mcpbench::parallel::{threaded_batches, timed_batches};
use mcpbench::scattered;
use mcpbench_session::{NewSession, Session, SessionId, SessionStore};

const SESSIONS: usize = 10_000;
const OPS_PER_SESSION: u64 = 100;
const OPS: u64 = SESSIONS as u64 * OPS_PER_SESSION;

/// One request's worth of session work: count it and mark the session seen.
#[inline]
fn on_request(s: &mut Session, now: Instant) {
    s.requests += 1;
    s.last_seen = now;
}

fn benches(c: &mut Criterion) {
    let t0 = Instant::now();
    let store = SessionStore::new(SESSIONS * 2);
    let ids: Vec<SessionId> = (0..SESSIONS)
        .map(|_| store.create(new_session(), t0).expect("room"))
        .collect();
    let bare: DashMap<SessionId, Session, PassThroughState> = DashMap::default();
    for id in &ids {
        bare.insert(*id, store.read(id, Session::clone).expect("created"));
    }
    let order: Vec<usize> = scattered(SESSIONS).collect();
    let id_of = |i: u64| &ids[order[(i % SESSIONS as u64) as usize]];

    let mut g = Group::new(c, "session");
    g.elements(OPS);
    g.batched("lookup_update", "10kx100", OPS, |i| {
        black_box(store.update(id_of(i), |s| on_request(s, t0)));
    });
    g.batched("ceiling_dashmap_get_mut", "10kx100", OPS, |i| {
        black_box(bare.get_mut(id_of(i)).map(|mut s| on_request(&mut s, t0)));
    });
    g.custom(
        "lookup_update_2threads",
        "10kx100",
        Method::BatchMean(BATCH),
        |iters, rec| {
            threaded_batches(iters, 2, OPS, rec, |i| {
                store.update(id_of(i), |s| on_request(s, t0)).is_some()
            })
        },
    );
    g.custom(
        "ceiling_dashmap_get_mut_2threads",
        "10kx100",
        Method::BatchMean(BATCH),
        |iters, rec| {
            threaded_batches(iters, 2, OPS, rec, |i| {
                bare.get_mut(id_of(i))
                    .map(|mut s| on_request(&mut s, t0))
                    .is_some()
            })
        },
    );

    // Churn: 10K sessions created then removed; one op = one create + one remove.
    g.elements(SESSIONS as u64);
    let churn = SessionStore::new(SESSIONS);
    let mut made = Vec::with_capacity(SESSIONS);
    g.custom(
        "create_remove",
        "10k",
        Method::BatchMean(BATCH),
        |iters, rec| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                made.clear();
                let inputs: Vec<NewSession> = (0..SESSIONS).map(|_| new_session()).collect();
                let mut inputs = inputs.into_iter();
                let now = Instant::now();
                total += timed_batches(
                    SESSIONS as u64,
                    BATCH,
                    |_| {
                        made.push(
                            churn
                                .create(inputs.next().expect("one per op"), now)
                                .expect("room"),
                        );
                    },
                    |_, _| {},
                );
                let mut it = made.iter();
                total += timed_batches(
                    SESSIONS as u64,
                    BATCH,
                    |_| {
                        black_box(churn.remove(it.next().expect("one per op")));
                    },
                    |d, n| rec.record_batch(d, n),
                );
            }
            total
        },
    );

    // evict_idle over 10K sessions, half of them idle; one op = one session scanned.
    g.criterion()
        .bench_function(criterion::BenchmarkId::new("evict_idle", "10k"), |b| {
            b.iter_batched(
                || {
                    let s = SessionStore::new(SESSIONS);
                    let later = t0 + Duration::from_secs(400);
                    for i in 0..SESSIONS {
                        let id = s.create(new_session(), t0).expect("room");
                        if i % 2 == 0 {
                            s.touch(&id, later);
                        }
                    }
                    (s, later)
                },
                |(s, later)| {
                    assert_eq!(s.evict_idle(later, Duration::from_secs(300)), SESSIONS / 2);
                    s
                },
                BatchSize::PerIteration,
            )
        });
    g.finish();
}

criterion_group! { name = session; config = mcpbench::criterion(); targets = benches }
criterion_main!(session);

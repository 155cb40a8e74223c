//! Test 4, session: the seed's 10K sessions x 100 operations (lookup + update of a
//! session record) on one shared store, on 1 and 2 threads; create/remove churn;
//! `evict_idle` over 10K sessions. Ceiling: a bare `DashMap::get_mut` on the same
//! ids with the store's own trick (a random id's low bits are its hash, nothing is
//! hashed), doing the same update (it also answers the crate's question: dashmap or
//! sharded parking_lot maps?).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dashmap::DashMap;
use mcpbench::ceilings::PassThroughState;
use mcpbench::group::{BATCH, Group};
use mcpbench::latency::Method;
use mcpbench::parallel::threaded_batches;
use mcpbench_session::{Session, SessionId};

use mcpbench::workloads;
use mcpbench::workloads::session::{OPS, SESSIONS, filled_store, on_request};

fn benches(c: &mut Criterion) {
    let (store, ids, order, t0) = filled_store();
    let bare: DashMap<SessionId, Session, PassThroughState> = DashMap::default();
    for id in &ids {
        bare.insert(*id, store.read(id, Session::clone).expect("created"));
    }
    let id_of = |i: u64| &ids[order[(i % SESSIONS as u64) as usize]];

    let mut g = Group::new(c, "session");
    g.elements(OPS);
    g.workload(workloads::get("session/lookup_update/10kx100"));
    g.elements(OPS);
    g.batched("ceiling_dashmap_get_mut", "10kx100", OPS, |i| {
        black_box(bare.get_mut(id_of(i)).map(|mut s| on_request(&mut s, t0)));
    });
    g.workload(workloads::get("session/lookup_update_2threads/10kx100"));
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
    g.workload(workloads::get("session/create_remove/10k"));
    // evict_idle over 10K sessions, half of them idle; one op = one session scanned.
    g.workload(workloads::get("session/evict_idle/10k"));
    g.finish();
}

criterion_group! { name = session; config = mcpbench::criterion(); targets = benches }
criterion_main!(session);

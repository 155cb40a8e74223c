//! Test 3, queue: the seed's 100K enqueue/dequeue cycles on one mailbox (the seed
//! made a new queue per op), 1 producer + 1 consumer thread, 2 + 2 threads, and
//! batch calls. Ceiling: a bare `crossbeam_queue::ArrayQueue` doing the same.
//! The mailbox's workloads are defined in `mcpbench::workloads::queue`; the
//! threaded ones share `threaded` with their ceilings.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use mcpbench::group::Group;
use mcpbench::workloads::{self, queue::CAPACITY, queue::threaded};

const N: u64 = 100_000;

fn benches(c: &mut Criterion) {
    let bare = ArrayQueue::<u64>::new(CAPACITY);
    let mut g = Group::new(c, "queue");
    g.elements(N);

    // One op = one push + one pop on the same thread (the seed's cycle).
    g.workload(workloads::get("queue/push_pop/100k"));
    g.batched("ceiling_arrayqueue", "100k", N, |i| {
        bare.push(i).expect("room");
        black_box(bare.pop());
    });

    // Batches of 64 pushed then popped; one op = one message through.
    g.workload(workloads::get("queue/batch64/100k"));
    g.elements(N);

    for (name, producers, consumers) in [("spsc_threads", 1, 1), ("mpmc_2p2c", 2, 2)] {
        let ceiling = format!("ceiling_arrayqueue_{name}");
        g.workload(workloads::get(&format!("queue/{name}/100k")));
        g.timed(&ceiling, "100k", |iters| {
            (0..iters)
                .map(|_| threaded(&bare, producers, consumers))
                .sum()
        });
    }
    g.finish();
}

criterion_group! { name = queue; config = mcpbench::criterion(); targets = benches }
criterion_main!(queue);

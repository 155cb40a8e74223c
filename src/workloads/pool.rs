//! The pool's gated workload: its in-memory path, one task checking out and
//! returning 100K times on a pool whose manager does nothing.

use std::time::{Duration, Instant};

use mcpbench_pool::{Pool, PoolConfig};
use tokio::runtime::Runtime;

use super::{Iteration, NoopManager, Unit, Workload};
use crate::latency::Recorder;
use crate::parallel::BATCH;

const N: u64 = 100_000;

pub(super) const ALL: &[Workload] = &[Workload {
    id: "pool/ceiling_managed_noop_1task/100k",
    per_iteration: N,
    unit: Unit::Elements,
    threads: 1,
    batch: Some(BATCH),
    counted: true,
    build: noop_1task,
}];

struct Noop1Task {
    rt: Runtime,
    pool: Pool<NoopManager>,
}

impl Iteration for Noop1Task {
    fn run(&mut self) {
        let pool = &self.pool;
        self.rt.block_on(async {
            for _ in 0..N {
                drop(pool.checkout().await.expect("checkout"));
            }
        })
    }
    fn run_batches(&mut self, _ops: u64, rec: &mut Recorder) -> Duration {
        let pool = &self.pool;
        self.rt.block_on(async {
            let start = Instant::now();
            let mut done = 0;
            while done < N {
                let n = BATCH.min(N - done);
                let t = Instant::now();
                for _ in 0..n {
                    drop(pool.checkout().await.expect("checkout"));
                }
                rec.record_batch(t.elapsed(), n);
                done += n;
            }
            start.elapsed()
        })
    }
}

/// One task on a current-thread runtime (the caller's thread): what deadpool's
/// managed machinery costs per checkout, with no cross-thread wake-up and no I/O.
fn noop_1task() -> Box<dyn Iteration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a tokio runtime: {e}"));
    let pool = Pool::new(NoopManager, &PoolConfig::default()).expect("valid config");
    Box::new(Noop1Task { rt, pool })
}

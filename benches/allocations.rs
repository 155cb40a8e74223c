//! Allocation counts of the registry's counted workloads (`mcpbench::workloads`,
//! `counted: true`): allocations and bytes requested by one iteration, after a
//! warm-up iteration, through the counting global allocator. The pull-request
//! gate's allocation channel: exact where the workload is single-threaded, so one
//! extra allocation per operation shows as +1.0 per op. Writes
//! `target/mcpbench/allocations.json`.
//!
//! `cargo bench --bench allocations` counts every workload (seconds); a filter
//! selects some; `-- --test` runs each once and writes nothing; `-- --list`
//! lists them.

use mcpbench::alloc::{self, Counting};
use mcpbench::harness::Harness;
use mcpbench::workloads::{self, Workload};
use mcpbench_files::allocations::{ALLOCATIONS_SCHEMA, AllocCount, AllocationsFile};

#[global_allocator]
static ALLOC: Counting = Counting;

/// One iteration's allocations, after a warm-up iteration; `prepare` (outside
/// the measured region) is not counted.
fn count(w: &Workload) -> AllocCount {
    let mut iteration = (w.build)();
    iteration.prepare();
    iteration.run();
    iteration.prepare();
    let (n0, b0) = (alloc::allocations(), alloc::allocated_bytes());
    iteration.run();
    let (n1, b1) = (alloc::allocations(), alloc::allocated_bytes());
    AllocCount {
        allocations: n1 - n0,
        bytes: b1 - b0,
        per_iteration: w.per_iteration,
    }
}

fn main() {
    let h = Harness::from_env();
    let Some(selected) = workloads::counted_selected(&h) else {
        return;
    };
    let mut counts = std::collections::BTreeMap::new();
    for (k, w) in selected.iter().enumerate() {
        let c = count(w);
        if h.quick() {
            println!("Testing allocations {}: Success", w.id);
            continue;
        }
        println!(
            "allocations {:<40} {:>9} per iteration ({:>7.3} per op), {:>11} bytes ({:>9.1} per op)  [{}/{}]",
            w.id,
            c.allocations,
            c.per_op(),
            c.bytes,
            c.bytes_per_op(),
            k + 1,
            selected.len()
        );
        counts.insert(w.id.to_string(), c);
    }
    if h.quick() {
        return;
    }
    assert!(
        alloc::installed(),
        "the counting allocator is not installed"
    );
    let file = AllocationsFile {
        schema: ALLOCATIONS_SCHEMA.to_string(),
        environment: mcpbench::env::Environment::capture(),
        counts,
    };
    let path = mcpbench::results::target_dir()
        .join("mcpbench")
        .join("allocations.json");
    if let Err(e) = mcpbench::results::write_json(&path, &file) {
        eprintln!("error: cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
    println!("allocations: wrote {}", path.display());
}

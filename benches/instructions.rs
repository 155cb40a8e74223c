//! Instruction counts (callgrind) of the registry's counted workloads
//! (`mcpbench::workloads`, `counted: true`): the pull-request gate's primary
//! signal for CPU-bound code, because counts do not move with the machine's load.
//! Each workload is the one its time bench runs; one iteration is counted after
//! one warm-up (`src/instructions.rs`). Writes `target/mcpbench/instructions.json`.
//!
//! `cargo bench --bench instructions` counts every workload (about a minute);
//! a filter selects some (`-- 'registry/'`); `-- --test` runs each once natively,
//! counting nothing; `-- --list` lists them.

use mcpbench::harness::Harness;
use mcpbench::instructions::{
    CHILD_ENV, INSTRUCTIONS_SCHEMA, InstructionsFile, count, run_child, valgrind_version,
};
use mcpbench::workloads::{self, Workload};

fn main() {
    if let Ok(id) = std::env::var(CHILD_ENV) {
        match workloads::find(&id).filter(|w| w.counted) {
            Some(w) => return run_child(w),
            None => {
                eprintln!("no counted workload {id:?}");
                std::process::exit(2);
            }
        }
    }
    let h = Harness::from_env();
    let Some(selected) = workloads::counted_selected(&h) else {
        return;
    };
    if h.quick() {
        for w in &selected {
            run_child(w);
            println!("Testing instructions {}: Success", w.id);
        }
        return;
    }
    if let Err(e) = count_all(&selected) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn count_all(selected: &[&Workload]) -> Result<(), Box<dyn std::error::Error>> {
    let valgrind = valgrind_version()?;
    let exe = std::env::current_exe()?;
    let scratch = mcpbench::results::target_dir()
        .join("mcpbench")
        .join("callgrind");
    std::fs::create_dir_all(&scratch)?;
    let mut counts = std::collections::BTreeMap::new();
    for (k, w) in selected.iter().enumerate() {
        let c = count(&exe, w, &scratch)?;
        println!(
            "instructions {:<40} {:>14} per iteration, {:>9.1} per op  [{}/{}]",
            w.id,
            c.instructions,
            c.per_op(),
            k + 1,
            selected.len()
        );
        counts.insert(w.id.to_string(), c);
    }
    let file = InstructionsFile {
        schema: INSTRUCTIONS_SCHEMA.to_string(),
        environment: mcpbench::env::Environment::capture(),
        valgrind,
        counts,
    };
    let path = mcpbench::instructions::default_path();
    mcpbench::results::write_json(&path, &file)?;
    println!("instructions: wrote {}", path.display());
    Ok(())
}

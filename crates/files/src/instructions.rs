//! `target/mcpbench/instructions.json`: callgrind instruction counts of the
//! CPU-bound workloads, written by `benches/instructions.rs`, stored in baselines
//! and compared by the pull-request gate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::env::Environment;

/// Schema tag of [`InstructionsFile`].
pub const INSTRUCTIONS_SCHEMA: &str = "mcpbench.instructions/1";

/// Instructions of one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    /// Instructions executed by one iteration (callgrind's `Ir` inside
    /// [`mcpbench_measured`]).
    pub instructions: u64,
    /// Operations one iteration performs (the time bench's `Throughput`).
    pub per_iteration: u64,
    /// How the workload differs from the time bench of the same id, if it does
    /// (for example "one thread" where the time bench uses two).
    pub note: String,
}

impl Count {
    /// Instructions per operation.
    pub fn per_op(&self) -> f64 {
        self.instructions as f64 / self.per_iteration.max(1) as f64
    }
}

/// `target/mcpbench/instructions.json`: the counts of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstructionsFile {
    /// Always [`INSTRUCTIONS_SCHEMA`].
    pub schema: String,
    /// Where and from which commit.
    pub environment: Environment,
    /// `valgrind --version`.
    pub valgrind: String,
    /// Counts by bench id.
    pub counts: BTreeMap<String, Count>,
}

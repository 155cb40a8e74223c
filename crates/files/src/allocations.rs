//! `target/mcpbench/allocations.json`: allocations and bytes allocated by one
//! iteration of each counted workload, written by `benches/allocations.rs`,
//! stored in baselines and compared by the pull-request gate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::env::Environment;

/// Schema tag of [`AllocationsFile`].
pub const ALLOCATIONS_SCHEMA: &str = "mcpbench.allocations/1";

/// What one iteration of a workload allocated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocCount {
    /// Allocations and reallocations made inside the measured region.
    pub allocations: u64,
    /// Bytes requested by them (a reallocation counts its new size).
    pub bytes: u64,
    /// Operations one iteration performs (the time bench's throughput).
    pub per_iteration: u64,
}

impl AllocCount {
    /// Allocations per operation.
    pub fn per_op(&self) -> f64 {
        self.allocations as f64 / self.per_iteration.max(1) as f64
    }

    /// Bytes per operation.
    pub fn bytes_per_op(&self) -> f64 {
        self.bytes as f64 / self.per_iteration.max(1) as f64
    }
}

/// `target/mcpbench/allocations.json`: the counts of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationsFile {
    /// Always [`ALLOCATIONS_SCHEMA`].
    pub schema: String,
    /// Where and from which commit.
    pub environment: Environment,
    /// Counts by bench id.
    pub counts: BTreeMap<String, AllocCount>,
}

//! The paired wall-clock channel: the messages between `mcpbench paired` (the
//! coordinator) and each side's worker (`benches/paired.rs`), one JSON object per
//! line, and `target/mcpbench/paired.json`, the result the gate's `compare` reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::env::Environment;

/// Schema tag of [`PairedFile`].
pub const PAIRED_SCHEMA: &str = "mcpbench.paired/1";

/// A coordinator's command to a worker (one line on its stdin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// List the workloads this side has.
    List,
    /// Build workload `id` (dropping the previous one) and run one warm-up
    /// iteration; every later sample adds `inject_ns` of busy waiting to each
    /// iteration, inside the measured region (0: none).
    Prepare {
        /// Bench id.
        id: String,
        /// Injected slowdown per iteration, nanoseconds.
        inject_ns: u64,
    },
    /// Run `iterations` iterations of the prepared workload, each after its
    /// `prepare` (outside the clock), and reply with the time they took.
    Sample {
        /// Iterations in this sample.
        iterations: u64,
    },
}

/// One workload a worker has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerWorkload {
    /// Bench id.
    pub id: String,
    /// Units one iteration processes.
    pub per_iteration: u64,
    /// Threads its measured region runs on.
    pub threads: usize,
}

/// A worker's reply (one line on its stdout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The answer to [`Command::List`].
    Workloads {
        /// Every workload of this side.
        workloads: Vec<WorkerWorkload>,
        /// The side's commit (`-dirty` when its checkout has changes).
        commit: String,
    },
    /// The workload is built and warmed up.
    Ready {
        /// Nanoseconds the warm-up iteration took.
        warm_up_ns: u64,
    },
    /// A sample's time.
    Sample {
        /// Nanoseconds the sample's iterations took (their `prepare` excluded).
        ns: u64,
    },
    /// The command could not be carried out.
    Error {
        /// What went wrong, with the input named.
        message: String,
    },
}

fn one() -> u64 {
    1
}

fn threaded_min_effect() -> f64 {
    3.0
}

/// The settings of one paired run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedSettings {
    /// Time budget per comparison (one bench, one pair of sides), seconds.
    pub seconds_per_bench: f64,
    /// Blocks per comparison: each block starts a fresh worker process per side
    /// (new hash seeds, new addresses; single-threaded workloads of both sides
    /// pinned to the same CPU, the next block to the next CPU), so process-level
    /// effects vary from block to block instead of deciding the verdict. Runs
    /// recorded before blocks existed had one.
    #[serde(default = "one")]
    pub blocks: u64,
    /// Fewest pairs a comparison takes, whatever the budget.
    pub min_pairs: u64,
    /// Most pairs a comparison takes.
    pub max_pairs: u64,
    /// A change must have at least this |z| (the blocks' t statistic) to count.
    pub z: f64,
    /// ... and be larger than this, percent (the minimum effect).
    pub min_effect_pct: f64,
    /// The minimum effect of a multi-threaded workload, percent: two builds of
    /// one commit (another checkout path, another code layout) read
    /// `queue/mpmc_2p2c` 22% and `queue/spsc_threads` 33% apart here, so threads
    /// are judged only beyond this. Runs recorded before it existed had 3%.
    #[serde(default = "threaded_min_effect")]
    pub threaded_min_effect_pct: f64,
    /// The injected slowdowns tried, percent of an iteration, smallest first.
    pub injection_ladder_pct: Vec<f64>,
}

/// One comparison of two sides on one bench: pairs of samples run back to back
/// in ABBA order, and the statistics of their log ratios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedStats {
    /// Pairs taken, over every block.
    pub pairs: u64,
    /// Blocks (fresh process pairs) they came from; the verdict's statistic is
    /// over the blocks' mean log ratios. Runs recorded before blocks existed had
    /// one, and their `z` is over the pairs.
    #[serde(default = "one")]
    pub blocks: u64,
    /// Blocks left after the outlier fences over the blocks' means (0 for one
    /// block, and in runs recorded before this was kept).
    #[serde(default)]
    pub blocks_kept: u64,
    /// Of those, the blocks whose mean says the new side is slower: a change is
    /// only flagged when every kept block agrees on its direction.
    #[serde(default)]
    pub blocks_slower: u64,
    /// Pairs left after the symmetric outlier fences (1.5 IQR of the log
    /// ratios), from which the figures below come.
    pub kept: u64,
    /// Iterations per sample (the same on both sides).
    pub iterations_per_sample: u64,
    /// Median base time per iteration, ns.
    pub base_ns: f64,
    /// Median new time per iteration, ns.
    pub new_ns: f64,
    /// exp(mean log ratio) - 1, percent: positive = the new side is slower.
    pub change_pct: f64,
    /// The 95% interval of that change, percent.
    pub ci_low_pct: f64,
    /// Its upper end.
    pub ci_high_pct: f64,
    /// The mean of the blocks' mean log ratios over its standard error (a t
    /// statistic with `blocks - 1` degrees of freedom).
    pub z: f64,
}

/// One rung of the injection ladder: the base against itself with `inject_pct`
/// of an iteration added to one copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Injection {
    /// The injected slowdown, percent of the base's time per iteration.
    pub inject_pct: f64,
    /// What the paired rule made of it.
    pub stats: PairedStats,
    /// Whether the rule flagged it.
    pub flagged: bool,
}

/// One bench of a paired run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedBench {
    /// Units one iteration processes.
    pub per_iteration: u64,
    /// Threads its measured region runs on.
    pub threads: usize,
    /// Base against new.
    pub stats: PairedStats,
    /// The injection ladder, climbed until a rung was flagged.
    pub injections: Vec<Injection>,
    /// The smallest injected slowdown flagged, percent; `None` when no rung was.
    pub detects_pct: Option<f64>,
}

/// `target/mcpbench/paired.json`: a paired run of two sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedFile {
    /// Always [`PAIRED_SCHEMA`].
    pub schema: String,
    /// Where it ran.
    pub environment: Environment,
    /// The base's commit, as its worker reported it.
    pub base_commit: String,
    /// The new side's commit.
    pub new_commit: String,
    /// How it ran and what counts.
    pub settings: PairedSettings,
    /// Results by bench id.
    pub benches: BTreeMap<String, PairedBench>,
    /// Workloads only the base has.
    pub only_in_base: Vec<String>,
    /// Workloads only the new side has.
    pub only_in_new: Vec<String>,
}

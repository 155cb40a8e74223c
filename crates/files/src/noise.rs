//! `baselines/noise-<machine>.json`: each bench's run-to-run spread over K runs of
//! one commit on one machine, written by the report's `noise` command and read by
//! `compare` and the report (the spread is computed there).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::FileError;
use crate::env::Environment;

/// Schema tag of [`NoiseFile`].
pub const NOISE_SCHEMA: &str = "mcpbench.noise/1";

/// One bench's run-to-run noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchNoise {
    /// Runs the bench appeared in.
    pub runs: usize,
    /// Median typical time over the runs, ns per iteration.
    pub median_ns: f64,
    /// `(slowest - fastest) / fastest` of the typical times, percent.
    pub spread_pct: f64,
    /// The same for the instruction counts, when the runs had them.
    pub instructions_spread_pct: Option<f64>,
}

/// `baselines/noise-<machine>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseFile {
    /// Always [`NOISE_SCHEMA`].
    pub schema: String,
    /// The machine name in the file name: its CPU model and core count, file-name
    /// safe (`amd-epyc-2c`).
    pub machine: String,
    /// Where the last of the runs was measured.
    pub environment: Environment,
    /// The baselines it was computed from, in order.
    pub runs: Vec<String>,
    /// Spread above which a bench is named unstable, percent.
    pub unstable_above_pct: f64,
    /// Noise by bench id.
    pub benches: BTreeMap<String, BenchNoise>,
}

impl NoiseFile {
    /// Reads `path`, checks its schema and that its figures can all be true.
    pub fn load(path: &Path) -> Result<NoiseFile, FileError> {
        crate::load_checked(path, NOISE_SCHEMA, NoiseFile::check)
    }

    /// Figures that cannot be right are refused: a bound that is not a positive
    /// number, a spread that is not a finite, non-negative percentage.
    pub fn check(&self) -> Result<(), String> {
        if !(self.unstable_above_pct.is_finite() && self.unstable_above_pct > 0.0) {
            return Err(format!(
                "unstable_above_pct {} is not a positive number",
                self.unstable_above_pct
            ));
        }
        for (id, n) in &self.benches {
            let ok = |v: f64| v.is_finite() && v >= 0.0;
            if !ok(n.spread_pct) || !n.instructions_spread_pct.is_none_or(ok) {
                return Err(format!(
                    "{id}: spread is not a finite, non-negative percentage"
                ));
            }
        }
        Ok(())
    }

    /// True when bench `id`'s measured spread is above the unstable bound.
    pub fn unstable(&self, id: &str) -> bool {
        self.benches
            .get(id)
            .is_some_and(|n| n.spread_pct > self.unstable_above_pct)
    }
}

//! `baselines/NAME.json`: a saved run's typical times with their confidence
//! intervals, throughput, sample counts and environment, written by the report's
//! `baseline save` and read back by `compare`, `noise` and the report. Sorted keys
//! (every map is a `BTreeMap`), so two baselines diff line by line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::FileError;
use crate::env::Environment;
use crate::instructions::Count;

/// Schema tag of [`Baseline`].
pub const BASELINE_SCHEMA: &str = "mcpbench.baseline/1";

/// What one iteration of a bench processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Operations (Criterion's `Throughput::Elements`).
    Elements,
    /// Bytes (Criterion's `Throughput::Bytes`).
    Bytes,
}

/// One bench's result: typical time per iteration with its 95% confidence
/// interval, and what an iteration processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Typical nanoseconds per iteration: Criterion's slope estimate where it has
    /// one, else the mean (docs/method.md).
    pub typical_ns: f64,
    /// Lower bound of the typical time's confidence interval.
    pub ci_lower_ns: f64,
    /// Upper bound.
    pub ci_upper_ns: f64,
    /// `slope` or `mean`.
    pub estimator: String,
    /// Units one iteration processes, if the bench declared a throughput.
    pub per_iteration: Option<u64>,
    /// What those units are.
    pub unit: Option<Unit>,
    /// Samples Criterion took.
    pub samples: u64,
}

impl Measured {
    /// Units per second at the typical time (`per_iteration / typical`).
    pub fn per_second(&self) -> Option<f64> {
        self.per_iteration
            .map(|n| n as f64 / (self.typical_ns * 1e-9))
    }

    /// The same, at the ends of the confidence interval (slow end first).
    pub fn per_second_ci(&self) -> Option<(f64, f64)> {
        self.per_iteration.map(|n| {
            (
                n as f64 / (self.ci_upper_ns * 1e-9),
                n as f64 / (self.ci_lower_ns * 1e-9),
            )
        })
    }
}

/// `baselines/NAME.json`: a saved run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`BASELINE_SCHEMA`].
    pub schema: String,
    /// Where the run was measured.
    pub environment: Environment,
    /// Results by bench id.
    pub benches: BTreeMap<String, Measured>,
    /// Instruction counts by bench id (`benches/instructions.rs`), when the run
    /// had them. The one field that may be absent: baselines saved before counts
    /// existed have none, and an empty map is not written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instructions: BTreeMap<String, Count>,
}

impl Baseline {
    /// A baseline of `benches`, measured here and now.
    pub fn new(
        benches: BTreeMap<String, Measured>,
        instructions: BTreeMap<String, Count>,
    ) -> Baseline {
        Baseline {
            schema: BASELINE_SCHEMA.to_string(),
            environment: Environment::capture(),
            benches,
            instructions,
        }
    }

    /// Reads `path`, checks its schema and that its figures can all be true.
    pub fn load(path: &Path) -> Result<Baseline, FileError> {
        crate::load_checked(path, BASELINE_SCHEMA, Baseline::check)
    }

    /// Figures that could never show a change are refused: no bench, a time that
    /// is not a positive finite number, an interval upside down, a count of 0.
    pub fn check(&self) -> Result<(), String> {
        if self.benches.is_empty() {
            return Err("baseline holds no bench".into());
        }
        for (id, m) in &self.benches {
            let ok = |v: f64| v.is_finite() && v > 0.0;
            if !(ok(m.typical_ns) && ok(m.ci_lower_ns) && ok(m.ci_upper_ns))
                || m.ci_lower_ns > m.ci_upper_ns
            {
                return Err(format!(
                    "{id}: typical_ns {} with interval [{}, {}] is not a positive, finite, ordered time",
                    m.typical_ns, m.ci_lower_ns, m.ci_upper_ns
                ));
            }
        }
        for (id, c) in &self.instructions {
            if c.instructions == 0 || c.per_iteration == 0 {
                return Err(format!("{id}: an instruction count of 0 cannot be right"));
            }
        }
        Ok(())
    }
}

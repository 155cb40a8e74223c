//! Stored baselines: `baselines/NAME.json`, a run's typical times with their
//! confidence intervals, throughput, sample counts and environment. Sorted keys,
//! so two baselines diff line by line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::criterion::Measured;
use crate::error::{ReportError, load_json, write_json};
use mcpbench_files::env::Environment;
use mcpbench_files::instructions::Count;

/// Schema tag of [`Baseline`].
pub const BASELINE_SCHEMA: &str = "mcpbench.baseline/1";

/// A saved run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`BASELINE_SCHEMA`].
    pub schema: String,
    /// Where the run was measured.
    pub environment: Environment,
    /// Results by bench id.
    pub benches: BTreeMap<String, Measured>,
    /// Instruction counts by bench id (`benches/instructions.rs`), when the run
    /// had them; baselines saved before counts existed have none.
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

    /// Reads and checks a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, ReportError> {
        #[derive(Deserialize)]
        struct Tag {
            schema: Option<String>,
        }
        let tag: Tag = load_json(path, "a baseline saved by `scripts/baseline save`")?;
        let found = tag.schema.unwrap_or_default();
        if found != BASELINE_SCHEMA {
            return Err(ReportError::Schema {
                path: path.to_path_buf(),
                found,
                expected: BASELINE_SCHEMA,
            });
        }
        let baseline: Baseline = load_json(path, "a baseline saved by `scripts/baseline save`")?;
        let invalid = |reason: String| ReportError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        if baseline.benches.is_empty() {
            return Err(invalid("baseline holds no bench".into()));
        }
        // A time that is not a positive finite number could never show a change.
        for (id, m) in &baseline.benches {
            let ok = |v: f64| v.is_finite() && v > 0.0;
            if !(ok(m.typical_ns) && ok(m.ci_lower_ns) && ok(m.ci_upper_ns))
                || m.ci_lower_ns > m.ci_upper_ns
            {
                return Err(invalid(format!(
                    "{id}: typical_ns {} with interval [{}, {}] is not a positive, finite, ordered time",
                    m.typical_ns, m.ci_lower_ns, m.ci_upper_ns
                )));
            }
        }
        for (id, c) in &baseline.instructions {
            if c.instructions == 0 || c.per_iteration == 0 {
                return Err(invalid(format!(
                    "{id}: an instruction count of 0 cannot be right"
                )));
            }
        }
        Ok(baseline)
    }

    /// Writes the baseline to `path`.
    pub fn save(&self, path: &Path) -> Result<(), ReportError> {
        write_json(path, self)
    }
}

/// Where baseline `name` lives: `name` itself when it looks like a path (has a
/// `/` or ends in `.json`), else `<baselines_dir>/<name>.json`.
pub fn resolve(name: &str, baselines_dir: &Path) -> PathBuf {
    if name.contains('/') || name.ends_with(".json") {
        PathBuf::from(name)
    } else {
        baselines_dir.join(format!("{name}.json"))
    }
}

/// Refuses a baseline name that would write outside the baselines folder.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        return Err(format!(
            "baseline name {name:?}: use letters, digits, '-', '_' and '.', not starting with '.'"
        ));
    }
    Ok(())
}

//! Stored baselines: `baselines/NAME.json`, a run's typical times with their
//! confidence intervals, throughput, sample counts and environment. Sorted keys,
//! so two baselines diff line by line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::criterion::Measured;
use super::error::{ReportError, load_json, write};
use crate::env::Environment;

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
}

impl Baseline {
    /// A baseline of `benches`, measured here and now.
    pub fn new(benches: BTreeMap<String, Measured>) -> Baseline {
        Baseline {
            schema: BASELINE_SCHEMA.to_string(),
            environment: Environment::capture(),
            benches,
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
        if baseline.benches.is_empty() {
            return Err(ReportError::Invalid {
                path: path.to_path_buf(),
                reason: "baseline holds no bench".into(),
            });
        }
        Ok(baseline)
    }

    /// Writes the baseline to `path`.
    pub fn save(&self, path: &Path) -> Result<(), ReportError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| ReportError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        write(path, &(text + "\n"))
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

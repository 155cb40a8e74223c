//! Stored baselines: `baselines/NAME.json`. The file's type is
//! [`mcpbench_files::baseline::Baseline`] (re-exported here); this module finds,
//! loads and saves them in the report's terms.

use std::path::{Path, PathBuf};

use crate::error::{ReportError, write_json};

pub use mcpbench_files::baseline::{BASELINE_SCHEMA, Baseline};

/// What a baseline file is, for the error when one is missing.
const WHAT: &str = "a baseline saved by `scripts/baseline save`";

/// Reads and checks the baseline at `path` ([`Baseline::load`]), in the report's
/// errors: a missing file says what it should have held.
pub fn load(path: &Path) -> Result<Baseline, ReportError> {
    Baseline::load(path).map_err(|e| ReportError::from_file(e, WHAT))
}

/// Writes `baseline` to `path` (pretty JSON, sorted keys, a final newline).
pub fn save(baseline: &Baseline, path: &Path) -> Result<(), ReportError> {
    write_json(path, baseline)
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

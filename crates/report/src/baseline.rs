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

/// Refuses a baseline name that is not a plain name, so `baseline save NAME`
/// writes `baselines/NAME.json` and nothing else: a path (`/`, `\\`), a name
/// starting with `.` or holding `..`, one ending in `.json` (it would be saved as
/// `NAME.json.json`, and read back as a path), or a character other than
/// `[A-Za-z0-9_.-]`.
pub fn check_name(name: &str) -> Result<(), ReportError> {
    let reason = if name.is_empty() {
        Some("is empty")
    } else if name.contains(['/', '\\']) {
        Some("is a path")
    } else if name.starts_with('.') {
        Some("starts with '.'")
    } else if name.contains("..") {
        Some("contains '..'")
    } else if name.ends_with(".json") {
        Some("ends in .json")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        Some("has a character other than letters, digits, '-', '_' and '.'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ReportError::Name {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Where `baseline save` writes baseline `name`: `<baselines_dir>/<name>.json`,
/// once [`check_name`] has passed it.
pub fn save_path(name: &str, baselines_dir: &Path) -> Result<PathBuf, ReportError> {
    check_name(name)?;
    Ok(baselines_dir.join(format!("{name}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_paths_or_end_in_json_are_refused_with_the_reason() {
        for (name, reason) in [
            ("../up", "is a path"),
            ("a/b", "is a path"),
            ("a\\b", "is a path"),
            ("/abs", "is a path"),
            ("x.json", "ends in .json"),
            (".hidden", "starts with '.'"),
            ("a..b", "contains '..'"),
            ("", "is empty"),
            ("a b", "has a character other than"),
            ("é", "has a character other than"),
        ] {
            let e = check_name(name).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("baseline name {name:?} {reason}")),
                "{e}"
            );
            assert!(e.contains("saved as baselines/NAME.json"), "{e}");
        }
        for name in ["main", "gate-base-1", "v1.2_rc", "ci-smoke"] {
            check_name(name).unwrap();
        }
    }
}

//! Run-to-run noise, measured: `baselines/noise-<machine>.json`.
//!
//! Criterion's confidence interval describes one run; on a shared machine two runs
//! of the same commit differ by far more than it. So the gate learns each bench's
//! spread from K runs of one commit (`scripts/noise`), and a change counts only
//! beyond it (as rustc-perf gates each benchmark on its own historical spread).
//!
//! A bench's spread is `(slowest - fastest) / fastest` over the K runs: the largest
//! difference two runs of the same code showed. The gate compares medians of
//! several rounds per side, which move less than single runs, so this is a
//! conservative threshold.
//!
//! The file's type is [`mcpbench_files::noise::NoiseFile`] (re-exported here);
//! this module computes it from baselines, names it and loads and saves it in the
//! report's terms.

use mcpbench_files::{Invalid, invalid};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::baseline::Baseline;
use crate::error::{ReportError, write_json};
use mcpbench_files::env::Environment;

pub use mcpbench_files::noise::{BenchNoise, NOISE_SCHEMA, NoiseFile};

/// Default spread above which a bench is named unstable, percent.
pub const DEFAULT_UNSTABLE_ABOVE_PCT: f64 = 25.0;

/// Least number of runs a noise file is computed from.
pub const MIN_RUNS: usize = 3;

/// A file-name-safe name for the machine of `env`: its CPU model and core count
/// (`amd-epyc-2c`).
pub fn machine_name(env: &Environment) -> String {
    let mut name = String::new();
    for c in env.cpu_model.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    format!("{}-{}c", name.trim_end_matches('-'), env.cores)
}

/// Where the noise file of this machine lives under `baselines_dir`.
pub fn default_path(baselines_dir: &Path) -> PathBuf {
    baselines_dir.join(format!(
        "noise-{}.json",
        machine_name(&Environment::capture())
    ))
}

/// `(max - min) / min` in percent; 0 for fewer than two values.
pub fn spread_pct(values: &[f64]) -> f64 {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() < 2 || min <= 0.0 {
        0.0
    } else {
        (max - min) / min * 100.0
    }
}

/// The median of `values` (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The noise of `runs` (named `names`), all of one commit on this machine.
/// Benches in fewer than [`MIN_RUNS`] runs are left out.
pub fn from_runs(
    names: &[String],
    runs: &[Baseline],
    unstable_above_pct: f64,
) -> Result<NoiseFile, Invalid> {
    if runs.len() < MIN_RUNS {
        return Err(invalid!(
            "{} run(s) given; the spread needs at least {MIN_RUNS} runs of the same commit",
            runs.len()
        ));
    }
    let commits: Vec<&str> = runs
        .iter()
        .map(|r| r.environment.git_commit.as_str())
        .collect();
    if commits.iter().any(|c| *c != commits[0]) {
        return Err(invalid!(
            "the runs come from different commits ({}): noise is measured on one commit",
            commits.join(", ")
        ));
    }
    let mut ids: Vec<&String> = runs.iter().flat_map(|r| r.benches.keys()).collect();
    ids.sort();
    ids.dedup();
    let mut benches = BTreeMap::new();
    for id in ids {
        let times: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.benches.get(id).map(|m| m.typical_ns))
            .collect();
        if times.len() < MIN_RUNS {
            continue;
        }
        let counts: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.instructions.get(id).map(|c| c.instructions as f64))
            .collect();
        benches.insert(
            id.clone(),
            BenchNoise {
                runs: times.len(),
                median_ns: median(&times).unwrap_or(0.0),
                spread_pct: spread_pct(&times),
                instructions_spread_pct: (counts.len() >= 2).then(|| spread_pct(&counts)),
            },
        );
    }
    let environment = runs.last().map(|r| r.environment.clone()).ok_or("no run")?;
    Ok(NoiseFile {
        schema: NOISE_SCHEMA.to_string(),
        machine: machine_name(&environment),
        environment,
        runs: names.to_vec(),
        unstable_above_pct,
        benches,
    })
}

/// What a noise file is, for the error when one is missing.
const WHAT: &str = "a noise file written by `scripts/noise`";

/// Reads and checks the noise file at `path` ([`NoiseFile::load`]), in the
/// report's errors: a missing file says what it should have held.
pub fn load(path: &Path) -> Result<NoiseFile, ReportError> {
    NoiseFile::load(path).map_err(|e| ReportError::from_file(e, WHAT))
}

/// Writes `file` to `path` (pretty JSON, sorted keys, a final newline).
pub fn save(file: &NoiseFile, path: &Path) -> Result<(), ReportError> {
    write_json(path, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_median() {
        assert!((spread_pct(&[100.0, 110.0, 105.0]) - 10.0).abs() < 1e-9);
        assert_eq!(spread_pct(&[100.0]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    fn run(commit: &str, ns: f64) -> Baseline {
        use crate::criterion::Measured;
        let mut b = Baseline::new(BTreeMap::new(), BTreeMap::new());
        b.environment.git_commit = commit.into();
        let m = Measured {
            typical_ns: ns,
            ci_lower_ns: ns,
            ci_upper_ns: ns,
            estimator: "mean".into(),
            per_iteration: None,
            unit: None,
            samples: 10,
        };
        b.benches.insert("g/f/p".into(), m);
        b
    }

    #[test]
    fn the_spread_of_runs_of_one_commit_is_measured() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let runs = [run("x", 100.0), run("x", 130.0), run("x", 110.0)];
        let n = from_runs(&names, &runs, 25.0).unwrap();
        let b = &n.benches["g/f/p"];
        assert!((b.spread_pct - 30.0).abs() < 1e-9, "{b:?}");
        assert_eq!(b.median_ns, 110.0);
        assert!(n.unstable("g/f/p"), "30% is above 25%");
    }

    #[test]
    fn too_few_runs_or_runs_of_different_commits_are_refused() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let two = from_runs(&names[..2], &[run("x", 1.0), run("x", 1.0)], 25.0);
        assert!(two.unwrap_err().0.contains("at least 3"));
        let mixed = from_runs(&names, &[run("x", 1.0), run("y", 1.0), run("x", 1.0)], 25.0);
        assert!(mixed.unwrap_err().0.contains("different commits"));
    }

    #[test]
    fn machine_names_are_file_safe() {
        let mut env = Environment::capture();
        env.cpu_model = "AMD EPYC 7B13 64-Core Processor".into();
        env.cores = 2;
        assert_eq!(machine_name(&env), "amd-epyc-7b13-64-core-processor-2c");
    }
}

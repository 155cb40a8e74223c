//! The report, baseline and compare commands (`scripts/report`, `scripts/baseline`,
//! `scripts/compare`; the binary is `src/bin/mcpbench.rs`). The logic lives here,
//! tested on a captured real run (`tests/fixtures/run`).

pub mod baseline;
pub mod compare;
pub mod criterion;
pub mod error;
pub mod inputs;
pub mod render;
pub mod targets;

use std::path::{Path, PathBuf};

pub use error::ReportError;

use baseline::Baseline;
use inputs::Run;
use targets::Targets;

/// Default regression threshold of `compare`, percent.
pub const DEFAULT_THRESHOLD_PCT: f64 = 5.0;

/// The workspace root (where `baselines/` is).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Inputs and outputs of one report.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    /// Criterion's output folder (`target/criterion`).
    pub criterion: PathBuf,
    /// This project's side files (`target/mcpbench`).
    pub side: PathBuf,
    /// The targets file.
    pub targets: PathBuf,
    /// Where to write `report.md`, `report.json`, `throughput.svg`, `bench-results.json`.
    pub out: PathBuf,
}

impl Default for ReportPaths {
    fn default() -> Self {
        let target = crate::results::target_dir();
        ReportPaths {
            criterion: target.join("criterion"),
            side: target.join("mcpbench"),
            targets: workspace_root().join("baselines").join("targets.toml"),
            out: target.join("mcpbench"),
        }
    }
}

/// Writes the report; returns it (so the caller can apply `--strict`) and the
/// path of `report.md`.
pub fn write_report(
    paths: &ReportPaths,
    baseline: Option<&str>,
    threshold_pct: f64,
) -> Result<(render::Report, PathBuf), ReportError> {
    let targets = Targets::load(&paths.targets)?;
    let run = Run::read(&paths.criterion, &paths.side)?;
    let loaded = match baseline {
        Some(name) => {
            let path = baseline::resolve(name, &workspace_root().join("baselines"));
            Some((name, Baseline::load(&path)?))
        }
        None => None,
    };
    let report = render::build(
        &run,
        &targets,
        loaded.as_ref().map(|(n, b)| (*n, b)),
        threshold_pct,
    );
    let md_path = paths.out.join("report.md");
    error::write(
        &paths.out.join("throughput.svg"),
        &render::svg(&report, &targets),
    )?;
    error::write(&md_path, &render::markdown(&report, Some("throughput.svg")))?;
    error::write(&paths.out.join("report.json"), &pretty(&report))?;
    error::write(
        &paths.out.join("bench-results.json"),
        &pretty(&render::bench_results(&run)),
    )?;
    Ok((report, md_path))
}

/// Pretty JSON. Serializing these plain structs cannot fail; an empty file would
/// show it if it ever did.
fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// Saves the Criterion run in `criterion_dir` as baseline `name` under
/// `baselines_dir`; returns the file written.
pub fn save_baseline(
    name: &str,
    criterion_dir: &Path,
    baselines_dir: &Path,
) -> Result<PathBuf, ReportError> {
    let path = baseline::resolve(name, baselines_dir);
    let run = criterion::read_run(criterion_dir)?;
    Baseline::new(run).save(&path)?;
    Ok(path)
}

/// Compares baseline `base` with baseline `new`, or with the run in
/// `criterion_dir` when `new` is `None`. Returns the Markdown table and whether
/// anything regressed.
pub fn compare_runs(
    base: &str,
    new: Option<&str>,
    criterion_dir: &Path,
    baselines_dir: &Path,
    threshold_pct: f64,
) -> Result<(String, bool), ReportError> {
    let base_path = baseline::resolve(base, baselines_dir);
    let base_run = Baseline::load(&base_path)?;
    let (new_run, new_name) = match new {
        Some(n) => (
            Baseline::load(&baseline::resolve(n, baselines_dir))?.benches,
            n.to_string(),
        ),
        None => (
            criterion::read_run(criterion_dir)?,
            format!("the run in {}", criterion_dir.display()),
        ),
    };
    if !base_run.benches.keys().any(|k| new_run.contains_key(k)) {
        return Err(ReportError::ForeignBaseline { path: base_path });
    }
    let rows = compare::compare(&base_run.benches, &new_run, threshold_pct);
    let mut md = format!("### Benchmark comparison: `{base}` → {new_name}\n\n");
    md.push_str(&compare::markdown(&rows, threshold_pct));
    Ok((md, compare::regressed(&rows)))
}

//! Reading a Criterion run: `target/criterion/<id>/new/{benchmark,estimates,sample}.json`,
//! into the per-bench [`Measured`] a baseline stores (its type, with [`Unit`], is
//! in [`mcpbench_files::baseline`], re-exported here).

use mcpbench_files::Invalid;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ReportError, load_json};

pub use mcpbench_files::baseline::{Measured, Unit};

use mcpbench_files::baseline::check_estimate;

#[derive(Deserialize)]
struct BenchmarkJson {
    full_id: String,
    throughput: Option<BTreeMap<String, u64>>,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct Estimate {
    confidence_interval: Interval,
    point_estimate: f64,
}

#[derive(Deserialize)]
struct EstimatesJson {
    mean: Estimate,
    slope: Option<Estimate>,
}

#[derive(Deserialize)]
struct SampleJson {
    iters: Vec<f64>,
}

/// Reads every bench under `dir` (Criterion's output folder), by id.
pub fn read_run(dir: &Path) -> Result<BTreeMap<String, Measured>, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NoResults(dir.to_path_buf()));
    }
    let mut found = Vec::new();
    find_benches(dir, &mut found, &mut BTreeSet::new())?;
    let mut run = BTreeMap::new();
    for bench_dir in found {
        let (id, measured) = read_bench(&bench_dir)?;
        run.insert(id, measured);
    }
    if run.is_empty() {
        return Err(ReportError::NoResults(dir.to_path_buf()));
    }
    Ok(run)
}

/// Folders holding a `new/benchmark.json`, depth first, each once. Symlinked
/// folders are followed (a `target/criterion` put elsewhere still reads) but every
/// folder is entered once, by its canonical path, so a symlink loop (`a/up ->
/// ..`) ends the walk instead of recursing until the path is too long.
fn find_benches(
    dir: &Path,
    found: &mut Vec<PathBuf>,
    visited: &mut BTreeSet<PathBuf>,
) -> Result<(), ReportError> {
    let canonical = dir.canonicalize().map_err(|e| ReportError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    if !visited.insert(canonical) {
        return Ok(());
    }
    if dir.join("new").join("benchmark.json").is_file() {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| ReportError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            // `is_dir` follows links; a dangling one or a link to itself is not a
            // folder.
            p.is_dir()
                && !matches!(
                    p.file_name().and_then(|n| n.to_str()),
                    Some("report" | "base" | "change" | "profile")
                )
        })
        .collect();
    subdirs.sort();
    for sub in subdirs {
        find_benches(&sub, found, visited)?;
    }
    Ok(())
}

/// Refuses an estimate of Criterion's `estimates.json` (`mean` or `slope`) that
/// is not a time ([`mcpbench_files::baseline::check_time`]: finite, above 0, at most one hour) or whose
/// interval does not contain it; the reason names the field (`slope.point_estimate`).
fn check(name: &str, e: &Estimate) -> Result<(), Invalid> {
    let ci = &e.confidence_interval;
    check_estimate(
        name,
        name,
        [
            ("point_estimate", e.point_estimate),
            ("confidence_interval.lower_bound", ci.lower_bound),
            ("confidence_interval.upper_bound", ci.upper_bound),
        ],
    )
}

/// Reads one bench folder.
pub fn read_bench(dir: &Path) -> Result<(String, Measured), ReportError> {
    let new = dir.join("new");
    let bench: BenchmarkJson =
        load_json(&new.join("benchmark.json"), "Criterion's bench description")?;
    let estimates_path = new.join("estimates.json");
    let estimates: EstimatesJson =
        load_json(&estimates_path, "Criterion's estimates of this bench")?;
    let sample: SampleJson = load_json(
        &new.join("sample.json"),
        "Criterion's samples of this bench",
    )?;
    // Both estimates are checked, the one not used too: either out of range
    // means the file is not what Criterion wrote.
    let checked = check("mean", &estimates.mean).and_then(|()| match &estimates.slope {
        Some(slope) => check("slope", slope),
        None => Ok(()),
    });
    if let Err(e) = checked {
        return Err(ReportError::Invalid {
            path: estimates_path,
            reason: e.0,
        });
    }
    let (estimator, e) = match estimates.slope {
        Some(slope) => ("slope", slope),
        None => ("mean", estimates.mean),
    };
    let ci = &e.confidence_interval;
    let throughput = bench.throughput.and_then(|t| t.into_iter().next());
    let (unit, per_iteration) = match throughput {
        Some((kind, n)) if kind == "Elements" => (Some(Unit::Elements), Some(n)),
        Some((kind, n)) if kind.starts_with("Bytes") => (Some(Unit::Bytes), Some(n)),
        _ => (None, None),
    };
    Ok((
        bench.full_id,
        Measured {
            typical_ns: e.point_estimate,
            ci_lower_ns: ci.lower_bound,
            ci_upper_ns: ci.upper_bound,
            estimator: estimator.to_string(),
            per_iteration,
            unit,
            samples: sample.iters.len() as u64,
        },
    ))
}

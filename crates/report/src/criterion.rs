//! Reading a Criterion run: `target/criterion/<id>/new/{benchmark,estimates,sample}.json`,
//! into the per-bench [`Measured`] a baseline stores (its type, with [`Unit`], is
//! in [`mcpbench_files::baseline`], re-exported here).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ReportError, load_json};

pub use mcpbench_files::baseline::{Measured, Unit};

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
    find_benches(dir, &mut found)?;
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

/// Folders holding a `new/benchmark.json`, depth first.
fn find_benches(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), ReportError> {
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
            p.is_dir()
                && !matches!(
                    p.file_name().and_then(|n| n.to_str()),
                    Some("report" | "base" | "change" | "profile")
                )
        })
        .collect();
    subdirs.sort();
    for sub in subdirs {
        find_benches(&sub, found)?;
    }
    Ok(())
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
    let (estimator, e) = match estimates.slope {
        Some(slope) => ("slope", slope),
        None => ("mean", estimates.mean),
    };
    let ci = &e.confidence_interval;
    if !(e.point_estimate > 0.0
        && ci.lower_bound > 0.0
        && ci.lower_bound <= e.point_estimate
        && e.point_estimate <= ci.upper_bound)
    {
        return Err(ReportError::Invalid {
            path: estimates_path,
            reason: format!(
                "{} estimate {} ns outside its interval [{}, {}] or not positive",
                estimator, e.point_estimate, ci.lower_bound, ci.upper_bound
            ),
        });
    }
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

//! Comparing two runs: the pull-request regression gate.
//!
//! A bench regressed when it is slower by more than the threshold **and** the
//! confidence intervals of the two typical times do not overlap (METHOD.md).
//! Improvements and noise are shown, never failed; benches on one side only are
//! listed, never dropped.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::criterion::Measured;

/// What happened to one bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Slower beyond the threshold, intervals apart: fails the gate.
    Regression,
    /// Faster beyond the threshold, intervals apart.
    Improvement,
    /// Within the threshold, or intervals overlap.
    Noise,
    /// Only in the base run.
    Removed,
    /// Only in the new run.
    Added,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improvement => "improvement",
            Verdict::Noise => "no change (noise)",
            Verdict::Removed => "only in base",
            Verdict::Added => "only in new",
        }
    }
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Bench id.
    pub id: String,
    /// Base typical ns per iteration.
    pub base_ns: Option<f64>,
    /// New typical ns per iteration.
    pub new_ns: Option<f64>,
    /// Change of the typical time, percent (positive = slower).
    pub change_pct: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Compares every bench of `base` and `new`.
pub fn compare(
    base: &BTreeMap<String, Measured>,
    new: &BTreeMap<String, Measured>,
    threshold_pct: f64,
) -> Vec<Row> {
    let mut ids: Vec<&String> = base.keys().chain(new.keys()).collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|id| match (base.get(id), new.get(id)) {
            (Some(b), Some(n)) => {
                let change = (n.typical_ns - b.typical_ns) / b.typical_ns * 100.0;
                let verdict = if change > threshold_pct && n.ci_lower_ns > b.ci_upper_ns {
                    Verdict::Regression
                } else if change < -threshold_pct && n.ci_upper_ns < b.ci_lower_ns {
                    Verdict::Improvement
                } else {
                    Verdict::Noise
                };
                Row {
                    id: id.clone(),
                    base_ns: Some(b.typical_ns),
                    new_ns: Some(n.typical_ns),
                    change_pct: Some(change),
                    verdict,
                }
            }
            (Some(b), None) => Row {
                id: id.clone(),
                base_ns: Some(b.typical_ns),
                new_ns: None,
                change_pct: None,
                verdict: Verdict::Removed,
            },
            (None, Some(n)) => Row {
                id: id.clone(),
                base_ns: None,
                new_ns: Some(n.typical_ns),
                change_pct: None,
                verdict: Verdict::Added,
            },
            (None, None) => unreachable!("ids come from the two maps"),
        })
        .collect()
}

/// True when any row is a regression.
pub fn regressed(rows: &[Row]) -> bool {
    rows.iter().any(|r| r.verdict == Verdict::Regression)
}

/// A time in the most readable unit.
pub fn human_ns(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.3} s", n / 1e9),
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.3} µs", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}

/// The comparison as a Markdown table with a one-line summary.
pub fn markdown(rows: &[Row], threshold_pct: f64) -> String {
    let mut out = String::new();
    let count = |v| rows.iter().filter(|r| r.verdict == v).count();
    let _ = writeln!(
        out,
        "**{} regression(s)**, {} improvement(s), {} within noise, {} only in base, {} only in new (threshold {threshold_pct}%, and 95% intervals must not overlap).\n",
        count(Verdict::Regression),
        count(Verdict::Improvement),
        count(Verdict::Noise),
        count(Verdict::Removed),
        count(Verdict::Added)
    );
    out.push_str("| bench | base | new | change | verdict |\n|---|---:|---:|---:|---|\n");
    for r in rows {
        let cell = |v: Option<f64>| v.map_or("—".to_string(), human_ns);
        let change = r
            .change_pct
            .map_or("—".to_string(), |c| format!("{c:+.1}%"));
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            r.id,
            cell(r.base_ns),
            cell(r.new_ns),
            change,
            r.verdict.label()
        );
    }
    out
}

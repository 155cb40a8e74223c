//! `bench-results.json`: every bench in github-action-benchmark's
//! `customBiggerIsBetter` form.

use crate::compare::human_ns;
use crate::criterion::Unit;
use crate::inputs::Run;

/// Every bench with a throughput, in github-action-benchmark's
/// `customBiggerIsBetter` format (also read by Bencher).
pub fn bench_results(run: &Run) -> serde_json::Value {
    let mut out: Vec<serde_json::Value> = run
        .benches
        .iter()
        .filter_map(|(id, m)| {
            let r = m.per_second()?;
            let (lo, hi) = m.per_second_ci()?;
            let unit = if m.unit == Some(Unit::Bytes) { "bytes/s" } else { "ops/s" };
            Some(serde_json::json!({
                "name": id,
                "unit": unit,
                "value": r,
                "range": format!("{:.0}..{:.0}", lo, hi),
                "extra": format!("{} samples, typical {} per iteration ({})", m.samples, human_ns(m.typical_ns), m.estimator),
            }))
        })
        .collect();
    if let Some(s) = &run.sustained {
        out.push(serde_json::json!({"name": s.id, "unit": "ops/s", "value": s.ops_per_s, "extra": format!("{} ops in {:.1} s", s.ops, s.seconds)}));
    }
    serde_json::Value::Array(out)
}

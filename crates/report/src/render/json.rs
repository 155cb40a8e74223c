//! `report.json` (the findings with the result files they were made from) and
//! `bench-results.json` (every bench in github-action-benchmark's
//! `customBiggerIsBetter` form).

use serde::Serialize;

use crate::compare::human_ns;
use crate::criterion::Unit;
use crate::evaluate::Report;
use crate::inputs::Run;

/// `report.json`: the findings, and beside them the result files of the run.
#[derive(Serialize)]
pub struct ReportJson<'a> {
    #[serde(flatten)]
    findings: &'a Report,
    memory: &'a Option<mcpbench_files::bench::MemoryFile>,
    sustained: &'a Option<mcpbench_files::bench::SustainedFile>,
    connections: &'a Option<mcpbench_files::ConnectionsFile>,
    connections_bare: &'a Option<mcpbench_files::ConnectionsFile>,
    connections_http: &'a Option<mcpbench_files::ConnectionsFile>,
    connections_http_bare: &'a Option<mcpbench_files::ConnectionsFile>,
    compare: &'a Option<mcpbench_files::compare::CompareFile>,
    capacity: &'a Option<mcpbench_files::capacity::CapacityFile>,
    lifecycle: &'a Option<mcpbench_files::lifecycle::LifecycleFile>,
    scaling: &'a Option<mcpbench_files::lifecycle::ScalingFile>,
    scenario: &'a Option<mcpbench_files::scenario::ScenarioFile>,
    listen: &'a [mcpbench_files::listen::ListenFile],
}

/// The findings of `run` with its result files, as `report.json` holds them.
pub fn report_json<'a>(report: &'a Report, run: &'a Run) -> ReportJson<'a> {
    ReportJson {
        findings: report,
        memory: &run.memory,
        sustained: &run.sustained,
        connections: &run.connections,
        connections_bare: &run.connections_bare,
        connections_http: &run.connections_http,
        connections_http_bare: &run.connections_http_bare,
        compare: &run.compare,
        capacity: &run.capacity,
        lifecycle: &run.lifecycle,
        scaling: &run.scaling,
        scenario: &run.scenario,
        listen: &run.listen,
    }
}

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

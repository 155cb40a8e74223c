//! Evaluate, then render: the run and the targets in, typed findings out (the
//! executive rows, each test's block, the bottleneck sentences, what is missing).
//! The renderers (`crate::render`) take the run and these findings and decide
//! nothing. One file per kind: `benches` (the Criterion tests, ceiling ratios,
//! baseline verdicts), `kinds` (memory, sustained, connections), `summary` (the
//! rows over every test: worst latency, ratios, capacity, tests passing,
//! bottlenecks).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::baseline::Baseline;
use crate::compare::Verdict;
use crate::criterion::Measured;
use crate::inputs::Run;
use crate::noise::NoiseFile;
use crate::targets::{Kind, Targets};
use mcpbench_files::env::Environment;
use mcpbench_files::latency::LatencyFile;

mod benches;
mod kinds;
mod summary;

/// Whether a target is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Met.
    Pass,
    /// Missed.
    Fail,
    /// No result to judge.
    NoData,
}

impl Status {
    /// The table cell for this status.
    pub fn cell(self) -> &'static str {
        match self {
            Status::Pass => "✓ PASS",
            Status::Fail => "✗ FAIL",
            Status::NoData => "— no data",
        }
    }

    /// Both met: a failure or a missing result wins.
    pub fn and(self, other: Status) -> Status {
        match (self, other) {
            (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
            (Status::NoData, _) | (_, Status::NoData) => Status::NoData,
            _ => Status::Pass,
        }
    }

    /// Met when `ok`.
    pub fn of(ok: bool) -> Status {
        if ok { Status::Pass } else { Status::Fail }
    }
}

/// One line of the executive table.
#[derive(Debug, Clone, Serialize)]
pub struct ExecRow {
    /// What is measured.
    pub metric: String,
    /// The figure.
    pub value: String,
    /// The target, as written in the targets file.
    pub target: String,
    /// Met or not.
    pub status: Status,
}

/// A bench against its ceiling.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingRatio {
    /// The ceiling bench.
    pub ceiling: String,
    /// bench throughput / ceiling throughput, same run.
    pub ratio: f64,
    /// Least ratio expected.
    pub min: f64,
    /// Met or not.
    pub status: Status,
    /// The ratio is above 1.0 by more than the two benches' run-to-run noise (or
    /// the default threshold without a noise file): the component beats its
    /// ceiling, so the ceiling is not the library's limit and must be fixed.
    pub too_weak: bool,
    /// The targets file's explanation of this ratio, if it has one.
    pub note: Option<String>,
}

/// One bench in a component block.
#[derive(Debug, Clone, Serialize)]
pub struct BenchLine {
    /// Bench id.
    pub id: String,
    /// The Criterion result.
    pub measured: Measured,
    /// Units per second (ops, or bytes for byte benches).
    pub per_second: Option<f64>,
    /// Latency side file, when the bench wrote one.
    pub latency: Option<LatencyFile>,
    /// Against its ceiling, when the targets pair it with one.
    pub ceiling: Option<CeilingRatio>,
    /// The bench's run-to-run spread, percent, when the noise file names it
    /// unstable.
    pub unstable_spread_pct: Option<f64>,
    /// Change of the typical time against the baseline, percent (+ = slower).
    pub baseline_change_pct: Option<f64>,
    /// The compare verdict against the baseline.
    pub baseline_verdict: Option<Verdict>,
}

/// One of the eight tests.
#[derive(Debug, Clone, Serialize)]
pub struct TestBlock {
    /// Group name.
    pub name: String,
    /// Heading.
    pub title: String,
    /// Headline bench id.
    pub headline: Option<String>,
    /// Headline throughput, ops/s.
    pub ops_per_s: Option<f64>,
    /// The erlmcp report's published figure.
    pub seed_ops_per_s: Option<f64>,
    /// What the erlmcp report's code really measured.
    pub seed_note: Option<String>,
    /// Overall status against the targets.
    pub status: Status,
    /// Every bench of the group.
    pub benches: Vec<BenchLine>,
}

/// The whole evaluation: every finding, no input file (the renderers take the
/// run beside it).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where the report was made (the run's files carry their own).
    pub environment: Environment,
    /// The baseline compared against, if any.
    pub baseline: Option<String>,
    /// The executive table.
    pub executive: Vec<ExecRow>,
    /// The eight tests.
    pub tests: Vec<TestBlock>,
    /// Bottleneck findings, one sentence each.
    pub bottleneck: Vec<String>,
    /// Benches or files the targets name that the run does not have.
    pub missing: Vec<String>,
}

impl Report {
    /// True when every target is met and nothing the targets name is missing.
    pub fn all_met(&self) -> bool {
        self.missing.is_empty() && self.executive.iter().all(|r| r.status == Status::Pass)
    }
}

/// The latency file that stands for test `t`: its `latency` bench, else its headline.
fn headline_latency_of<'a>(
    t: &super::targets::Test,
    latency: &'a BTreeMap<String, LatencyFile>,
) -> Option<&'a LatencyFile> {
    latency.get(t.latency.as_ref().or(t.headline.as_ref())?)
}

/// What every finding is judged from.
struct Ctx<'a> {
    run: &'a Run,
    targets: &'a Targets,
    noise: Option<&'a NoiseFile>,
    threshold_pct: f64,
    /// Each bench's change against the baseline and its verdict.
    verdicts: BTreeMap<String, (Option<f64>, Verdict)>,
}

impl Ctx<'_> {
    /// A latency file against the P95 and P99 targets.
    fn latency_status(&self, l: &LatencyFile) -> Status {
        Status::of(l.p95 <= self.targets.max_p95_ns && l.p99 <= self.targets.max_p99_ns)
    }
}

/// What the evaluation gathers besides the test blocks.
#[derive(Default)]
struct Out {
    executive: Vec<ExecRow>,
    missing: Vec<String>,
}

/// Evaluates `run` against `targets` (and `baseline`, when given, at
/// `threshold_pct`; `noise` names unstable benches and tells a ceiling beaten by
/// noise from one beaten for real). `environment` is where the report is made.
pub fn evaluate(
    run: &Run,
    targets: &Targets,
    baseline: Option<(&str, &Baseline)>,
    threshold_pct: f64,
    noise: Option<&NoiseFile>,
    environment: Environment,
) -> Report {
    let c = Ctx {
        run,
        targets,
        noise,
        threshold_pct,
        verdicts: benches::baseline_verdicts(run, baseline, threshold_pct),
    };
    let mut out = Out::default();
    benches::missing_ratio_benches(&c, &mut out);
    let mut tests = Vec::new();
    for t in &targets.test {
        let mut block = TestBlock {
            name: t.name.clone(),
            title: t.title.clone(),
            headline: t.headline.clone(),
            ops_per_s: None,
            seed_ops_per_s: t.seed_ops_per_s,
            seed_note: t.seed_note.clone(),
            status: Status::NoData,
            benches: Vec::new(),
        };
        match t.kind {
            Kind::Criterion => benches::criterion(t, &c, &mut block, &mut out),
            Kind::Memory => kinds::memory(&c, &mut block, &mut out),
            Kind::Sustained => kinds::sustained(&c, &mut block, &mut out),
            Kind::Connections => kinds::connections(&c, &mut block, &mut out),
        }
        tests.push(block);
    }
    summary::worst_latency(&c, &mut out);
    let ratios = summary::ratios(&tests);
    summary::ratios_row(&c, &ratios, &mut out);
    summary::capacity(&c, &mut out);
    summary::tests_passing(&tests, &mut out);
    let bottleneck = summary::bottleneck(&c, &tests, &ratios);
    Report {
        environment,
        baseline: baseline.map(|(n, _)| n.to_string()),
        executive: out.executive,
        tests,
        bottleneck,
        missing: out.missing,
    }
}

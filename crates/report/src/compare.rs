//! Comparing two versions: the pull-request regression gate.
//!
//! Each side is one or more rounds (baselines) of one version, ideally run
//! alternately with the other side's rounds (`scripts/gate`), so drift hits both.
//! Each bench is judged on one channel:
//!
//! - **instructions**, when both sides have a callgrind count for it (the CPU-bound
//!   benches): a change counts beyond `max(--instructions-threshold, its measured
//!   instruction spread)`. Counts do not move with the machine's load.
//! - **wall clock** otherwise (I/O-bound and threaded benches): the change of the
//!   median of the rounds counts beyond `max(--threshold, the bench's run-to-run
//!   spread from the noise file, the spread within either side's rounds)`, and only
//!   when the two sides' ranges (every round's 95% interval) do not overlap.
//!
//! That threshold is also the smallest change the gate could detect on the bench,
//! and the table shows it. Benches whose measured spread is above the noise file's
//! bound are named unstable. Improvements and noise are shown, never failed;
//! benches on one side only are listed, never dropped.

use std::fmt::Write;

use serde::Serialize;

use crate::baseline::Baseline;
use crate::noise::{NoiseFile, median, spread_pct};

/// What happened to one bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Slower beyond the applied threshold (and, on the wall clock, ranges apart):
    /// fails the gate.
    Regression,
    /// Faster beyond the applied threshold.
    Improvement,
    /// Within the threshold, or ranges overlap.
    Noise,
    /// Only in the base.
    Removed,
    /// Only in the new side.
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

/// Which measurement decided a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// callgrind instruction counts.
    Instructions,
    /// Criterion's wall-clock times.
    WallClock,
}

/// Where the applied threshold came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdSource {
    /// The command line's minimum.
    Flag,
    /// The bench's run-to-run spread in the noise file.
    Noise,
    /// The spread of this comparison's own rounds.
    Rounds,
}

/// The settings of one comparison.
#[derive(Debug, Clone)]
pub struct Gate<'a> {
    /// Least wall-clock change that counts, percent.
    pub threshold_pct: f64,
    /// Least instruction-count change that counts, percent.
    pub instructions_threshold_pct: f64,
    /// This machine's measured run-to-run noise, if any.
    pub noise: Option<&'a NoiseFile>,
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Bench id.
    pub id: String,
    /// Median base typical ns per iteration over its rounds.
    pub base_ns: Option<f64>,
    /// Median new typical ns per iteration.
    pub new_ns: Option<f64>,
    /// Change of the median time, percent (positive = slower).
    pub change_pct: Option<f64>,
    /// Base instructions per iteration, when counted.
    pub base_instructions: Option<u64>,
    /// New instructions per iteration, when counted.
    pub new_instructions: Option<u64>,
    /// Change of the instruction count, percent.
    pub instructions_change_pct: Option<f64>,
    /// The channel that decided, when both sides have the bench.
    pub channel: Option<Channel>,
    /// The threshold applied on that channel, percent: also the smallest change
    /// this comparison could detect on this bench.
    pub threshold_pct: Option<f64>,
    /// Where that threshold came from.
    pub threshold_source: Option<ThresholdSource>,
    /// The bench's run-to-run wall-clock spread from the noise file, percent.
    pub noise_pct: Option<f64>,
    /// Named unstable: its spread is above the noise file's bound.
    pub unstable: bool,
    /// The verdict.
    pub verdict: Verdict,
}

/// One side's times for one bench over its rounds.
struct Times {
    typical: Vec<f64>,
    lowest: f64,
    highest: f64,
    instructions: Option<u64>,
}

fn times(side: &[Baseline], id: &str) -> Option<Times> {
    let measured: Vec<_> = side.iter().filter_map(|b| b.benches.get(id)).collect();
    if measured.is_empty() {
        return None;
    }
    let counts: Vec<f64> = side
        .iter()
        .filter_map(|b| b.instructions.get(id).map(|c| c.instructions as f64))
        .collect();
    Some(Times {
        typical: measured.iter().map(|m| m.typical_ns).collect(),
        lowest: measured
            .iter()
            .map(|m| m.ci_lower_ns)
            .fold(f64::INFINITY, f64::min),
        highest: measured
            .iter()
            .map(|m| m.ci_upper_ns)
            .fold(f64::NEG_INFINITY, f64::max),
        instructions: median(&counts).map(|c| c.round() as u64),
    })
}

fn pct(base: f64, new: f64) -> f64 {
    (new - base) / base * 100.0
}

/// The larger of a threshold and its candidates, with where it came from.
fn applied(candidates: &[(f64, ThresholdSource)]) -> (f64, ThresholdSource) {
    candidates
        .iter()
        .copied()
        .fold((0.0, ThresholdSource::Flag), |best, c| {
            if c.0 > best.0 { c } else { best }
        })
}

/// Compares every bench of the `base` rounds with the `new` rounds.
pub fn compare(base: &[Baseline], new: &[Baseline], gate: &Gate) -> Vec<Row> {
    let mut ids: Vec<&String> = base
        .iter()
        .chain(new)
        .flat_map(|b| b.benches.keys())
        .collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let noise = gate.noise.and_then(|n| n.benches.get(id));
            let mut row = Row {
                id: id.clone(),
                base_ns: None,
                new_ns: None,
                change_pct: None,
                base_instructions: None,
                new_instructions: None,
                instructions_change_pct: None,
                channel: None,
                threshold_pct: None,
                threshold_source: None,
                noise_pct: noise.map(|n| n.spread_pct),
                unstable: gate.noise.is_some_and(|n| n.unstable(id)),
                verdict: Verdict::Noise,
            };
            let (b, n) = match (times(base, id), times(new, id)) {
                (Some(b), Some(n)) => (b, n),
                (b, n) => {
                    row.base_ns = b.and_then(|t| median(&t.typical));
                    row.new_ns = n.and_then(|t| median(&t.typical));
                    row.verdict = if row.base_ns.is_some() {
                        Verdict::Removed
                    } else {
                        Verdict::Added
                    };
                    return row;
                }
            };
            let (bm, nm) = (
                median(&b.typical).unwrap_or(f64::NAN),
                median(&n.typical).unwrap_or(f64::NAN),
            );
            let change = pct(bm, nm);
            row.base_ns = Some(bm);
            row.new_ns = Some(nm);
            row.change_pct = Some(change);
            row.base_instructions = b.instructions;
            row.new_instructions = n.instructions;
            if let (Some(bi), Some(ni)) = (b.instructions, n.instructions) {
                let change = pct(bi as f64, ni as f64);
                let (t, source) = applied(&[
                    (gate.instructions_threshold_pct, ThresholdSource::Flag),
                    (
                        noise.and_then(|n| n.instructions_spread_pct).unwrap_or(0.0),
                        ThresholdSource::Noise,
                    ),
                ]);
                row.instructions_change_pct = Some(change);
                row.channel = Some(Channel::Instructions);
                // Counts do not share the clock's noise: the bench is judged on a
                // stable channel, whatever its times do.
                row.unstable = false;
                row.threshold_pct = Some(t);
                row.threshold_source = Some(source);
                row.verdict = if change > t {
                    Verdict::Regression
                } else if change < -t {
                    Verdict::Improvement
                } else {
                    Verdict::Noise
                };
                return row;
            }
            let rounds = spread_pct(&b.typical).max(spread_pct(&n.typical));
            let (t, source) = applied(&[
                (gate.threshold_pct, ThresholdSource::Flag),
                (noise.map_or(0.0, |n| n.spread_pct), ThresholdSource::Noise),
                (rounds, ThresholdSource::Rounds),
            ]);
            row.channel = Some(Channel::WallClock);
            row.threshold_pct = Some(t);
            row.threshold_source = Some(source);
            row.verdict = if change > t && n.lowest > b.highest {
                Verdict::Regression
            } else if change < -t && n.highest < b.lowest {
                Verdict::Improvement
            } else {
                Verdict::Noise
            };
            row
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

fn signed(v: Option<f64>) -> String {
    v.map_or("—".to_string(), |c| format!("{c:+.1}%"))
}

/// The comparison as a Markdown table with a summary that says what the gate could
/// detect. `rounds` is the number of rounds per side.
pub fn markdown(rows: &[Row], gate: &Gate, rounds: (usize, usize)) -> String {
    let mut out = String::new();
    let count = |v| rows.iter().filter(|r| r.verdict == v).count();
    let on = |c| rows.iter().filter(|r| r.channel == Some(c)).count();
    let _ = writeln!(
        out,
        "**{} regression(s)**, {} improvement(s), {} within noise, {} only in base, {} only in new.\n",
        count(Verdict::Regression),
        count(Verdict::Improvement),
        count(Verdict::Noise),
        count(Verdict::Removed),
        count(Verdict::Added)
    );
    let noise = match gate.noise {
        Some(n) => format!(
            "run-to-run noise from `noise-{}.json` ({} runs; unstable above {}%)",
            n.machine,
            n.runs.len(),
            n.unstable_above_pct
        ),
        None => "no noise file for this machine (`scripts/noise` measures it): wall-clock thresholds come from the flag and the rounds only".to_string(),
    };
    let _ = writeln!(
        out,
        "{} bench(es) judged on instruction counts (threshold ≥ {}%), {} on wall-clock medians of {} base and {} new round(s) (threshold ≥ {}%, and every round's 95% interval apart); {noise}. \
         The *detects* column is the smallest change the gate could have flagged on each bench.\n",
        on(Channel::Instructions),
        gate.instructions_threshold_pct,
        on(Channel::WallClock),
        rounds.0,
        rounds.1,
        gate.threshold_pct
    );
    let unstable: Vec<String> = rows
        .iter()
        .filter(|r| r.unstable)
        .map(|r| format!("`{}` ({:.0}%)", r.id, r.noise_pct.unwrap_or(0.0)))
        .collect();
    if !unstable.is_empty() {
        let _ = writeln!(
            out,
            "Unstable here (run-to-run spread above the bound; gated only beyond it): {}.\n",
            unstable.join(", ")
        );
    }
    out.push_str(
        "| bench | channel | base | new | change | time change | detects ≥ | verdict |\n|---|---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let time = |v: Option<f64>| v.map_or("—".to_string(), human_ns);
        let (channel, base, new, change) = match r.channel {
            Some(Channel::Instructions) => (
                "instructions",
                r.base_instructions.map_or("—".into(), |v| v.to_string()),
                r.new_instructions.map_or("—".into(), |v| v.to_string()),
                signed(r.instructions_change_pct),
            ),
            _ => (
                if r.channel.is_some() {
                    "wall clock"
                } else {
                    "—"
                },
                time(r.base_ns),
                time(r.new_ns),
                signed(r.change_pct),
            ),
        };
        let time_change = if r.channel == Some(Channel::Instructions) {
            signed(r.change_pct)
        } else {
            "".to_string()
        };
        let detects = match (r.threshold_pct, r.threshold_source) {
            (Some(t), Some(s)) => format!(
                "{t:.1}% ({})",
                match s {
                    ThresholdSource::Flag => "flag",
                    ThresholdSource::Noise => "noise",
                    ThresholdSource::Rounds => "rounds",
                }
            ),
            _ => "—".to_string(),
        };
        let verdict = if r.unstable {
            format!("{}, unstable", r.verdict.label())
        } else {
            r.verdict.label().to_string()
        };
        let _ = writeln!(
            out,
            "| `{}` | {channel} | {base} | {new} | {change} | {time_change} | {detects} | {verdict} |",
            r.id
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::baseline::BASELINE_SCHEMA;
    use crate::criterion::Measured;
    use crate::noise::{BenchNoise, NOISE_SCHEMA};
    use mcpbench_files::env::Environment;
    use mcpbench_files::instructions::Count;

    /// A round with one bench at `ns` (interval ±1%) and, if given, its count.
    fn round(id: &str, ns: f64, instructions: Option<u64>) -> Baseline {
        let measured = Measured {
            typical_ns: ns,
            ci_lower_ns: ns * 0.99,
            ci_upper_ns: ns * 1.01,
            estimator: "slope".into(),
            per_iteration: Some(1),
            unit: None,
            samples: 10,
        };
        Baseline {
            schema: BASELINE_SCHEMA.into(),
            environment: Environment::capture(),
            benches: BTreeMap::from([(id.to_string(), measured)]),
            instructions: instructions
                .map(|i| {
                    let count = Count {
                        instructions: i,
                        per_iteration: 1,
                        note: String::new(),
                    };
                    BTreeMap::from([(id.to_string(), count)])
                })
                .unwrap_or_default(),
        }
    }

    fn rounds(id: &str, times: &[f64], instructions: Option<u64>) -> Vec<Baseline> {
        times.iter().map(|&t| round(id, t, instructions)).collect()
    }

    fn noise(id: &str, spread_pct: f64) -> NoiseFile {
        NoiseFile {
            schema: NOISE_SCHEMA.into(),
            machine: "test-2c".into(),
            environment: Environment::capture(),
            runs: vec!["a".into(), "b".into(), "c".into()],
            unstable_above_pct: 25.0,
            benches: BTreeMap::from([(
                id.to_string(),
                BenchNoise {
                    runs: 3,
                    median_ns: 100.0,
                    spread_pct,
                    instructions_spread_pct: Some(0.05),
                },
            )]),
        }
    }

    fn gate(noise: Option<&NoiseFile>) -> Gate<'_> {
        Gate {
            threshold_pct: 5.0,
            instructions_threshold_pct: 2.0,
            noise,
        }
    }

    #[test]
    fn a_wall_clock_change_within_the_measured_noise_is_not_flagged() {
        let n = noise("io/x", 30.0);
        let base = rounds("io/x", &[100.0, 101.0, 99.0], None);
        let new = rounds("io/x", &[125.0, 126.0, 124.0], None);
        let rows = compare(&base, &new, &gate(Some(&n)));
        assert_eq!(rows[0].verdict, Verdict::Noise, "{rows:?}");
        assert_eq!(rows[0].threshold_pct, Some(30.0));
        assert_eq!(rows[0].threshold_source, Some(ThresholdSource::Noise));
        assert!(rows[0].unstable, "30% is above the 25% bound");
        // Without the noise file the same rounds are a regression.
        let rows = compare(&base, &new, &gate(None));
        assert_eq!(rows[0].verdict, Verdict::Regression);
    }

    #[test]
    fn rounds_that_overlap_are_noise_however_large_the_median_change() {
        let base = rounds("io/x", &[100.0, 100.0, 140.0], None);
        let new = rounds("io/x", &[139.0, 180.0, 182.0], None);
        let rows = compare(&base, &new, &gate(None));
        // +80% median change, but the spread of the rounds (40%, 31%) raises the
        // threshold to 40% and a base round overlaps a new one.
        assert_eq!(rows[0].threshold_source, Some(ThresholdSource::Rounds));
        assert_eq!(rows[0].verdict, Verdict::Noise, "{rows:?}");
    }

    #[test]
    fn instruction_counts_decide_when_both_sides_have_them() {
        let n = noise("cpu/x", 40.0);
        // Wall clock moved by +50% (noise here), instructions by +10%: flagged on
        // instructions.
        let base = rounds("cpu/x", &[100.0, 100.0], Some(1_000_000));
        let new = rounds("cpu/x", &[150.0, 150.0], Some(1_100_000));
        let rows = compare(&base, &new, &gate(Some(&n)));
        assert_eq!(rows[0].channel, Some(Channel::Instructions));
        assert_eq!(rows[0].verdict, Verdict::Regression);
        assert_eq!(rows[0].threshold_pct, Some(2.0));
        // Wall clock +50% with the same instructions: not a regression.
        let same = rounds("cpu/x", &[150.0, 150.0], Some(1_000_500));
        let rows = compare(&base, &same, &gate(Some(&n)));
        assert_eq!(rows[0].verdict, Verdict::Noise);
        assert!(!regressed(&rows));
    }

    #[test]
    fn the_table_names_the_channel_what_it_detects_and_unstable_benches() {
        let n = noise("io/x", 30.0);
        let base = rounds("io/x", &[100.0, 101.0], None);
        let new = rounds("io/x", &[100.0, 102.0], None);
        let md = markdown(
            &compare(&base, &new, &gate(Some(&n))),
            &gate(Some(&n)),
            (2, 2),
        );
        assert!(md.contains("**0 regression(s)**"), "{md}");
        assert!(md.contains("| `io/x` | wall clock |"), "{md}");
        assert!(md.contains("30.0% (noise)"), "{md}");
        assert!(
            md.contains("Unstable here") && md.contains("`io/x` (30%)"),
            "{md}"
        );
    }

    #[test]
    fn benches_on_one_side_are_listed() {
        let base = rounds("a/x", &[100.0], None);
        let new = rounds("b/y", &[100.0], None);
        let rows = compare(&base, &new, &gate(None));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].verdict, Verdict::Removed);
        assert_eq!(rows[1].verdict, Verdict::Added);
    }
}

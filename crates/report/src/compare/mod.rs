//! Comparing two versions: the pull-request regression gate.
//!
//! Each side is one or more rounds (baselines) of one version, run alternately
//! with the other side's rounds (`scripts/gate`), and, from the gate, a paired
//! run of both ([`crate::paired`]). A bench is judged on every channel that has
//! data for it on both sides, one table row per channel:
//!
//! - **instructions**: callgrind counts of the workload, one count per side (all
//!   rounds of a side must carry the same count: they are that side's one count,
//!   never a mix). A change beyond `max(--instructions-threshold, the noise file's
//!   instruction spread)` counts.
//! - **allocations**: allocations per iteration, exact for single-threaded
//!   workloads. An increase beyond `max(--allocations-threshold % of the base, 2
//!   allocations per iteration)` counts.
//! - **paired**: base and new timed sample by sample in ABBA order in one run, in
//!   blocks of fresh worker processes; a t statistic over the blocks and a
//!   minimum effect decide; what it detects was measured by injection in the same
//!   run.
//! - **wall clock**: for benches without a paired result, the change of the median
//!   of the Criterion rounds, beyond `max(--threshold, the bench's run-to-run
//!   spread, the spread within either side's rounds)`, and only when every
//!   round's 95% interval lies apart. Where that threshold is above the noise
//!   file's bound (default 25%), the bench is *not judged*: the table says what
//!   it would have detected rather than "no change".
//!
//! Nothing is silent: a bench in the base only, or a channel with data on one side
//! only, is named in a section of its own and fails the gate unless
//! `allow_removed`. Benches new on the head side are listed.

use mcpbench_files::Invalid;
use std::collections::BTreeSet;

use serde::Serialize;

use crate::baseline::Baseline;

mod counts;
mod markdown;
#[cfg(test)]
mod tests;

use crate::noise::{NoiseFile, median, spread_pct};
use crate::paired::{PairedFile, judge};
use counts::{count_row, side_counts};
pub use markdown::{human_ns, markdown};

/// What happened to one bench on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Slower (or more) beyond the applied threshold: fails the gate.
    Regression,
    /// Faster (or fewer) beyond the applied threshold.
    Improvement,
    /// Within the threshold, which is small enough to mean "no change".
    Noise,
    /// Within the threshold, but the threshold is too large to call it "no
    /// change": the row says what the gate could have detected.
    NotJudged,
    /// The channel has data in the base but not on the new side (a count or a
    /// paired result lost): fails the gate unless `allow_removed`. (Data only on
    /// the new side, a channel the head added, is [`Verdict::Added`].)
    Missing,
    /// Only in the base: fails the gate unless `allow_removed`.
    Removed,
    /// Only in the new side.
    Added,
}

impl Verdict {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improvement => "improvement",
            Verdict::Noise => "no change",
            Verdict::NotJudged => "not judged",
            Verdict::Missing => "MISSING on one side",
            Verdict::Removed => "REMOVED (only in base)",
            Verdict::Added => "only in new",
        }
    }
}

/// Which measurement a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// callgrind instruction counts.
    Instructions,
    /// Allocations per iteration (the counting allocator).
    Allocations,
    /// Live bytes per item of a memory component, loaded (the counting
    /// allocator).
    LiveBytes,
    /// Bytes a memory component keeps per item after teardown (N vs 2N).
    Leak,
    /// Base and new timed sample by sample in one run.
    Paired,
    /// Criterion's wall-clock times, rounds run alternately.
    WallClock,
}

impl Channel {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Channel::Instructions => "instructions",
            Channel::Allocations => "allocations",
            Channel::LiveBytes => "live bytes per item",
            Channel::Leak => "leak per item",
            Channel::Paired => "paired clock",
            Channel::WallClock => "wall clock (rounds)",
        }
    }
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
    /// An injected slowdown flagged in this run (paired channel).
    Injection,
    /// No injected slowdown up to the ladder's top was flagged (paired channel).
    NotDetected,
    /// The floor of a multi-threaded bench ([`THREADED_MIN_EFFECT_PCT`]).
    Threaded,
}

/// The settings of one comparison.
#[derive(Debug, Clone)]
pub struct Gate<'a> {
    /// Least wall-clock change that counts, percent.
    pub threshold_pct: f64,
    /// Least instruction-count change that counts, percent.
    pub instructions_threshold_pct: f64,
    /// Least allocation-count increase that counts, percent of the base's count
    /// (and at least [`MIN_EXTRA_ALLOCATIONS`] per iteration).
    pub allocations_threshold_pct: f64,
    /// This machine's measured run-to-run noise, if any.
    pub noise: Option<&'a NoiseFile>,
    /// The paired run of the two sides, if any.
    pub paired: Option<&'a PairedFile>,
    /// Benches or channel data present in the base only do not fail the gate.
    pub allow_removed: bool,
}

/// Least change of a multi-threaded bench that counts, percent, on the paired
/// clock and on the wall clock alike. On this 2-core machine two builds of one
/// commit read threaded benches 22-96% apart on the paired clock (`spsc_threads`
/// +95.9% at t 6.3 in a CI run) and 44.5% apart on the rounds (every interval
/// apart): only a change three times the largest of these counts, so on two
/// cores threaded benches are, in practice, not judged by the clock.
pub const THREADED_MIN_EFFECT_PCT: f64 = 300.0;

/// Whether bench `id` runs on more than one thread, by the names this workspace
/// gives them (`spsc_threads`, `_2threads`, `mpmc_2p2c`); the paired clock has
/// each workload's thread count from its worker instead.
pub fn threaded(id: &str) -> bool {
    id.contains("threads") || id.contains("_2p2c")
}

/// Extra live bytes per item that never count, whatever the percentage.
pub const MIN_EXTRA_BYTES_PER_ITEM: f64 = 1.0;

/// Bytes kept per item after teardown above which the new side leaks, whatever
/// the base does (the report's target, `max_leak_per_item_bytes`): anything kept
/// per item costs at least one byte.
pub const MAX_LEAK_PER_ITEM: f64 = 0.5;

/// Extra allocations per iteration that never count, whatever the percentage: a
/// one-time allocation (a lazily grown buffer) is not a per-operation cost.
pub const MIN_EXTRA_ALLOCATIONS: f64 = 2.0;

/// Spread above which a wall-clock bench is not judged when no noise file says
/// otherwise, percent.
pub const NOT_JUDGED_ABOVE_PCT: f64 = 25.0;

/// One line of the comparison: one bench on one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Bench id.
    pub id: String,
    /// The channel, `None` for a bench on one side only.
    pub channel: Option<Channel>,
    /// The base's figure on that channel: ns per iteration (the median of the
    /// rounds, or of the paired samples), instructions or allocations per
    /// iteration.
    pub base: Option<f64>,
    /// The new side's figure.
    pub new: Option<f64>,
    /// Change, percent (positive = slower, or more).
    pub change_pct: Option<f64>,
    /// The smallest change this comparison could have flagged on this bench and
    /// channel, percent (`None`: nothing up to the injection ladder's top).
    pub threshold_pct: Option<f64>,
    /// Where that came from.
    pub threshold_source: Option<ThresholdSource>,
    /// The bench's run-to-run wall-clock spread from the noise file, percent.
    pub noise_pct: Option<f64>,
    /// Named unstable: its spread is above the noise file's bound.
    pub unstable: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// What else the row needs to be read (the paired z-score, what is missing).
    pub note: String,
}

impl Row {
    fn new(id: &str, channel: Option<Channel>, verdict: Verdict) -> Row {
        Row {
            id: id.to_string(),
            channel,
            base: None,
            new: None,
            change_pct: None,
            threshold_pct: None,
            threshold_source: None,
            noise_pct: None,
            unstable: false,
            verdict,
            note: String::new(),
        }
    }
}

/// One side's figures for one bench over its rounds.
struct Times {
    typical: Vec<f64>,
    lowest: f64,
    highest: f64,
}

fn times(side: &[Baseline], id: &str) -> Option<Times> {
    let measured: Vec<_> = side.iter().filter_map(|b| b.benches.get(id)).collect();
    if measured.is_empty() {
        return None;
    }
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
    })
}
pub(crate) fn pct(base: f64, new: f64) -> f64 {
    if base == 0.0 {
        if new == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        (new - base) / base * 100.0
    }
}

/// An exact count's verdict: a change beyond `pct` of the base and beyond `floor`
/// (in the count's own unit) either way.
fn beyond(b: f64, n: f64, pct: f64, floor: f64) -> (Verdict, f64, ThresholdSource) {
    let allowed = (b * pct / 100.0).max(floor);
    let v = if n - b > allowed {
        Verdict::Regression
    } else if b - n > allowed {
        Verdict::Improvement
    } else {
        Verdict::Noise
    };
    (v, pct, ThresholdSource::Flag)
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

/// Compares every bench of the `base` rounds with the `new` rounds (and the
/// paired run, if the gate has one). Refuses sides that are not one version each
/// ([`side_counts`]).
pub fn compare(base: &[Baseline], new: &[Baseline], gate: &Gate) -> Result<Vec<Row>, Invalid> {
    let bc = side_counts(base, "base")?;
    let nc = side_counts(new, "new")?;
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    for b in base.iter().chain(new) {
        ids.extend(b.benches.keys().map(String::as_str));
    }
    for c in [&bc, &nc] {
        ids.extend(c.instructions.keys().map(String::as_str));
        ids.extend(c.allocations.keys().map(String::as_str));
        ids.extend(c.memory.keys().map(String::as_str));
    }
    if let Some(p) = gate.paired {
        ids.extend(p.benches.keys().map(String::as_str));
        ids.extend(p.only_in_base.iter().map(String::as_str));
        ids.extend(p.only_in_new.iter().map(String::as_str));
    }
    let unstable_above = gate
        .noise
        .map_or(NOT_JUDGED_ABOVE_PCT, |n| n.unstable_above_pct);
    let mut rows = Vec::new();
    for id in ids {
        let noise = gate.noise.and_then(|n| n.benches.get(id));
        let before = rows.len();
        let instructions_floor = noise.and_then(|n| n.instructions_spread_pct).unwrap_or(0.0);
        rows.extend(count_row(
            id,
            Channel::Instructions,
            bc.instructions.get(id).map(|&c| c as f64),
            nc.instructions.get(id).map(|&c| c as f64),
            |b, n| {
                let (t, source) = applied(&[
                    (gate.instructions_threshold_pct, ThresholdSource::Flag),
                    (instructions_floor, ThresholdSource::Noise),
                ]);
                let change = pct(b, n);
                let v = if change > t {
                    Verdict::Regression
                } else if change < -t {
                    Verdict::Improvement
                } else {
                    Verdict::Noise
                };
                (v, t, source)
            },
        ));
        rows.extend(count_row(
            id,
            Channel::Allocations,
            bc.allocations.get(id).map(|&c| c as f64),
            nc.allocations.get(id).map(|&c| c as f64),
            |b, n| beyond(b, n, gate.allocations_threshold_pct, MIN_EXTRA_ALLOCATIONS),
        ));
        let (bm, nm) = (bc.memory.get(id), nc.memory.get(id));
        rows.extend(count_row(
            id,
            Channel::LiveBytes,
            bm.map(|m| m.bytes_per_item),
            nm.map(|m| m.bytes_per_item),
            |b, n| {
                beyond(
                    b,
                    n,
                    gate.allocations_threshold_pct,
                    MIN_EXTRA_BYTES_PER_ITEM,
                )
            },
        ));
        rows.extend(
            count_row(
                id,
                Channel::Leak,
                bm.and_then(|m| m.leak_per_item),
                nm.and_then(|m| m.leak_per_item),
                // Judged on the new side alone: a leak fails whatever the base did.
                |_, n| {
                    let v = if n > MAX_LEAK_PER_ITEM {
                        Verdict::Regression
                    } else {
                        Verdict::Noise
                    };
                    (v, MAX_LEAK_PER_ITEM, ThresholdSource::Flag)
                },
            )
            .map(|mut row| {
                // An absolute bound in bytes, not a change in percent; judged
                // on the new side alone, so also when the base has no figure (a
                // base older than the slope, a component new in the head).
                if let Some(n) = row.new {
                    row.change_pct = None;
                    row.threshold_pct = None;
                    row.threshold_source = None;
                    if n > MAX_LEAK_PER_ITEM {
                        row.verdict = Verdict::Regression;
                    }
                    row.note = format!(
                        "bytes kept per {} after teardown (runs of N and 2N); fails above {MAX_LEAK_PER_ITEM} B{}",
                        nm.map_or("item", |m| m.item.as_str()),
                        if row.base.is_none() { "; the base has no figure" } else { "" }
                    );
                }
                row
            }),
        );
        let mut paired_row = false;
        if let Some(p) = gate.paired {
            if let Some(pb) = p.benches.get(id) {
                paired_row = true;
                let s = &pb.stats;
                let verdict = match judge(s, &p.settings, pb.threads) {
                    1 => Verdict::Regression,
                    -1 => Verdict::Improvement,
                    _ if pb.detects_pct.is_none() => Verdict::NotJudged,
                    _ => Verdict::Noise,
                };
                let mut row = Row::new(id, Some(Channel::Paired), verdict);
                row.base = Some(s.base_ns);
                row.new = Some(s.new_ns);
                row.change_pct = Some(s.change_pct);
                row.threshold_pct = pb.detects_pct;
                row.threshold_source = Some(match pb.detects_pct {
                    Some(_) => ThresholdSource::Injection,
                    None => ThresholdSource::NotDetected,
                });
                row.note = format!(
                    "95% CI {:+.1}%..{:+.1}%, t {:.1} over {} block(s), {} pairs",
                    s.ci_low_pct, s.ci_high_pct, s.z, s.blocks, s.pairs
                );
                rows.push(row);
            } else if p.only_in_base.iter().any(|b| b == id) {
                paired_row = true;
                let mut row = Row::new(id, Some(Channel::Paired), Verdict::Missing);
                row.note = "the new side's worker has no such workload".into();
                rows.push(row);
            } else if p.only_in_new.iter().any(|b| b == id) {
                paired_row = true;
                let mut row = Row::new(id, Some(Channel::Paired), Verdict::Added);
                row.note = "the base's worker has no such workload".into();
                rows.push(row);
            }
        }
        if !paired_row {
            match (times(base, id), times(new, id)) {
                (Some(b), Some(n)) => {
                    let (bm, nm) = (
                        median(&b.typical).unwrap_or(f64::NAN),
                        median(&n.typical).unwrap_or(f64::NAN),
                    );
                    let change = pct(bm, nm);
                    let rounds = spread_pct(&b.typical).max(spread_pct(&n.typical));
                    let (t, source) = applied(&[
                        (gate.threshold_pct, ThresholdSource::Flag),
                        (noise.map_or(0.0, |n| n.spread_pct), ThresholdSource::Noise),
                        (rounds, ThresholdSource::Rounds),
                    ]);
                    // A multi-threaded bench is judged only beyond
                    // THREADED_MIN_EFFECT_PCT: two builds of one commit read the
                    // four-thread `queue/ceiling_arrayqueue_mpmc_2p2c` +44.5%
                    // apart, every round's interval apart (CI, 2026-12-05).
                    let (t, source) = if threaded(id) && THREADED_MIN_EFFECT_PCT > t {
                        (THREADED_MIN_EFFECT_PCT, ThresholdSource::Threaded)
                    } else {
                        (t, source)
                    };
                    let verdict = if change > t && n.lowest > b.highest {
                        Verdict::Regression
                    } else if change < -t && n.highest < b.lowest {
                        Verdict::Improvement
                    } else if t > unstable_above {
                        Verdict::NotJudged
                    } else {
                        Verdict::Noise
                    };
                    let mut row = Row::new(id, Some(Channel::WallClock), verdict);
                    row.base = Some(bm);
                    row.new = Some(nm);
                    row.change_pct = Some(change);
                    row.threshold_pct = Some(t);
                    row.threshold_source = Some(source);
                    row.unstable = gate.noise.is_some_and(|n| n.unstable(id));
                    rows.push(row);
                }
                (Some(b), None) if rows.len() == before => {
                    let mut row = Row::new(id, None, Verdict::Removed);
                    row.base = median(&b.typical);
                    rows.push(row);
                }
                (None, Some(n)) if rows.len() == before => {
                    let mut row = Row::new(id, None, Verdict::Added);
                    row.new = median(&n.typical);
                    rows.push(row);
                }
                (Some(_), None) | (None, Some(_)) => {
                    let mut row = Row::new(id, Some(Channel::WallClock), Verdict::Missing);
                    row.note = "Criterion times on one side only".into();
                    rows.push(row);
                }
                (None, None) => {}
            }
        }
        for r in &mut rows[before..] {
            r.noise_pct = noise.map(|n| n.spread_pct);
        }
    }
    Ok(rows)
}

/// True when the gate fails: a regression, or (unless `allow_removed`) a bench or
/// a channel's data missing on the new side or the base.
pub fn regressed(rows: &[Row], allow_removed: bool) -> bool {
    rows.iter().any(|r| {
        r.verdict == Verdict::Regression
            || (!allow_removed && matches!(r.verdict, Verdict::Removed | Verdict::Missing))
    })
}

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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;

use crate::baseline::Baseline;
use crate::noise::{NoiseFile, median, spread_pct};
use crate::paired::{PairedFile, judge};
use mcpbench_files::bench::MemoryCount;

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
    fn label(self) -> &'static str {
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
    fn label(self) -> &'static str {
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

/// One side's counts: by bench id, the instructions and allocations per
/// iteration its rounds carry.
#[derive(Default)]
struct Counts {
    instructions: BTreeMap<String, u64>,
    allocations: BTreeMap<String, u64>,
    memory: BTreeMap<String, MemoryCount>,
}

/// Checks that the rounds of one side are one version and carry one count per
/// workload, and returns those counts. Refused, naming the rounds: rounds
/// measured at different commits, and rounds whose counts of one workload differ
/// (counts are deterministic: two different counts on one side mean another
/// version's counts got in, as when rounds 2..R borrowed the head's).
fn side_counts(side: &[Baseline], label: &str) -> Result<Counts, String> {
    let commits: BTreeSet<&str> = side
        .iter()
        .map(|b| b.environment.git_commit.as_str())
        .collect();
    if commits.len() > 1 {
        return Err(format!(
            "the {label} rounds were measured at different commits ({}): each side's rounds must be one version",
            commits.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut counts = Counts::default();
    for (k, round) in side.iter().enumerate() {
        let one = |map: &mut BTreeMap<String, u64>, id: &str, v: u64, what: &str| match map.get(id)
        {
            Some(&seen) if seen != v => Err(format!(
                "the {label} rounds carry different {what} counts of {id} ({seen} in an earlier round, {v} in round {}): one side has one count, and another version's count got in",
                k + 1
            )),
            _ => {
                map.insert(id.to_string(), v);
                Ok(())
            }
        };
        for (id, c) in &round.instructions {
            one(&mut counts.instructions, id, c.instructions, "instruction")?;
        }
        for (id, c) in &round.allocations {
            one(&mut counts.allocations, id, c.allocations, "allocation")?;
        }
        for (id, m) in &round.memory {
            match counts.memory.get(id) {
                Some(seen) if seen != m => {
                    return Err(format!(
                        "the {label} rounds carry different memory figures of {id} ({} B per {} in an earlier round, {} B in round {}): one side has one count, and another version's count got in",
                        seen.bytes_per_item,
                        seen.item,
                        m.bytes_per_item,
                        k + 1
                    ));
                }
                _ => {
                    counts.memory.insert(id.clone(), m.clone());
                }
            }
        }
    }
    Ok(counts)
}

fn pct(base: f64, new: f64) -> f64 {
    if base == 0.0 {
        if new == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        (new - base) / base * 100.0
    }
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

/// A row for a count channel (`instructions`, `allocations`), or a `Missing`
/// row when only one side has the count.
fn count_row(
    id: &str,
    channel: Channel,
    base: Option<f64>,
    new: Option<f64>,
    judge: impl Fn(f64, f64) -> (Verdict, f64, ThresholdSource),
) -> Option<Row> {
    match (base, new) {
        (None, None) => None,
        (Some(b), Some(n)) => {
            let (verdict, t, source) = judge(b, n);
            let mut row = Row::new(id, Some(channel), verdict);
            row.base = Some(b);
            row.new = Some(n);
            row.change_pct = Some(pct(b, n));
            row.threshold_pct = Some(t);
            row.threshold_source = Some(source);
            Some(row)
        }
        (b, _) => {
            // Data the head lost fails the gate; data it gained is listed.
            let verdict = if b.is_some() {
                Verdict::Missing
            } else {
                Verdict::Added
            };
            let mut row = Row::new(id, Some(channel), verdict);
            row.note = format!(
                "{} has no {} count",
                if b.is_some() { "new side" } else { "base" },
                channel.label()
            );
            row.base = b;
            row.new = new;
            Some(row)
        }
    }
}

/// Compares every bench of the `base` rounds with the `new` rounds (and the
/// paired run, if the gate has one). Refuses sides that are not one version each
/// ([`side_counts`]).
pub fn compare(base: &[Baseline], new: &[Baseline], gate: &Gate) -> Result<Vec<Row>, String> {
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
            |b, n| {
                let allowed =
                    (b * gate.allocations_threshold_pct / 100.0).max(MIN_EXTRA_ALLOCATIONS);
                let v = if n - b > allowed {
                    Verdict::Regression
                } else if b - n > allowed {
                    Verdict::Improvement
                } else {
                    Verdict::Noise
                };
                (v, gate.allocations_threshold_pct, ThresholdSource::Flag)
            },
        ));
        let (bm, nm) = (bc.memory.get(id), nc.memory.get(id));
        rows.extend(count_row(
            id,
            Channel::LiveBytes,
            bm.map(|m| m.bytes_per_item),
            nm.map(|m| m.bytes_per_item),
            |b, n| {
                let allowed =
                    (b * gate.allocations_threshold_pct / 100.0).max(MIN_EXTRA_BYTES_PER_ITEM);
                let v = if n - b > allowed {
                    Verdict::Regression
                } else if b - n > allowed {
                    Verdict::Improvement
                } else {
                    Verdict::Noise
                };
                (v, gate.allocations_threshold_pct, ThresholdSource::Flag)
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
                // An absolute bound in bytes, not a change in percent.
                if row.base.is_some() && row.new.is_some() {
                    row.change_pct = None;
                    row.threshold_pct = None;
                    row.threshold_source = None;
                    row.note = format!(
                        "bytes kept per {} after teardown (runs of N and 2N); fails above {MAX_LEAK_PER_ITEM} B",
                        nm.map_or("item", |m| m.item.as_str())
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
    match v {
        None => "—".to_string(),
        Some(c) if c.is_infinite() => "from 0".to_string(),
        Some(c) => format!("{c:+.1}%"),
    }
}

fn figure(channel: Option<Channel>, v: Option<f64>) -> String {
    match (channel, v) {
        (_, None) => "—".into(),
        (Some(Channel::Instructions | Channel::Allocations), Some(v)) => format!("{v:.0}"),
        (Some(Channel::LiveBytes), Some(v)) => format!("{v:.1} B"),
        (Some(Channel::Leak), Some(v)) => format!("{v:.2} B"),
        (_, Some(v)) => human_ns(v),
    }
}

/// The comparison as Markdown: a summary, what each channel detects here, the
/// benches missing on one side, then one row per bench and channel. `rounds` is
/// the number of Criterion rounds per side.
pub fn markdown(rows: &[Row], gate: &Gate, rounds: (usize, usize)) -> String {
    let mut out = String::new();
    let count = |v| rows.iter().filter(|r| r.verdict == v).count();
    let on = |c| rows.iter().filter(|r| r.channel == Some(c)).count();
    let _ = writeln!(
        out,
        "**{} regression(s)**, {} missing on one side{}, {} improvement(s), {} no change, {} not judged, {} only in new.\n",
        count(Verdict::Regression),
        count(Verdict::Missing) + count(Verdict::Removed),
        if gate.allow_removed {
            " (allowed by --allow-removed)"
        } else {
            ""
        },
        count(Verdict::Improvement),
        count(Verdict::Noise),
        count(Verdict::NotJudged),
        count(Verdict::Added)
    );
    let noise = match gate.noise {
        Some(n) => format!(
            "run-to-run noise from `noise-{}.json` ({} runs; not judged above {}%)",
            n.machine,
            n.runs.len(),
            n.unstable_above_pct
        ),
        None => format!(
            "no noise file for this machine (`scripts/noise` measures it): thresholds from the flag and the rounds only; not judged above {NOT_JUDGED_ABOVE_PCT}%"
        ),
    };
    let _ = writeln!(
        out,
        "Channels: {} bench(es) on **instruction counts** (one count per side; flagged beyond {}%), \
         {} on **allocation counts** (flagged beyond {}% of the base and {MIN_EXTRA_ALLOCATIONS} per iteration), \
         {} memory component(s) on **live bytes per item** (flagged beyond {}% and {MIN_EXTRA_BYTES_PER_ITEM} B per item) and {} on **leak per item** (the new side fails above {MAX_LEAK_PER_ITEM} B kept per item, whatever the base), \
         {} on the **paired clock**{}, \
         {} on **wall-clock rounds** (medians of {} base and {} new round(s), beyond {}% and every round's 95% interval apart; {noise}). \
         The *detects* column is the smallest change the gate could have flagged on that bench and channel: \
         measured by injection on the paired clock, the applied threshold elsewhere.\n",
        on(Channel::Instructions),
        gate.instructions_threshold_pct,
        on(Channel::Allocations),
        gate.allocations_threshold_pct,
        on(Channel::LiveBytes),
        gate.allocations_threshold_pct,
        on(Channel::Leak),
        on(Channel::Paired),
        gate.paired.map_or(String::new(), |p| format!(
            " (ABBA pairs in {} block(s) of fresh processes, {} s per bench; flagged at t > {} and beyond {}%)",
            p.settings.blocks, p.settings.seconds_per_bench, p.settings.z, p.settings.min_effect_pct
        )),
        on(Channel::WallClock),
        rounds.0,
        rounds.1,
        gate.threshold_pct
    );
    let missing: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Missing | Verdict::Removed))
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(
            out,
            "#### Missing on one side ({})\n",
            if gate.allow_removed {
                "allowed by --allow-removed"
            } else {
                "fails the gate; --allow-removed accepts a removal on purpose"
            }
        );
        for r in &missing {
            let what = match r.channel {
                None => "the bench is in the base only".to_string(),
                Some(c) => format!("{}: {}", c.label(), r.note),
            };
            let _ = writeln!(out, "- `{}`: {what}", r.id);
        }
        out.push('\n');
    }
    let unstable: Vec<String> = rows
        .iter()
        .filter(|r| r.unstable)
        .map(|r| format!("`{}` ({:.0}%)", r.id, r.noise_pct.unwrap_or(0.0)))
        .collect();
    if !unstable.is_empty() {
        let _ = writeln!(
            out,
            "Unstable here (run-to-run spread above the bound; judged only beyond it): {}.\n",
            unstable.join(", ")
        );
    }
    out.push_str(
        "| bench | channel | base | new | change | detects ≥ | verdict | note |\n|---|---|---:|---:|---:|---:|---|---|\n",
    );
    for r in rows {
        let detects = match (r.threshold_pct, r.threshold_source) {
            (Some(t), Some(s)) => format!(
                "{t:.1}% ({})",
                match s {
                    ThresholdSource::Flag => "flag",
                    ThresholdSource::Noise => "noise",
                    ThresholdSource::Rounds => "rounds",
                    ThresholdSource::Injection => "injected",
                    ThresholdSource::NotDetected => "—",
                }
            ),
            (None, Some(ThresholdSource::NotDetected)) => "> ladder top".into(),
            _ => "—".to_string(),
        };
        let mut verdict = r.verdict.label().to_string();
        if r.verdict == Verdict::NotJudged {
            verdict = format!("not judged (detects {detects})");
        }
        if r.unstable {
            verdict.push_str(", unstable");
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {detects} | {verdict} | {} |",
            r.id,
            r.channel.map_or("—", Channel::label),
            figure(r.channel, r.base),
            figure(r.channel, r.new),
            signed(r.change_pct),
            r.note
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
    use mcpbench_files::allocations::AllocCount;
    use mcpbench_files::env::Environment;
    use mcpbench_files::instructions::Count;

    /// A round with one bench at `ns` (interval ±1%) and, if given, its counts.
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
            allocations: BTreeMap::new(),
            memory: BTreeMap::new(),
        }
    }

    fn rounds(id: &str, times: &[f64], instructions: Option<u64>) -> Vec<Baseline> {
        times.iter().map(|&t| round(id, t, instructions)).collect()
    }

    fn with_allocations(mut side: Vec<Baseline>, id: &str, n: u64) -> Vec<Baseline> {
        for b in &mut side {
            b.allocations.insert(
                id.into(),
                AllocCount {
                    allocations: n,
                    bytes: n * 64,
                    per_iteration: 100_000,
                },
            );
        }
        side
    }

    fn with_memory(mut side: Vec<Baseline>, id: &str, bytes: f64, leak: f64) -> Vec<Baseline> {
        for b in &mut side {
            b.memory.insert(
                id.into(),
                MemoryCount {
                    item: "session".into(),
                    items: 100_000,
                    bytes_per_item: bytes,
                    leak_per_item: Some(leak),
                },
            );
        }
        side
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
            allocations_threshold_pct: 1.0,
            noise,
            paired: None,
            allow_removed: false,
        }
    }

    fn only(rows: &[Row], channel: Channel) -> Row {
        let mut on: Vec<&Row> = rows
            .iter()
            .filter(|r| r.channel == Some(channel) && !r.id.starts_with("gone/"))
            .collect();
        assert_eq!(on.len(), 1, "{rows:?}");
        on.remove(0).clone()
    }

    #[test]
    fn a_wall_clock_change_within_the_measured_noise_is_not_judged() {
        let n = noise("io/x", 30.0);
        let base = rounds("io/x", &[100.0, 101.0, 99.0], None);
        let new = rounds("io/x", &[125.0, 126.0, 124.0], None);
        let rows = compare(&base, &new, &gate(Some(&n))).unwrap();
        assert_eq!(rows[0].verdict, Verdict::NotJudged, "{rows:?}");
        assert_eq!(rows[0].threshold_pct, Some(30.0));
        assert_eq!(rows[0].threshold_source, Some(ThresholdSource::Noise));
        assert!(rows[0].unstable, "30% is above the 25% bound");
        let md = markdown(&rows, &gate(Some(&n)), (3, 3));
        assert!(md.contains("not judged (detects 30.0% (noise))"), "{md}");
        // Without the noise file the same rounds are a regression.
        let rows = compare(&base, &new, &gate(None)).unwrap();
        assert_eq!(rows[0].verdict, Verdict::Regression);
    }

    #[test]
    fn rounds_that_overlap_are_not_a_regression_however_large_the_median_change() {
        let base = rounds("io/x", &[100.0, 100.0, 140.0], None);
        let new = rounds("io/x", &[139.0, 180.0, 182.0], None);
        let rows = compare(&base, &new, &gate(None)).unwrap();
        assert_eq!(rows[0].threshold_source, Some(ThresholdSource::Rounds));
        assert_eq!(rows[0].verdict, Verdict::NotJudged, "{rows:?}");
    }

    #[test]
    fn instruction_counts_are_judged_beside_the_clock() {
        let n = noise("cpu/x", 40.0);
        let base = rounds("cpu/x", &[100.0, 100.0], Some(1_000_000));
        let new = rounds("cpu/x", &[150.0, 150.0], Some(1_100_000));
        let rows = compare(&base, &new, &gate(Some(&n))).unwrap();
        let i = only(&rows, Channel::Instructions);
        assert_eq!(i.verdict, Verdict::Regression);
        assert_eq!(i.threshold_pct, Some(2.0));
        assert!((i.change_pct.unwrap() - 10.0).abs() < 1e-9);
        // The same instructions: the count row is quiet (the clock row is the
        // clock's business: 40% noise here, not judged).
        let same = rounds("cpu/x", &[130.0, 130.0], Some(1_000_500));
        let rows = compare(&base, &same, &gate(Some(&n))).unwrap();
        assert_eq!(only(&rows, Channel::Instructions).verdict, Verdict::Noise);
        assert_eq!(only(&rows, Channel::WallClock).verdict, Verdict::NotJudged);
        assert!(!regressed(&rows, false));
    }

    #[test]
    fn a_side_whose_rounds_carry_two_counts_is_refused() {
        // The old bug: base round 1 counted itself, rounds 2 and 3 carried the
        // head's count. Refused, naming the bench and the rounds.
        let mut base = rounds("q/p", &[100.0, 100.0, 100.0], Some(1_000_000));
        base[1].instructions.get_mut("q/p").unwrap().instructions = 1_130_000;
        base[2].instructions.get_mut("q/p").unwrap().instructions = 1_130_000;
        let new = rounds("q/p", &[100.0, 100.0, 100.0], Some(1_130_000));
        let e = compare(&base, &new, &gate(None)).unwrap_err();
        assert!(
            e.contains("base rounds carry different instruction counts of q/p")
                && e.contains("1000000")
                && e.contains("1130000 in round 2"),
            "{e}"
        );
        // One count per side (round 1 only, or the same in every round): judged.
        for b in &mut base[1..] {
            b.instructions.clear();
        }
        let rows = compare(&base, &new, &gate(None)).unwrap();
        let i = only(&rows, Channel::Instructions);
        assert_eq!(i.verdict, Verdict::Regression);
        assert!((i.change_pct.unwrap() - 13.0).abs() < 1e-9, "{i:?}");
    }

    #[test]
    fn rounds_of_one_side_at_different_commits_are_refused() {
        let mut base = rounds("q/p", &[100.0, 100.0], None);
        base[1].environment.git_commit = "abc123".into();
        let e = compare(&base, &base.clone(), &gate(None)).unwrap_err();
        assert!(
            e.contains("base rounds were measured at different commits"),
            "{e}"
        );
        assert!(e.contains("abc123"), "{e}");
    }

    #[test]
    fn one_extra_allocation_per_operation_is_flagged_and_a_one_time_one_is_not() {
        let base = with_allocations(rounds("q/p", &[100.0], None), "q/p", 100);
        let more = with_allocations(rounds("q/p", &[100.0], None), "q/p", 100_100);
        let rows = compare(&base, &more, &gate(None)).unwrap();
        assert_eq!(
            only(&rows, Channel::Allocations).verdict,
            Verdict::Regression
        );
        // From none to one or two per iteration: a lazily made buffer, not a cost
        // per operation.
        let zero = with_allocations(rounds("q/p", &[100.0], None), "q/p", 0);
        let two = with_allocations(rounds("q/p", &[100.0], None), "q/p", 2);
        let rows = compare(&zero, &two, &gate(None)).unwrap();
        assert_eq!(only(&rows, Channel::Allocations).verdict, Verdict::Noise);
        let fewer = compare(&more, &base, &gate(None)).unwrap();
        assert_eq!(
            only(&fewer, Channel::Allocations).verdict,
            Verdict::Improvement
        );
    }

    #[test]
    fn memory_live_bytes_and_leaks_are_judged_and_a_leak_fails_whatever_the_base() {
        let at = |bytes, leak| with_memory(rounds("q/p", &[100.0], None), "memory/s", bytes, leak);
        // The runtime's residue (a fraction of a byte per item either way): quiet.
        let rows = compare(&at(300.0, 0.0), &at(300.4, -0.26), &gate(None)).unwrap();
        assert_eq!(only(&rows, Channel::LiveBytes).verdict, Verdict::Noise);
        let leak = only(&rows, Channel::Leak);
        assert_eq!(leak.verdict, Verdict::Noise);
        assert_eq!(leak.change_pct, None, "a bound in bytes, not a change");
        assert!(!regressed(&rows, false));
        // Eight more bytes per session loaded: flagged (beyond 1% and 1 B).
        let rows = compare(&at(300.0, 0.0), &at(308.0, 0.0), &gate(None)).unwrap();
        assert_eq!(only(&rows, Channel::LiveBytes).verdict, Verdict::Regression);
        // One byte kept per session: fails, and so it does when the base leaked too.
        for base_leak in [0.0, 1.0] {
            let rows = compare(&at(300.0, base_leak), &at(300.0, 1.0), &gate(None)).unwrap();
            assert_eq!(only(&rows, Channel::Leak).verdict, Verdict::Regression);
            assert!(regressed(&rows, false));
        }
        let md = markdown(
            &compare(&at(300.0, 0.0), &at(300.0, 1.0), &gate(None)).unwrap(),
            &gate(None),
            (1, 1),
        );
        assert!(
            md.contains("| `memory/s` | leak per item | 0.00 B | 1.00 B |"),
            "{md}"
        );
        // Figures of two versions on one side are refused, like counts.
        let mut mixed = at(300.0, 0.0);
        mixed.extend(at(308.0, 0.0));
        let e = compare(&mixed, &at(300.0, 0.0), &gate(None)).unwrap_err();
        assert!(e.contains("different memory figures of memory/s"), "{e}");
    }

    #[test]
    fn a_count_on_one_side_only_is_missing_and_fails_unless_allowed() {
        let base = rounds("q/p", &[100.0], Some(1_000));
        let new = rounds("q/p", &[100.0], None);
        let rows = compare(&base, &new, &gate(None)).unwrap();
        let i = only(&rows, Channel::Instructions);
        assert_eq!(i.verdict, Verdict::Missing);
        assert!(
            i.note.contains("new side has no instructions count"),
            "{i:?}"
        );
        assert!(regressed(&rows, false));
        assert!(!regressed(&rows, true));
        // The other way round (the head added the channel): listed, not failing.
        let added = compare(&new, &base, &gate(None)).unwrap();
        assert_eq!(only(&added, Channel::Instructions).verdict, Verdict::Added);
        assert!(!regressed(&added, false));
        let md = markdown(&rows, &gate(None), (1, 1));
        assert!(md.contains("#### Missing on one side"), "{md}");
        assert!(
            md.contains("- `q/p`: instructions: new side has no instructions count"),
            "{md}"
        );
    }

    #[test]
    fn a_removed_bench_fails_unless_allowed_and_an_added_one_is_listed() {
        let base = rounds("a/x", &[100.0], None);
        let new = rounds("b/y", &[100.0], None);
        let rows = compare(&base, &new, &gate(None)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].verdict, Verdict::Removed);
        assert_eq!(rows[1].verdict, Verdict::Added);
        assert!(regressed(&rows, false));
        assert!(!regressed(&rows, true));
    }

    fn paired(id: &str, change_pct: f64, z: f64, detects: Option<f64>) -> PairedFile {
        use mcpbench_files::paired::{PAIRED_SCHEMA, PairedBench, PairedStats};
        let stats = PairedStats {
            pairs: 200,
            blocks: 6,
            blocks_kept: 6,
            blocks_slower: if change_pct > 0.0 { 6 } else { 0 },
            kept: 198,
            iterations_per_sample: 2,
            base_ns: 1000.0,
            new_ns: 1000.0 * (1.0 + change_pct / 100.0),
            change_pct,
            ci_low_pct: change_pct - 1.0,
            ci_high_pct: change_pct + 1.0,
            z,
        };
        PairedFile {
            schema: PAIRED_SCHEMA.into(),
            environment: Environment::capture(),
            base_commit: "b".into(),
            new_commit: "n".into(),
            settings: crate::paired::default_settings(),
            benches: BTreeMap::from([(
                id.to_string(),
                PairedBench {
                    per_iteration: 1,
                    threads: 1,
                    stats,
                    injections: Vec::new(),
                    detects_pct: detects,
                },
            )]),
            only_in_base: vec!["gone/x/1".into()],
            only_in_new: Vec::new(),
        }
    }

    #[test]
    fn the_paired_channel_replaces_the_rounds_and_says_what_it_detects() {
        let base = rounds("q/p", &[100.0, 100.0], None);
        let new = rounds("q/p", &[160.0, 160.0], None);
        let p = paired("q/p", 5.2, 8.0, Some(5.0));
        let g = Gate {
            paired: Some(&p),
            ..gate(None)
        };
        let rows = compare(&base, &new, &g).unwrap();
        let r = only(&rows, Channel::Paired);
        assert_eq!(r.verdict, Verdict::Regression);
        assert_eq!(r.threshold_pct, Some(5.0));
        assert!(
            rows.iter().all(|r| r.channel != Some(Channel::WallClock)),
            "{rows:?}"
        );
        // A worker without the workload: missing.
        let gone = rows.iter().find(|r| r.id == "gone/x/1").expect("listed");
        assert_eq!(gone.verdict, Verdict::Missing);
        // Within the noise: no change where the ladder flagged 5%, not judged
        // where it flagged nothing.
        let quiet = paired("q/p", 0.4, 0.9, Some(5.0));
        let g = Gate {
            paired: Some(&quiet),
            ..gate(None)
        };
        assert_eq!(
            only(&compare(&base, &new, &g).unwrap(), Channel::Paired).verdict,
            Verdict::Noise
        );
        let blind = paired("q/p", 0.4, 0.9, None);
        let g = Gate {
            paired: Some(&blind),
            ..gate(None)
        };
        let rows = compare(&base, &new, &g).unwrap();
        assert_eq!(only(&rows, Channel::Paired).verdict, Verdict::NotJudged);
        let md = markdown(&rows, &g, (2, 2));
        assert!(md.contains("not judged (detects > ladder top)"), "{md}");
    }
}

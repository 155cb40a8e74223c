//! The gate's table: a summary, what each channel detects here, what is missing
//! on one side, one row per bench and channel.

use std::fmt::Write;

use super::{
    Channel, Gate, MAX_LEAK_PER_ITEM, MIN_EXTRA_ALLOCATIONS, MIN_EXTRA_BYTES_PER_ITEM,
    NOT_JUDGED_ABOVE_PCT, Row, ThresholdSource, Verdict,
};

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
                    ThresholdSource::Threaded => "threaded",
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

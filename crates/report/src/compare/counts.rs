//! Each side's counts (instructions, allocations, memory figures), checked to be
//! one version's, and the row of a count channel.

use mcpbench_files::{Invalid, invalid};
use std::collections::{BTreeMap, BTreeSet};

use mcpbench_files::bench::MemoryCount;

use super::{Channel, Row, ThresholdSource, Verdict, pct};
use crate::baseline::Baseline;

/// One side's counts: by bench id, the instructions and allocations per
/// iteration its rounds carry.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) instructions: BTreeMap<String, u64>,
    pub(super) allocations: BTreeMap<String, u64>,
    pub(super) memory: BTreeMap<String, MemoryCount>,
}

/// Checks that the rounds of one side are one version and carry one count per
/// workload, and returns those counts. Refused, naming the rounds: rounds
/// measured at different commits, and rounds whose counts of one workload differ
/// (counts are deterministic: two different counts on one side mean another
/// version's counts got in, as when rounds 2..R borrowed the head's).
pub(super) fn side_counts(side: &[Baseline], label: &str) -> Result<Counts, Invalid> {
    let commits: BTreeSet<&str> = side
        .iter()
        .map(|b| b.environment.git_commit.as_str())
        .collect();
    if commits.len() > 1 {
        return Err(invalid!(
            "the {label} rounds were measured at different commits ({}): each side's rounds must be one version",
            commits.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut counts = Counts::default();
    for (k, round) in side.iter().enumerate() {
        let one = |map: &mut BTreeMap<String, u64>, id: &str, v: u64, what: &str| match map.get(id)
        {
            Some(&seen) if seen != v => Err(invalid!(
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
                    return Err(invalid!(
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

/// A row for a count channel (`instructions`, `allocations`), or a `Missing`
/// row when only one side has the count.
pub(super) fn count_row(
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

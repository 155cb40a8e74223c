//! The gate's rules on hand-made rounds.

use std::collections::BTreeMap;

use super::*;
use crate::baseline::BASELINE_SCHEMA;
use crate::criterion::Measured;
use crate::noise::{BenchNoise, NOISE_SCHEMA};
use mcpbench_files::allocations::AllocCount;
use mcpbench_files::bench::MemoryCount;
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
    // A multi-threaded bench: +45% with every round apart is what two builds of
    // one commit read (and up to +96% on the paired clock); judged only beyond
    // THREADED_MIN_EFFECT_PCT.
    let base = rounds("q/mpmc_2p2c/x", &[100.0, 101.0, 99.0], None);
    let far = rounds("q/mpmc_2p2c/x", &[145.0, 146.0, 144.0], None);
    let rows = compare(&base, &far, &gate(None)).unwrap();
    assert_eq!(rows[0].threshold_pct, Some(THREADED_MIN_EFFECT_PCT));
    assert_eq!(rows[0].threshold_source, Some(ThresholdSource::Threaded));
    assert_eq!(rows[0].verdict, Verdict::NotJudged, "{rows:?}");
    assert!(!regressed(&rows, false));
    let doubled = rounds("q/mpmc_2p2c/x", &[410.0, 411.0, 409.0], None);
    let rows = compare(&base, &doubled, &gate(None)).unwrap();
    assert_eq!(rows[0].verdict, Verdict::Regression, "{rows:?}");
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
        e.0.contains("base rounds carry different instruction counts of q/p")
            && e.0.contains("1000000")
            && e.0.contains("1130000 in round 2"),
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
        e.0.contains("base rounds were measured at different commits"),
        "{e}"
    );
    assert!(e.0.contains("abc123"), "{e}");
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
    // A leaking head fails also against a base without the figure (older than
    // the slope).
    let mut no_slope = at(300.0, 0.0);
    no_slope[0]
        .memory
        .get_mut("memory/s")
        .unwrap()
        .leak_per_item = None;
    let rows = compare(&no_slope, &at(300.0, 1.0), &gate(None)).unwrap();
    assert_eq!(only(&rows, Channel::Leak).verdict, Verdict::Regression);
    let rows = compare(&no_slope, &at(300.0, 0.0), &gate(None)).unwrap();
    assert_eq!(only(&rows, Channel::Leak).verdict, Verdict::Added);
    assert!(!regressed(&rows, false));
    // Figures of two versions on one side are refused, like counts.
    let mut mixed = at(300.0, 0.0);
    mixed.extend(at(308.0, 0.0));
    let e = compare(&mixed, &at(300.0, 0.0), &gate(None)).unwrap_err();
    assert!(e.0.contains("different memory figures of memory/s"), "{e}");
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

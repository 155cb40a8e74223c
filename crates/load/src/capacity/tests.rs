//! The search's rule on recorded trials: no server is started.

use mcpbench_files::capacity::CapacityEntry;
use mcpbench_files::{LatencyWindows, WindowLatency};

use super::*;

const SLO: u64 = 15_000_000;

/// A load's entry: `lost` calls lost, one window per p99 (ms) given, each with
/// 1,000 calls, and the whole trial's p99 the worst window's.
fn entry(lost: u64, windows_p99_ms: &[u64]) -> CompareEntry {
    let worst = windows_p99_ms.iter().copied().max().unwrap_or(0);
    entry_with(lost, windows_p99_ms, worst)
}

/// [`entry`] with the whole trial's p99 (ms) given.
fn entry_with(lost: u64, windows_p99_ms: &[u64], whole_p99_ms: u64) -> CompareEntry {
    let mut r = ConnectionsFile::example();
    r.messages.lost = lost;
    r.messages.unanswered = lost;
    r.latency_ns.p99 = whole_p99_ms * 1_000_000;
    r.latency_ns.p999 = r.latency_ns.p999.max(r.latency_ns.p99);
    r.latency_ns.max = r.latency_ns.max.max(r.latency_ns.p999);
    r.latency_windows = LatencyWindows {
        window_ms: 1_000,
        windows: windows_p99_ms
            .iter()
            .map(|&ms| WindowLatency {
                count: 1_000,
                p50: 1_000_000,
                p99: ms * 1_000_000,
                max: ms * 1_000_000,
            })
            .collect(),
    };
    let why = if lost > 0 {
        vec![format!("{lost} calls lost")]
    } else {
        vec![]
    };
    CompareEntry {
        name: "x".into(),
        description: String::new(),
        command: vec![],
        protocol: None,
        outcome: if why.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Failed
        },
        why,
        crashed: false,
        result: Some(r),
    }
}

#[test]
fn one_stalled_second_does_not_decide_a_trial_and_an_overload_does() {
    let mut ten = [3; 10];
    ten[4] = 120; // a ~100 ms stall of the VM in the fifth second
    let t = judge(8.0, &entry(0, &ten), SLO, 0.8);
    assert!(t.passed, "{t:?}");
    assert_eq!((t.windows_within, t.windows_counted), (9, 10));
    // Over capacity, the queue builds: every second from the fourth is late.
    let overload = [3, 4, 9, 20, 40, 80, 160, 320, 640, 900];
    let t = judge(16.0, &entry(0, &overload), SLO, 0.8);
    assert!(
        !t.passed && t.why[0].contains("and 3 of 10 windows within it"),
        "{t:?}"
    );
    // Short stalls in three seconds, a few ms over each: the whole trial's p99
    // (12 ms) is within the SLO, and that reading passes it.
    let jitter = [3, 16, 3, 3, 17, 3, 3, 16, 3, 3];
    let t = judge(8.0, &entry_with(0, &jitter, 12), SLO, 0.8);
    assert!(t.passed && t.windows_within == 7, "{t:?}");
    // The same windows with the whole p99 over: neither reading passes.
    assert!(!judge(8.0, &entry_with(0, &jitter, 18), SLO, 0.8).passed);
    // A lost call fails a trial whatever its latency.
    assert!(!judge(8.0, &entry(1, &[3; 10]), SLO, 0.8).passed);
}

#[test]
fn without_windows_of_enough_calls_the_whole_trials_p99_decides() {
    let mut e = entry_with(0, &[100], 3);
    let r = e.result.as_mut().unwrap();
    r.latency_windows.windows[0].count = MIN_WINDOW_SAMPLES - 1;
    let t = judge(1.0, &e, SLO, 0.8);
    assert!(t.passed && t.windows_counted == 0, "{t:?}");
    let t = judge(1.0, &e, 2_000_000, 0.8);
    assert!(!t.passed && t.why[0].contains("over the SLO"), "{t:?}");
}

/// Runs a search against a server that passes every trial below `capacity`,
/// except the trials whose place is in `stalls` (which fail), to the end.
fn search(capacity: f64, stalls: &[usize], max: f64) -> CapacityEntry {
    let mut s = Search::new(1.0, max, 3, 2);
    let mut n = 0;
    while let Some((rate, repeat)) = s.next_trial() {
        let ok = rate < capacity && !stalls.contains(&n);
        let mut t = judge(rate, &entry(0, &[if ok { 3 } else { 90 }; 10]), SLO, 0.8);
        t.repeat = repeat;
        t.achieved_per_s = rate * 100.0;
        s.record(t);
        n += 1;
        assert!(n < 100, "the search ends");
    }
    s.conclude("x", String::new())
}

#[test]
fn the_search_doubles_bisects_then_tries_both_sides_of_the_edge_again() {
    let e = search(10.0, &[], 1_000.0);
    let rates: Vec<f64> = e.trials.iter().map(|t| t.rate_per_connection).collect();
    // 1 2 4 8 pass, 16 fails; 12 fails, 10 fails, 9 passes; 10, the lowest rate
    // rejected, is tried again and fails (upheld); 9 is repeated twice.
    assert_eq!(
        rates,
        [1.0, 2.0, 4.0, 8.0, 16.0, 12.0, 10.0, 9.0, 10.0, 9.0, 9.0]
    );
    assert_eq!(e.status, CapacityStatus::Confirmed);
    assert_eq!(e.capacity_per_connection, Some(9.0));
    assert_eq!(
        e.rejected_per_connection,
        Some(10.0),
        "the interval is [9, 10)"
    );
    assert_eq!(e.repeats_achieved_per_s, [900.0; 3]);
    assert_eq!(e.repeats_passed, 3);
    assert_eq!(e.trials.iter().filter(|t| t.repeat).count(), 3);
}

#[test]
fn a_stall_that_rejects_a_rate_is_overturned_and_a_failed_repeat_withdraws_the_figure() {
    // A stall fails the trial at 8 (place 3): one trial rejects it, as one
    // accepts; the search ends below it at 7.5, then 8 is tried again twice,
    // passes, and the search goes on above it to the true edge.
    let e = search(10.0, &[3], 1_000.0);
    let rates: Vec<f64> = e.trials.iter().map(|t| t.rate_per_connection).collect();
    assert_eq!(
        rates,
        [
            1.0, 2.0, 4.0, 8.0, 6.0, 7.0, 7.5, 8.0, 8.0, 16.0, 12.0, 10.0, 9.0, 10.0, 9.0, 9.0
        ]
    );
    assert_eq!(e.status, CapacityStatus::Confirmed);
    assert_eq!(e.capacity_per_connection, Some(9.0));
    // The first repeat of 9 (place 9) stalls: 9 is withdrawn, 8 (the next lower
    // pass) is repeated instead and holds.
    let e = search(10.0, &[9], 1_000.0);
    assert_eq!(e.status, CapacityStatus::Confirmed);
    assert_eq!(e.capacity_per_connection, Some(8.0));
    assert_eq!(e.rejected_per_connection, Some(9.0));
    let eights: Vec<bool> = e
        .trials
        .iter()
        .filter(|t| t.rate_per_connection == 8.0)
        .map(|t| t.passed)
        .collect();
    assert_eq!(
        eights,
        [true, true, true],
        "its search trial and two repeats"
    );
    // Three withdrawals in a row (9, then 8, then 4 fail a repeat): the search
    // gives up with no capacity, not with the last rate it did not repeat.
    let e = search(10.0, &[9, 10, 11], 1_000.0);
    assert_eq!(e.status, CapacityStatus::Withdrawn, "{:?}", e.trials);
    assert_eq!(e.capacity_per_connection, None);
    // Every repeat fails: withdrawn, never a capacity.
    let e = search(10.0, &(8..100).collect::<Vec<_>>(), 1_000.0);
    assert_eq!(e.status, CapacityStatus::Withdrawn);
    assert_eq!(e.capacity_per_connection, None);
}

#[test]
fn a_search_that_never_fails_is_a_lower_bound_and_the_exit_code_says_so() {
    let capped = search(1e9, &[], 4.0);
    assert_eq!(capped.status, CapacityStatus::Capped);
    assert_eq!(capped.capacity_per_connection, None, "never a capacity");
    assert_eq!(capped.lower_bound_per_connection, Some(4.0));
    let none = search(0.0, &[], 4.0);
    assert_eq!(none.status, CapacityStatus::NoPass);
    let ok = search(10.0, &[], 1_000.0);
    let not_run = Search::new(1.0, 4.0, 0, 0).conclude("y", String::new());
    assert_eq!(not_run.status, CapacityStatus::NotRun);
    let file = |servers: Vec<CapacityEntry>| CapacityFile {
        schema: CAPACITY_SCHEMA.into(),
        connections: 10,
        duration_s: 1.0,
        slo_p99_ns: SLO,
        window_share: 0.8,
        min_window_samples: MIN_WINDOW_SAMPLES,
        max_rate_per_connection: 4.0,
        rule: String::new(),
        protocol: "2025-11-25".into(),
        servers,
    };
    assert_eq!(exit_code(&file(vec![ok.clone()])), 0);
    assert_eq!(exit_code(&file(vec![ok.clone(), capped.clone()])), 4);
    assert_eq!(exit_code(&file(vec![capped.clone(), none])), 1);
    assert_eq!(exit_code(&file(vec![ok, capped, not_run])), 3);
}

#[test]
fn the_search_doubles_until_a_failure_then_bisects_and_stops() {
    assert_eq!(next_rate(None, None, 3, 1.0, 64.0), Some(1.0));
    assert_eq!(next_rate(Some(1.0), None, 3, 1.0, 64.0), Some(2.0));
    assert_eq!(
        next_rate(Some(48.0), None, 3, 1.0, 64.0),
        Some(64.0),
        "to the bound"
    );
    assert_eq!(next_rate(Some(64.0), None, 3, 1.0, 64.0), None, "capped");
    assert_eq!(next_rate(Some(2.0), Some(4.0), 3, 1.0, 64.0), Some(3.0));
    assert_eq!(next_rate(Some(2.0), Some(4.0), 0, 1.0, 64.0), None);
    assert_eq!(next_rate(None, Some(1.0), 3, 1.0, 64.0), Some(0.5), "down");
    assert_eq!(
        next_rate(None, Some(1.0 / 64.0), 3, 1.0, 64.0),
        None,
        "gives up"
    );
}

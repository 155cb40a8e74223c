//! The experiments as library calls (`compare`, `capacity`, `scaling`,
//! `lifecycle`), small plans against our server and its bare ceiling started as
//! processes, as every real run starts them: the files they return, their
//! tables and the exit codes those files call for. A peer that is not installed
//! (rmcp, looked for under a scratch repository) is a row that says so.
//!
//! The experiments start `mcpbench-server` from beside `mcpbench-load` in
//! Cargo's target directory: `cargo test --workspace` builds both (with `-p
//! mcpbench-load` alone, build it first: `cargo build -p mcpbench-server`).
//! The official SDKs' servers are proven by `scripts/test`, which installs them.

use std::path::Path;

use clap::Parser;
use mcpbench_files::capacity::CapacityStatus;
use mcpbench_files::compare::Outcome;
use mcpbench_load::cli::{Cli, Cmd};
use mcpbench_load::experiment::{EXIT_NOT_RUN, Experiment};
use mcpbench_load::runner::Setup;
use mcpbench_load::{Binaries, capacity, compare, lifecycle, scaling};

mod support;

fn bins() -> Binaries {
    support::built_binaries()
}

/// `mcpbench-load ARGS` as the command line parses it.
fn command(args: &[&str]) -> Cmd {
    Cli::try_parse_from(std::iter::once("mcpbench-load").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .command
}

/// A scratch repository: no peers installed, results under its `target/`.
fn setup<E: Experiment>(plan: &E, root: &Path) -> Setup {
    plan.check().expect("a valid plan");
    Setup::at(plan.servers(), root.to_path_buf(), E::NAME, bins()).expect("setup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_over_each_generation_runs_every_server_in_each_it_serves_and_says_which_not() {
    let Cmd::Compare(plan) = command(&[
        "compare",
        "--count",
        "10",
        "--rate",
        "4",
        "--duration",
        "1",
        "--servers",
        "mcpbench,typescript",
        "--each-generation",
    ]) else {
        unreachable!("parsed as compare")
    };
    let root = tempfile::tempdir().unwrap();
    let file = compare::run_compare(&plan, &setup(&plan, root.path())).await;
    assert_eq!(file.protocol, compare::EACH);
    let rows: Vec<(&str, Option<&str>, Outcome)> = file
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.protocol.as_deref(), s.outcome))
        .collect();
    assert_eq!(
        rows,
        [
            ("mcpbench", Some("2025-11-25"), Outcome::Passed),
            ("mcpbench", Some("2026-07-28"), Outcome::Passed),
            // Not installed in the scratch repository.
            ("typescript", Some("2025-11-25"), Outcome::NotRun),
            // Not served, installed or not: nothing ran.
            ("typescript", Some("2026-07-28"), Outcome::NotServed),
        ]
    );
    for s in &file.servers[..2] {
        let r = s.result.as_ref().expect("a result");
        assert_eq!(r.connections.established, 10);
        assert_eq!(r.messages.answered, r.messages.sent);
        assert_eq!(
            Some(r.requested.protocol.as_str()),
            s.protocol.as_deref(),
            "the load spoke the row's generation"
        );
    }
    assert!(file.servers[3].why[0].contains("2025-11-25 only"));
    assert!(file.servers[3].result.is_none());
    let table = mcpbench_tables::compare(&file);
    assert!(
        table.contains("| typescript (2026-07-28) | not served |"),
        "{table}"
    );
    // The uninstalled peer fails the run; the unserved generation does not...
    assert_eq!(compare::exit_code(&file), EXIT_NOT_RUN);
    let mut served = file.clone();
    served.servers.remove(2);
    assert_eq!(compare::exit_code(&served), 0);
    // ...unless that one generation was what was asked for.
    served.protocol = "2026-07-28".into();
    assert_eq!(compare::exit_code(&served), EXIT_NOT_RUN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_runs_each_server_and_a_missing_peer_is_a_row_that_says_why() {
    let Cmd::Compare(plan) = command(&[
        "compare",
        "--count",
        "20",
        "--rate",
        "4",
        "--duration",
        "1",
        "--servers",
        "mcpbench,rmcp,bare",
    ]) else {
        unreachable!("parsed as compare")
    };
    let root = tempfile::tempdir().unwrap();
    let file = compare::run_compare(&plan, &setup(&plan, root.path())).await;
    let names: Vec<&str> = file.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["mcpbench", "rmcp", "bare"]);
    for s in [&file.servers[0], &file.servers[2]] {
        assert_eq!(s.outcome, Outcome::Passed, "{}: {:?}", s.name, s.why);
        let r = s.result.as_ref().expect("a result");
        assert_eq!(r.connections.established, 20, "{}", s.name);
        assert_eq!(r.messages.answered, r.messages.sent, "{}", s.name);
        assert!(r.messages.sent >= 60, "{}: {:?}", s.name, r.messages);
        // The server's RSS was read from the process compare started.
        let rss = r.server_rss.as_ref().expect("RSS read");
        assert!(rss.pid > 0 && rss.idle > 0, "{}: {rss:?}", s.name);
    }
    let rmcp = &file.servers[1];
    assert_eq!(rmcp.outcome, Outcome::NotRun);
    assert!(rmcp.result.is_none());
    let why = rmcp.why.join("; ");
    assert!(
        why.contains("rmcp is not installed") && why.contains("scripts/peers install"),
        "the fix is named: {why}"
    );
    // Not run outranks everything else: exit 3, and the line says which server.
    let (code, lines) = <mcpbench_load::cli::ComparePlan as Experiment>::verdict(&file);
    assert_eq!(code, EXIT_NOT_RUN);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("rmcp not run: "), "{lines:?}");
    let table = mcpbench_tables::compare(&file);
    for name in names {
        assert!(table.contains(&format!("| {name} |")), "{name}: {table}");
    }
    // The same file without the missing peer passes: exit 0.
    let mut passed = file.clone();
    passed.servers.remove(1);
    assert_eq!(compare::exit_code(&passed), 0);
}

/// Runs `capacity` with `args` (after the subcommand) in a scratch directory.
async fn run_capacity(args: &[&str]) -> mcpbench_files::capacity::CapacityFile {
    let Cmd::Capacity(plan) = command(&[&["capacity"], args].concat()) else {
        unreachable!("parsed as capacity")
    };
    let root = tempfile::tempdir().unwrap();
    capacity::run_capacity(&plan, &setup(&plan, root.path()))
        .await
        .expect("the search runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_capacity_search_is_a_lower_bound_with_its_trials_interleaved() {
    let file = run_capacity(&[
        "--count",
        "20",
        "--duration",
        "1",
        "--servers",
        "mcpbench,bare",
        "--start",
        "1",
        "--max-rate",
        "2",
        "--steps",
        "0",
        "--repeats",
        "1",
        // The search's logic is under test, not this machine's latency: an SLO
        // no trial misses on a busy test machine (lost calls would still fail).
        "--slo-p99-ms",
        "5000",
    ])
    .await;
    // Both rates pass at 20 connections: the search reaches --max-rate, so each
    // server has a lower bound (2 calls/s), never a capacity, and exit 4 says so.
    for s in &file.servers {
        assert_eq!(s.status, CapacityStatus::Capped, "{}: {:?}", s.name, s.why);
        assert_eq!(s.capacity_per_connection, None, "{}", s.name);
        assert_eq!(s.lower_bound_per_connection, Some(2.0), "{}", s.name);
        assert!(
            s.trials.iter().all(|t| t.passed),
            "{}: {:?}",
            s.name,
            s.trials
        );
    }
    assert_eq!(capacity::exit_code(&file), 4);
    // One trial per server per round, A B then B A.
    let mut order: Vec<(u64, &str)> = file
        .servers
        .iter()
        .flat_map(|s| s.trials.iter().map(move |t| (t.order, s.name.as_str())))
        .collect();
    order.sort();
    let names: Vec<&str> = order.iter().map(|(_, n)| *n).collect();
    assert_eq!(&names[..4], ["mcpbench", "bare", "bare", "mcpbench"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_runs_every_count_and_a_missing_peer_stops_its_curve() {
    let Cmd::Scaling(plan) = command(&[
        "scaling",
        "--counts",
        "10,30",
        "--duration",
        "1",
        "--servers",
        "mcpbench,rmcp",
    ]) else {
        unreachable!("parsed as scaling")
    };
    let root = tempfile::tempdir().unwrap();
    let file = scaling::run_scaling(&plan, &setup(&plan, root.path()))
        .await
        .expect("the curve runs");
    let ours = &file.servers[0];
    let reached: Vec<(u64, Outcome)> = ours
        .points
        .iter()
        .map(|p| {
            (
                p.result.as_ref().map_or(0, |r| r.connections.established),
                p.outcome,
            )
        })
        .collect();
    assert_eq!(reached, [(10, Outcome::Passed), (30, Outcome::Passed)]);
    assert_eq!(ours.stopped, None);
    let rmcp = &file.servers[1];
    assert!(rmcp.points.is_empty());
    assert!(
        rmcp.stopped.as_deref().is_some_and(|w| w.contains("rmcp")),
        "{:?}",
        rmcp.stopped
    );
    let (code, lines) = <mcpbench_load::cli::ScalingPlan as Experiment>::verdict(&file);
    assert_eq!((code, lines.len()), (EXIT_NOT_RUN, 1), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_ends_deleted_and_abandoned_sessions_and_refuses_past_the_cap() {
    let Cmd::Lifecycle(plan) = command(&[
        "lifecycle",
        "--count",
        "20",
        "--servers",
        "mcpbench",
        "--idle",
        "2",
        "--rate",
        "2",
        "--wait",
        "6",
        "--duration",
        "1",
    ]) else {
        unreachable!("parsed as lifecycle")
    };
    let root = tempfile::tempdir().unwrap();
    let file = lifecycle::run_lifecycle(&plan, &setup(&plan, root.path()))
        .await
        .expect("the scenarios run");
    assert_eq!(file.cap, 10);
    let ours = &file.servers[0];
    assert!(ours.why.is_empty(), "{:?}", ours.why);
    let (code, lines) = <mcpbench_load::cli::LifecyclePlan as Experiment>::verdict(&file);
    assert_eq!((code, lines.len()), (0, 0), "{lines:?}");
    let table = mcpbench_tables::lifecycle(&file);
    assert!(table.contains("| mcpbench |"), "{table}");
    // Every probe of a deleted session is answered 404; an abandoned one expires
    // (idle 2 s) before the last probe (6 s).
    let deleted = ours.deleted.as_ref().expect("the DELETE scenario ran");
    assert!(!deleted.probes.is_empty());
    assert!(
        deleted.probes.iter().all(|p| p.status == Some(404)),
        "{:?}",
        deleted.probes
    );
    let abandoned = ours.abandoned.as_ref().expect("the abandon scenario ran");
    assert_eq!(
        abandoned.probes.last().and_then(|p| p.status),
        Some(404),
        "{:?}",
        abandoned.probes
    );
    // Past the cap of 10, 10 of 20 sessions are refused and 10 established.
    let past = ours.past_cap.as_ref().expect("the cap scenario ran");
    assert_eq!(past.cap, Some(10));
    let r = past.run.result.as_ref().expect("a result");
    assert_eq!((r.connections.established, r.connections.failed), (10, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_says_which_server_does_not_serve_the_generation_and_runs_no_trial_of_it() {
    let file = run_capacity(&[
        "--count",
        "2",
        "--duration",
        "1",
        "--servers",
        "typescript",
        "--protocol",
        "2026-07-28",
    ])
    .await;
    let s = &file.servers[0];
    assert_eq!(s.status, CapacityStatus::NotServed, "{:?}", s.why);
    assert!(s.trials.is_empty(), "{:?}", s.trials);
    assert!(s.why[0].contains("2025-11-25 only"), "{:?}", s.why);
    assert_eq!(capacity::exit_code(&file), EXIT_NOT_RUN);
    assert!(
        mcpbench_tables::capacity(&file).contains("| typescript | not served in this generation |")
    );
}

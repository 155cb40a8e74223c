//! `run`: scenarios against our server started in the test process: a mix with
//! a ramp and churn, thresholds both ways, `--discover`, an unreachable target,
//! the interval log, and every example file of `scenarios/`.

use std::path::{Path, PathBuf};

use clap::Parser;
use mcpbench_load::cli::{Cli, Cmd, RunPlan};
use mcpbench_load::scenario::{prepare, run_scenario, verdict};
mod support;
use support::our_server;

fn plan(args: &[&str]) -> RunPlan {
    let cli = Cli::try_parse_from(["mcpbench-load", "run"].iter().chain(args).copied())
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Cmd::Run(p) => p,
        _ => unreachable!("parsed as run"),
    }
}

fn scenario_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("s.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Four operations, 20 connections ramped up over 1 s and held 2 s at 5 calls/s,
/// a new session every 3 calls.
const MIX: &str = r#"
protocol = "2025-11-25"
[[stage]]
duration_s = 1
connections = 20
rate_per_connection = 5
[[stage]]
duration_s = 2
connections = 20
rate_per_connection = 5
[churn]
session_calls = 3
[[operation]]
method = "tools/call"
tool = "text"
weight = 4
[[operation]]
method = "tools/call"
tool = "echo"
arguments = { text = "hello" }
weight = 3
[[operation]]
method = "tools/list"
weight = 2
[[operation]]
method = "ping"
weight = 1
[[threshold]]
expr = "errors<1%"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mix_with_a_ramp_and_churn_is_counted_per_operation_and_thresholds_set_the_exit_code() {
    let server = our_server().await;
    let url = format!("http://{}/mcp", server.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let path = scenario_file(dir.path(), MIX);
    let hlog = dir.path().join("s.hlog");
    let p = prepare(&plan(&[
        path.to_str().unwrap(),
        "--target",
        &url,
        "--assert",
        "tools/call:text p99<1ns",
    ]))
    .expect("a valid scenario");
    let f = run_scenario(&p, Some(&hlog)).await.expect("it runs");
    let labels: Vec<&str> = f.operations.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(
        labels,
        ["tools/call:text", "tools/call:echo", "tools/list", "ping"]
    );
    // Slot 0 is active from 0.05 s, slot 19 from 1 s, all until 3 s at 5 calls/s:
    // about 20 x 2 s x 5 + the ramp's share, every call answered.
    let all = &f.overall;
    assert!(all.sent > 200 && all.sent <= 300, "{all:?}");
    assert_eq!(
        (all.answered, all.error_replies, all.lost, all.not_sent),
        (all.sent, 0, 0, 0),
        "{:?}",
        all.errors
    );
    for o in &f.operations {
        assert_eq!(o.answered, o.sent, "{}", o.label);
        assert_eq!(o.latency_ns.count, o.answered, "{}", o.label);
    }
    // Weights 4:3:2:1 (about 40% of the calls are `text`).
    let text_share = f.operations[0].sent as f64 / all.sent as f64;
    assert!((text_share - 0.4).abs() < 0.1, "{text_share}");
    // A new session every 3 calls, each deleted when the next one opens.
    assert_eq!(f.sessions.failed, 0, "{:?}", f.sessions.errors);
    assert!(f.sessions.opened >= all.sent / 3, "{:?}", f.sessions);
    assert_eq!(f.sessions.deleted, f.sessions.opened, "{:?}", f.sessions);
    assert_eq!(f.generator.peak_connections, 20);
    assert!(f.generator.cpu_us_per_call.is_some_and(|us| us > 0.0));
    // The file's threshold is met, the one added with --assert is not: exit 1,
    // and the failed one is named.
    assert_eq!(f.thresholds.len(), 2);
    assert!(f.thresholds[0].passed, "{:?}", f.thresholds[0]);
    assert!(!f.thresholds[1].passed, "{:?}", f.thresholds[1]);
    assert_eq!(
        verdict(&f),
        (
            1,
            vec!["threshold tools/call:text p99<1ns failed".to_string()]
        )
    );
    let mut met = f.clone();
    met.thresholds.truncate(1);
    assert_eq!(verdict(&met), (0, vec![]));
    f.check().expect("the file is consistent");
    // The interval log: one histogram per operation per second, tagged.
    let log = std::fs::read(&hlog).unwrap();
    let mut tags = std::collections::BTreeMap::<String, u64>::new();
    for entry in hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&log) {
        if let Ok(hdrhistogram::serialization::interval_log::LogEntry::Interval(h)) = entry {
            let tag = h.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
            *tags.entry(tag).or_default() += 1;
        }
    }
    assert_eq!(tags.len(), 4, "{tags:?}");
    assert!(tags.values().all(|&n| n >= 3), "one per second: {tags:?}");
    // The table names each operation and the failed threshold.
    let table = mcpbench_tables::scenario(&f);
    assert!(table.contains("| tools/call:echo | 3 |"), "{table}");
    assert!(
        table.contains("**FAILED** `tools/call:text p99<1ns`"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_calls_every_tool_with_arguments_made_from_its_schema() {
    let server = our_server().await;
    let url = format!("http://{}/mcp", server.local_addr());
    let p = prepare(&plan(&[
        "--target",
        &url,
        "--discover",
        "--count",
        "4",
        "--rate",
        "10",
        "--duration",
        "1",
    ]))
    .unwrap();
    let f = run_scenario(&p, None).await.unwrap();
    // The one-liner holds its 4 connections from the start (no ramp): about
    // 4 x 10 calls/s x 1 s.
    assert_eq!(f.generator.peak_connections, 4);
    assert!(f.overall.sent >= 30, "{:?}", f.overall);
    let echo = f
        .discovered
        .iter()
        .find(|t| t.name == "echo")
        .expect("echo listed");
    // echo's schema requires a string `text`.
    assert_eq!(echo.arguments, Some(serde_json::json!({"text": "a"})));
    let called: Vec<&str> = f.operations.iter().map(|o| o.label.as_str()).collect();
    assert!(
        called.contains(&"tools/call:echo") && called.contains(&"tools/call:text"),
        "{called:?}"
    );
    // No call was refused for its arguments (-32602).
    for o in &f.operations {
        assert!(
            o.errors.iter().all(|e| !e.why.contains("-32602")),
            "{}: {:?}",
            o.label,
            o.errors
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_nobody_listens_on_is_exit_3_with_the_reason() {
    let url = support::dead_url();
    let p = prepare(&plan(&[
        "--target",
        &url,
        "--tool",
        "text",
        "--count",
        "2",
        "--duration",
        "1",
    ]))
    .unwrap();
    let f = run_scenario(&p, None).await.unwrap();
    assert_eq!(f.sessions.opened, 0);
    assert!(f.overall.not_sent > 0, "{:?}", f.overall);
    let (code, why) = verdict(&f);
    assert_eq!(code, 3);
    assert!(
        why[0].contains("no session could be opened") && why[0].contains("connect"),
        "{why:?}"
    );
}

#[test]
fn every_example_scenario_is_valid_and_flags_conflicting_with_a_file_are_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [root.clone(), root.join("servers")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 8, "{files:?}");
    for path in &files {
        prepare(&plan(&[
            path.to_str().unwrap(),
            "--target",
            "http://127.0.0.1:1/mcp",
        ]))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let smoke = root.join("smoke.toml");
    let e = prepare(&plan(&[
        smoke.to_str().unwrap(),
        "--target",
        "http://127.0.0.1:1/mcp",
        "--count",
        "5",
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("--count") && e.contains("[[stage]]"), "{e}");
    // A threshold naming an operation the mix lacks is refused before the run.
    let e = prepare(&plan(&["--target", "http://127.0.0.1:1/mcp"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no operation"), "{e}");
    let e = prepare(&plan(&["--target", "ftp://x", "--tool", "t"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("ftp://x"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_on_an_operation_not_in_the_mix_is_refused_before_the_run() {
    let server = our_server().await;
    let url = format!("http://{}/mcp", server.local_addr());
    let p = prepare(&plan(&[
        "--target",
        &url,
        "--tool",
        "text",
        "--duration",
        "1",
        "--assert",
        "tools/call:search p99<1ms",
    ]))
    .unwrap();
    let e = run_scenario(&p, None).await.unwrap_err().to_string();
    assert!(
        e.contains("no operation \"tools/call:search\"") && e.contains("tools/call:text"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_against_a_target_nobody_listens_on_is_unreachable_not_a_bad_plan() {
    let url = support::dead_url();
    let p = prepare(&plan(&["--target", &url, "--discover", "--duration", "1"])).unwrap();
    let e = run_scenario(&p, None).await.unwrap_err();
    assert!(
        matches!(e, mcpbench_load::LoadError::Unreachable(_)),
        "exit 3, not 2: {e:?}"
    );
    assert!(
        e.to_string().contains("--discover") && e.to_string().contains("connect"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_server_expired_is_opened_again_after_its_404() {
    // Sessions unused for 300 ms expire; one connection calls every 800 ms.
    let server = mcpbench_server::start_http(
        "127.0.0.1:0".parse().unwrap(),
        mcpbench_server::Settings {
            session_ttl: std::time::Duration::from_millis(300),
            ..mcpbench_server::Settings::default()
        },
        mcpbench_server::http::HttpSettings::default(),
    )
    .await
    .expect("server");
    let url = format!("http://{}/mcp", server.local_addr());
    let p = prepare(&plan(&[
        "--target",
        &url,
        "--tool",
        "text",
        "--count",
        "1",
        "--rate",
        "1.25",
        "--duration",
        "4",
    ]))
    .unwrap();
    let f = run_scenario(&p, None).await.unwrap();
    let o = &f.overall;
    // Each expired session costs one call (answered 404) and is opened again.
    assert!(o.error_replies >= 1, "{o:?}");
    assert!(
        o.errors
            .iter()
            .any(|e| e.why.contains("the session is gone")),
        "{:?}",
        o.errors
    );
    assert!(f.sessions.opened >= 2, "{:?}", f.sessions);
    assert!(o.answered >= 1, "{o:?}");
    assert_eq!(f.sessions.failed, 0);
}

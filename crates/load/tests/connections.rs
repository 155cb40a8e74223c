//! The load library run in-process against in-process servers (ours over
//! Streamable HTTP in both generations, and the bare hyper ceiling): small plans,
//! the result checked as users read it. The client shards are child processes of
//! this package's `mcpbench-load`, as in every real run.

use std::path::{Path, PathBuf};

use clap::Parser;
use mcpbench_files::ConnectionsFile;
use mcpbench_load::cli::{Cli, Cmd, Plan};
use mcpbench_load::{Binaries, LoadError, failures, merge, run_connections};
mod support;
use support::our_server;

fn bins() -> Binaries {
    Binaries {
        load: PathBuf::from(env!("CARGO_BIN_EXE_mcpbench-load")),
        // Not used with --target; a path that cannot be mistaken for one.
        server: PathBuf::from("/nonexistent/mcpbench-server"),
    }
}

/// `mcpbench-load connections ARGS` as the command line parses it.
fn plan(args: &[&str]) -> Plan {
    let cli = Cli::try_parse_from(["mcpbench-load", "connections"].iter().chain(args).copied())
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Cmd::Connections(p) => {
            p.check().unwrap_or_else(|e| panic!("{args:?}: {e}"));
            p
        }
        _ => unreachable!("parsed as connections"),
    }
}

/// 40 connections at 4 calls/s for 1 s against `url`, written under `dir`.
async fn small_load(url: &str, protocol: &str, dir: &Path) -> ConnectionsFile {
    let out = dir.join("connections.json");
    let out = out.to_str().expect("a UTF-8 temp path");
    let p = plan(&[
        "--target",
        url,
        "--count",
        "40",
        "--rate",
        "4",
        "--duration",
        "1",
        "--processes",
        "2",
        "--protocol",
        protocol,
        "--out",
        out,
    ]);
    run_connections(&p, &bins()).await.expect("the load runs")
}

fn assert_passed(r: &ConnectionsFile, what: &str) {
    assert_eq!(failures(r), Vec::<String>::new(), "{what}");
    assert_eq!(r.connections.established, 40, "{what}");
    assert_eq!(r.processes.clients, 2, "{what}");
    // 40 connections x 4 calls/s x 1 s, every one answered.
    assert!(r.messages.sent >= 120, "{what}: {:?}", r.messages);
    assert_eq!(r.messages.answered, r.messages.sent, "{what}");
    assert_eq!(r.latency_ns.count, r.messages.answered, "{what}");
    // Every call is in the window of its due time.
    let w = &r.latency_windows;
    assert_eq!(w.window_ms, 1_000, "{what}");
    assert_eq!(
        w.windows.iter().map(|w| w.count).sum::<u64>(),
        r.latency_ns.count,
        "{what}: {w:?}"
    );
    // The replies' size is measured: the text asked for and its envelope.
    let bytes = r.messages.reply_bytes_mean.expect("replies measured");
    assert!(
        bytes > r.requested.result_bytes as f64 && bytes < r.requested.result_bytes as f64 + 400.0,
        "{what}: {bytes} B per reply for {} B of text",
        r.requested.result_bytes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_plan_against_our_server_passes_in_both_generations() {
    let server = our_server().await;
    let url = format!("http://{}/mcp", server.local_addr());
    for (protocol, handshakes) in [("2025-11-25", 40), ("2026-07-28", 0)] {
        let dir = tempfile::tempdir().unwrap();
        let r = small_load(&url, protocol, dir.path()).await;
        assert_passed(&r, protocol);
        assert_eq!(r.sessions.handshake, handshakes, "{protocol}");
        // The file on disk is the result returned (counts and histograms exactly;
        // serde_json reads a float back to within its last digit).
        let written = ConnectionsFile::load(&dir.path().join("connections.json")).unwrap();
        assert_eq!(
            (
                written.messages.sent,
                written.messages.answered,
                written.latency_ns
            ),
            (r.messages.sent, r.messages.answered, r.latency_ns.clone())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_ceiling_carries_the_same_plan() {
    let bare =
        mcpbench_server::bare_http::start_bare_http("127.0.0.1:0".parse().unwrap(), false, 4096)
            .expect("bare server");
    let dir = tempfile::tempdir().unwrap();
    let r = small_load(
        &format!("http://{}/mcp", bare.local_addr()),
        "2025-11-25",
        dir.path(),
    )
    .await;
    assert_passed(&r, "bare");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_there_fails_the_run_by_its_connections() {
    // A port nobody listens on: every connection is refused, and the result says so.
    let url = support::dead_url();
    let dir = tempfile::tempdir().unwrap();
    let r = small_load(&url, "2025-11-25", dir.path()).await;
    assert_eq!(r.connections.established, 0);
    assert!(
        failures(&r)
            .iter()
            .any(|w| w.contains("0 of 40 connections established")),
        "{:?}",
        failures(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_of_a_run_merge_to_its_result_and_a_missing_one_is_named() {
    let server = our_server().await;
    let dir = tempfile::tempdir().unwrap();
    let r = small_load(
        &format!("http://{}/mcp", server.local_addr()),
        "2025-11-25",
        dir.path(),
    )
    .await;
    let shards_dir = dir.path().join("connections.shards");
    let files: Vec<PathBuf> = (0..2)
        .map(|k| shards_dir.join(format!("shard-{k}.json")))
        .collect();
    let merged = merge::merge(&merge::read(&files).unwrap()).unwrap();
    assert_eq!(merged.messages, r.messages);
    assert_eq!(merged.latency_ns, r.latency_ns);
    let e = merge::merge(&merge::read(&files[..1]).unwrap()).unwrap_err();
    assert!(e.to_string().contains("shard 1 of 2 missing"), "{e}");
    // A file that is not a shard is refused by name.
    let bogus = dir.path().join("connections.json");
    let e = merge::read(&[bogus]).unwrap_err();
    assert!(e.to_string().contains("connections.json"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_target_a_missing_server_binary_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.json");
    let p = plan(&[
        "--count",
        "10",
        "--duration",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let e = run_connections(&p, &bins()).await.unwrap_err();
    assert!(matches!(e, LoadError::NotInstalled { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("/nonexistent/mcpbench-server")
            && text.contains("cargo build --release -p mcpbench-server"),
        "{text}"
    );
}

//! `generations` against our server started in the test process, a port nobody
//! listens on, and a server that is not installed.

use mcpbench_load::cli::{Cli, Cmd, GenerationsPlan};
use mcpbench_load::generations::{ask, ask_all};
use mcpbench_load::procs::Binaries;
use mcpbench_load::target::Target;
mod support;
use support::{dead_url, our_server};

fn plan(args: &[&str]) -> GenerationsPlan {
    use clap::Parser;
    let cli = Cli::try_parse_from(["mcpbench-load", "generations"].iter().chain(args).copied())
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Cmd::Generations(p) => p.resolved(),
        _ => unreachable!("parsed as generations"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_answers_both_generations_and_lists_touch_in_each() {
    let server = our_server().await;
    let target: Target = format!("http://{}/mcp", server.local_addr())
        .parse()
        .expect("a URL");
    let asked = ask(&target).await;
    let protocols: Vec<&str> = asked.iter().map(|g| g.protocol.as_str()).collect();
    assert_eq!(protocols, ["2025-11-25", "2026-07-28"]);
    for g in &asked {
        assert!(g.served, "{g:?}");
        assert!(
            g.can_listen(),
            "touch listed in {}: {:?}",
            g.protocol,
            g.tools
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_said_not_to_serve_with_the_reason() {
    let target: Target = dead_url().parse().expect("a URL");
    for g in ask(&target).await {
        assert!(!g.served);
        let why = g.why.expect("a reason");
        assert!(why.contains("connect"), "{why}");
    }
}

#[tokio::test]
async fn a_server_not_installed_is_not_run_and_named() {
    let load = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mcpbench-load"));
    let bins = Binaries {
        server: load.with_file_name("mcpbench-server"),
        load,
    };
    // The crate's folder holds no peers/: rmcp is not installed there.
    let f = ask_all(&plan(&["--servers", "rmcp"]), &bins).await;
    f.check().expect("a consistent file");
    let why = f.servers[0].not_run.as_deref().expect("not run");
    assert!(why.contains("scripts/peers install"), "{why}");
    assert!(f.table().contains("| rmcp | not run:"), "{}", f.table());
}

#[test]
fn every_server_by_default_none_beside_a_target() {
    assert!(plan(&[]).servers.len() >= 8);
    assert!(
        plan(&["--target", "http://127.0.0.1:1/mcp"])
            .servers
            .is_empty()
    );
    assert_eq!(plan(&["--servers", "mcpbench,bare"]).servers.len(), 2);
}

//! `pipeline` against our server started as a process, as the command starts
//! it: every call answered and counted, the Redis side beside it (Debian's
//! `redis-server` and `redis-benchmark`, which `.ci/run` installs), and a
//! server that refuses the conversation is an error naming it.

use clap::Parser;
use mcpbench_load::Binaries;
use mcpbench_load::cli::{Cli, Cmd, PipelinePlan};
use mcpbench_load::error::LoadError;
use mcpbench_load::pipeline::run_pipeline;

mod support;

fn bins() -> Binaries {
    support::built_binaries()
}

fn plan(args: &[&str]) -> PipelinePlan {
    let cli = Cli::try_parse_from(["mcpbench-load", "pipeline"].iter().chain(args).copied())
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Cmd::Pipeline(p) => p,
        _ => unreachable!("parsed as pipeline"),
    }
}

#[tokio::test]
async fn every_pipelined_call_is_answered_and_redis_runs_beside_it() {
    let p = plan(&[
        "--depth", "8", "--calls", "250", "--rounds", "2", "--size", "512", "--redis",
    ]);
    assert_eq!(p.calls_per_round(), 256, "whole batches");
    let f = run_pipeline(&p, &bins()).await.expect("a run");
    f.check().expect("consistent");
    assert!(f.all_answered(), "{:?}", f.rounds);
    assert_eq!(f.rounds.len(), 2);
    for r in &f.rounds {
        assert_eq!((r.answered, r.errors), (256, 0));
        // Each reply carries the 512 bytes back (and the envelope around them).
        assert!(r.reply_bytes > 256 * 512, "{}", r.reply_bytes);
        assert!(r.redis_per_s.is_some_and(|v| v > 0.0), "{r:?}");
        assert!(r.redis_getset_per_s.is_some_and(|v| v > 0.0), "{r:?}");
    }
    let redis = f.redis.as_ref().expect("the Redis side");
    assert!(redis.command.contains(&"-P".to_string()) && redis.command.contains(&"8".to_string()));
    assert_eq!(
        redis.getset_command.last().map(String::as_str),
        Some("<512 bytes>")
    );
    assert!(f.median_ratio().is_some() && f.median_getset_ratio().is_some());
    assert!(f.table().contains("| median |"));
}

#[tokio::test]
async fn a_server_that_refuses_the_conversation_is_an_error_naming_it() {
    // No session may be opened: initialize is refused.
    let p = plan(&[
        "--calls",
        "64",
        "--rounds",
        "1",
        "--server-args",
        "--max-sessions 0",
    ]);
    let e = run_pipeline(&p, &bins()).await.expect_err("refused");
    assert!(matches!(e, LoadError::Unreachable(_)), "{e}");
    assert!(e.to_string().contains("tcp://127.0.0.1:"), "{e}");
}

#[test]
fn plans_that_cannot_run_are_refused_with_the_flag() {
    for (args, flag) in [
        (&["--depth", "0"][..], "--depth"),
        (&["--calls", "0"], "--calls"),
        // GETSET's value goes on redis-benchmark's command line.
        (
            &["--redis", "--size", "200000"],
            "--size 200000 with --redis",
        ),
        (&["--target", "http://127.0.0.1:1/mcp"], "tcp://"),
        (
            &[
                "--target",
                "tcp://127.0.0.1:1",
                "--server-args",
                "--threads 1",
            ],
            "--server-args",
        ),
    ] {
        let e = plan(args).check().expect_err("refused").to_string();
        assert!(e.contains(flag), "{args:?}: {e}");
    }
}

//! `mcpbench-load`: the command line of the load library (`lib.rs`): parses,
//! starts the runtime, runs the command, maps its outcome to the exit code.

use std::process::ExitCode;

use clap::Parser;

use mcpbench_load::cli::{Cli, Cmd};
use mcpbench_load::procs::Binaries;
use mcpbench_load::{
    client, experiment, generations, listen, merge, orchestrate, pipeline, scenario,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Connections(plan) = &cli.command
        && let Err(e) = plan.check()
    {
        eprintln!("mcpbench-load: {e}");
        return ExitCode::from(2);
    }
    // One thread per process: the harness runs several processes per core already,
    // and a second worker only adds cross-thread wake-ups (~35 us each here).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcpbench-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bins = match Binaries::beside_current_exe() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("mcpbench-load: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Cmd::Merge(plan) => merge::run(plan),
        Cmd::Connections(plan) if plan.shard.is_some() => rt.block_on(client::run(plan)),
        Cmd::Child => rt.block_on(async {
            match client::plan_from_stdin().await {
                Ok((plan, stdin)) if plan.shard.is_some() => client::run_with(plan, stdin).await,
                Ok((plan, _)) => interruptible(orchestrate::run(plan, bins)).await,
                Err(e) => {
                    eprintln!("mcpbench-load: {e}");
                    ExitCode::from(2)
                }
            }
        }),
        Cmd::Compare(plan) => rt.block_on(interruptible(experiment::run(plan, bins))),
        Cmd::Capacity(plan) => rt.block_on(interruptible(experiment::run(plan, bins))),
        Cmd::Lifecycle(plan) => rt.block_on(interruptible(experiment::run(plan, bins))),
        Cmd::Scaling(plan) => rt.block_on(interruptible(experiment::run(plan, bins))),
        Cmd::Connections(plan) => rt.block_on(interruptible(orchestrate::run(plan, bins))),
        Cmd::Run(plan) => rt.block_on(interruptible(scenario::run(plan))),
        Cmd::Generations(plan) => {
            rt.block_on(interruptible(generations::run(plan.resolved(), bins)))
        }
        Cmd::Pipeline(plan) => {
            if let Err(e) = plan.check() {
                eprintln!("mcpbench-load: {e}");
                return ExitCode::from(2);
            }
            rt.block_on(interruptible(pipeline::run(plan, bins)))
        }
        Cmd::Listen(plan) => {
            if let Err(e) = plan.check() {
                eprintln!("mcpbench-load: {e}");
                return ExitCode::from(2);
            }
            if plan.child {
                return rt.block_on(listen::run_child(plan));
            }
            rt.block_on(interruptible(listen::run(plan, bins)))
        }
    }
}

/// Runs `work` until it ends or Ctrl-C; every process it started is killed when
/// dropped (and exits by itself when its stdin closes).
async fn interruptible(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    tokio::select! {
        code = work => code,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("mcpbench-load: interrupted; stopping every process it started");
            ExitCode::from(130)
        }
    }
}

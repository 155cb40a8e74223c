//! `mcpbench-load connections --count N`: N concurrent MCP connections, actually
//! opened, against `mcpbench-server`, measured.
//!
//! A process here may hold 20,000 open files and a loopback source address has about
//! 28,000 ephemeral ports per destination, so the harness runs as many server
//! processes (sharing one port with `SO_REUSEPORT`) and client processes (each from
//! its own source address 127.0.0.x) as N needs. Every child watches its stdin and
//! exits when the harness goes away, whatever the reason.
//!
//! Phases: connect + `initialize` every connection; read the servers' allocator-
//! counted heap (idle connections); then each connection calls `tools/call` at the
//! given rate, open-loop (latency from the intended send time), for the duration.
//! Result: `target/mcpbench/connections.json` and a summary; exit 1 when a
//! connection failed or a message was lost.
//!
//! Code map: `cli` (command line), `orchestrate` (the harness, one function per
//! phase), `client` (one client process), `schedule` (when calls are due),
//! `counters` (what is counted, merged with `+=`), `procs` (child processes and
//! their replies), `socket` (source-bound sockets, system limits), `verdict` (the
//! exit policy).

mod capacity;
mod cli;
mod client;
mod compare;
mod counters;
mod http_client;
mod lifecycle;
mod merge;
mod orchestrate;
mod procs;
mod scaling;
mod schedule;
mod socket;
mod target;
mod verdict;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Cmd};

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
    match cli.command {
        Cmd::Merge(plan) => merge::run(plan),
        Cmd::Connections(plan) if plan.shard.is_some() => rt.block_on(client::run(plan)),
        Cmd::Compare(plan) => rt.block_on(interruptible(compare::run(plan))),
        Cmd::Capacity(plan) => rt.block_on(interruptible(capacity::run(plan))),
        Cmd::Lifecycle(plan) => rt.block_on(interruptible(lifecycle::run(plan))),
        Cmd::Scaling(plan) => rt.block_on(interruptible(scaling::run(plan))),
        Cmd::Connections(plan) => rt.block_on(interruptible(orchestrate::run(plan))),
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

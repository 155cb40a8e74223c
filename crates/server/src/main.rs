//! `mcpbench-server --listen 127.0.0.1:PORT`: the MCP server of `mcpbench-server`,
//! until Ctrl-C (or SIGTERM), then a graceful shutdown.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mcpbench_server::bare::start_bare;
use mcpbench_server::{McpServer, Running, Settings, start};
use tokio::io::{AsyncBufReadExt, BufReader};

// Per-connection memory is read from this (mcpbench/stats), not from RSS.
#[global_allocator]
static ALLOC: mcpbench_alloc::Counting = mcpbench_alloc::Counting;

#[derive(Parser)]
#[command(
    name = "mcpbench-server",
    about = "A small MCP server (newline-delimited JSON-RPC over TCP) built from the mcpbench components"
)]
struct Args {
    /// Address to listen on (loopback for tests and benches).
    #[arg(long, default_value = "127.0.0.1:7400")]
    listen: SocketAddr,
    /// Bytes of text the `text` tool returns.
    #[arg(long, default_value_t = 4096)]
    result_size: usize,
    /// Upstream MCP server for the `proxy` tool.
    #[arg(long)]
    upstream: Option<SocketAddr>,
    /// Most sessions at once.
    #[arg(long, default_value_t = 200_000)]
    max_sessions: usize,
    /// Share the port with other server processes (SO_REUSEPORT).
    #[arg(long)]
    reuse_port: bool,
    /// Tokio worker threads (default: one per CPU); 1 runs everything on the main thread.
    #[arg(long)]
    threads: Option<usize>,
    /// Run under a harness: exit when stdin closes, and answer a `stats` line on
    /// stdin with one JSON line of `mcpbench/stats` on stdout.
    #[arg(long)]
    exit_on_stdin_eof: bool,
    /// Serve the bare ceiling instead of MCP: the same reply bytes for every request
    /// line, nothing parsed (see `mcpbench_server::bare`).
    #[arg(long)]
    bare: bool,
    /// Profile the whole run and write a flamegraph here on shutdown.
    #[arg(long)]
    flamegraph: Option<std::path::PathBuf>,
}

enum Server {
    Mcp(Running),
    Bare(mcpbench_server::bare::BareServer),
}

impl Server {
    fn local_addr(&self) -> SocketAddr {
        match self {
            Server::Mcp(s) => s.local_addr(),
            Server::Bare(s) => s.local_addr(),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // `--threads 1` runs everything on the main thread (no worker to wake).
    let mut rt = match args.threads {
        Some(n) if n <= 1 => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    rt.enable_all();
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcpbench-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let profiler = args
        .flamegraph
        .as_ref()
        .and_then(|_| mcpbench_profile::start());
    let code = rt.block_on(async {
        let settings = Settings {
            result_size: args.result_size,
            max_sessions: args.max_sessions,
            upstream: args.upstream,
            reuse_port: args.reuse_port,
            ..Settings::default()
        };
        let started = if args.bare {
            start_bare(args.listen, args.reuse_port, args.result_size).map(Server::Bare)
        } else {
            start(args.listen, settings).await.map(Server::Mcp)
        };
        let server = match started {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mcpbench-server: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        println!(
            "mcpbench-server: ready on {} (pid {}){}",
            server.local_addr(),
            std::process::id(),
            if args.bare {
                ", bare ceiling: no MCP"
            } else {
                ""
            }
        );
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("mcpbench-server: cannot watch SIGTERM: {e}");
                    return ExitCode::FAILURE;
                }
            };
        let harness = async {
            if !args.exit_on_stdin_eof {
                return std::future::pending().await;
            }
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim() == "stats" {
                    let stats = match &server {
                        Server::Mcp(s) => s.state().stats(),
                        Server::Bare(_) => McpServer::process_stats(0),
                    };
                    println!("{}", serde_json::to_string(&stats).unwrap_or_default());
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = harness => {}
        }
        println!("mcpbench-server: shutting down");
        if let Server::Mcp(server) = server
            && tokio::time::timeout(Duration::from_secs(10), server.shutdown())
                .await
                .is_err()
        {
            eprintln!("mcpbench-server: connections still busy after 10 s; exiting anyway");
        }
        ExitCode::SUCCESS
    });
    if let (Some(guard), Some(path)) = (profiler, args.flamegraph.as_ref()) {
        match mcpbench_profile::write_flamegraph(&guard, path) {
            Ok(()) => eprintln!("mcpbench-server: flamegraph written to {}", path.display()),
            Err(e) => eprintln!("mcpbench-server: no flamegraph: {e}"),
        }
    }
    code
}

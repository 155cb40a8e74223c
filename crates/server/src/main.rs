#![forbid(unsafe_code)]
//! `mcpbench-server --listen 127.0.0.1:PORT`: the MCP server of `mcpbench-server`,
//! until Ctrl-C (or SIGTERM), then a graceful shutdown.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mcpbench_netio::http::HttpLimits;
use mcpbench_server::bare::start_bare;
use mcpbench_server::bare_http::start_bare_http;
use mcpbench_server::http::HttpSettings;
use mcpbench_server::{McpServer, Running, Settings, start, start_http};
use tokio::io::{AsyncBufReadExt, BufReader};

// Per-connection memory is read from this (mcpbench/stats), not from RSS.
#[global_allocator]
static ALLOC: mcpbench_alloc::Counting = mcpbench_alloc::Counting;

#[derive(Parser)]
#[command(
    name = "mcpbench-server",
    about = "A small MCP server built from the mcpbench components: MCP's Streamable HTTP transport (both protocol generations) or newline-delimited JSON-RPC over TCP"
)]
struct Args {
    /// `http`: MCP's Streamable HTTP (2025-11-25 sessions and 2026-07-28
    /// stateless, on one endpoint); `tcp`: newline-delimited JSON-RPC over raw TCP
    /// (erlmcp's transport).
    #[arg(long, value_enum, default_value_t = Transport::Tcp)]
    transport: Transport,
    /// HTTP: the MCP endpoint's path.
    #[arg(long, default_value = "/mcp")]
    endpoint: String,
    /// HTTP: answer requests as server-sent events when the client accepts both
    /// JSON and SSE (default: JSON).
    #[arg(long)]
    prefer_sse: bool,
    /// HTTP: an `Origin` to allow besides loopback ones (repeatable).
    #[arg(long = "allow-origin")]
    allowed_origins: Vec<String>,
    /// HTTP: largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    max_body: usize,
    /// HTTP: seconds an open stream (`subscriptions/listen`, GET) may go without
    /// a write before a keep-alive comment is sent.
    #[arg(long, default_value_t = 15.0)]
    stream_keepalive: f64,
    /// Events an open stream may fall behind (the event ring's capacity, shared
    /// by all streams, rounded up to a power of two); a stream further behind is
    /// closed and counted.
    #[arg(long, default_value_t = 64)]
    listen_queue: usize,
    /// Share resource updates with every server process started with the same
    /// bus, so an update reaches all their streams: a folder (processes on this
    /// host, e.g. several on one port with `--reuse-port`; a Unix datagram socket
    /// each, named by its pid) or `redis://HOST:PORT` (processes on any nodes,
    /// Redis pub/sub channel `mcpbench:events`; the server starts only once
    /// subscribed).
    #[arg(long)]
    event_bus: Option<mcpbench_server::BusAt>,
    /// Seconds a session may go unused before it expires.
    #[arg(long, default_value_t = 1800.0)]
    session_ttl: f64,
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
    /// Send every `tools/call` through its tool's mailbox and worker (route
    /// table -> mailbox -> worker -> in-flight table), even for the tools that
    /// answer without waiting (`echo`, `text`, `touch`), which are otherwise
    /// answered on the connection's own task; `proxy` always goes through its
    /// worker. For A/B runs of the hand-off's cost.
    #[arg(long)]
    tool_workers: bool,
    /// Seconds a connection may sit with nothing in progress before it is closed
    /// (HTTP: the keep-alive timeout); 0 = never.
    #[arg(long, default_value_t = 300.0)]
    idle_timeout: f64,
    /// Seconds a frame (HTTP: a request's head and body) may take to arrive once
    /// its first byte has; each request of a pipelined connection has its own;
    /// 0 = no limit. (Fixed limits: messages nest at most 64 levels deep and are
    /// UTF-8, else a parse error.)
    #[arg(long, default_value_t = 30.0)]
    frame_timeout: f64,
    /// Seconds a write may wait for a peer that does not read; 0 = no limit.
    #[arg(long, default_value_t = 30.0)]
    write_timeout: f64,
    /// TCP: seconds a connection has to send `initialize`; 0 = no limit.
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout: f64,
    /// Seconds a graceful shutdown (SIGTERM, Ctrl-C) may take: replies already
    /// computed or promised are sent whole within it, then the process exits,
    /// even with a peer that does not read.
    #[arg(long, default_value_t = 10.0)]
    shutdown_timeout: f64,
    /// Most connections open at once; the next is refused at once (TCP: a JSON-RPC
    /// error line, HTTP: 503). Default: the open-file limit minus 100.
    #[arg(long)]
    max_connections: Option<u64>,
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
    /// line, nothing parsed (see `mcpbench_server::bare`). It enforces none of the
    /// guards above (body limit, connection and session caps, deadlines, origin
    /// checks), so it is the ceiling without them; it says so when it starts.
    #[arg(long)]
    bare: bool,
    /// Profile the whole run and write a flamegraph here on shutdown.
    #[arg(long)]
    flamegraph: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Transport {
    Tcp,
    Http,
}

enum Server {
    Mcp(Running),
    Bare(mcpbench_server::bare::BareServer),
    BareHttp(mcpbench_server::bare_http::BareHttpServer),
}

impl Server {
    fn local_addr(&self) -> SocketAddr {
        match self {
            Server::Mcp(s) => s.local_addr(),
            Server::Bare(s) => s.local_addr(),
            Server::BareHttp(s) => s.local_addr(),
        }
    }
}

/// The deadlines and the connection cap from the flags (0 turns a deadline off).
fn guards(args: &Args) -> Result<mcpbench_netio::Guards, String> {
    let seconds = |flag: &str, v: f64| match Duration::try_from_secs_f64(v) {
        Ok(d) if d.is_zero() => Ok(None),
        Ok(d) => Ok(Some(d)),
        Err(_) => Err(format!(
            "{flag} {v}: a number of seconds, 0 or more, is expected"
        )),
    };
    let max_connections = match args.max_connections {
        Some(0) => return Err("--max-connections 0: at least 1 is expected".into()),
        Some(n) => Some(n),
        None => open_file_limit().map(|n| n.saturating_sub(100).max(1)),
    };
    Ok(mcpbench_netio::Guards {
        idle: seconds("--idle-timeout", args.idle_timeout)?,
        frame: seconds("--frame-timeout", args.frame_timeout)?,
        write: seconds("--write-timeout", args.write_timeout)?,
        handshake: seconds("--handshake-timeout", args.handshake_timeout)?,
        max_connections,
        shutdown: seconds("--shutdown-timeout", args.shutdown_timeout)?
            .ok_or("--shutdown-timeout 0: a positive number of seconds is expected")?,
        ..mcpbench_netio::Guards::default()
    })
}

/// The soft open-file limit, from /proc/self/limits.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let session_ttl = match std::time::Duration::try_from_secs_f64(args.session_ttl) {
        Ok(ttl) if !ttl.is_zero() => ttl,
        _ => {
            eprintln!(
                "mcpbench-server: --session-ttl {}: a positive number of seconds is expected",
                args.session_ttl
            );
            return ExitCode::from(2);
        }
    };
    let stream_keepalive = match std::time::Duration::try_from_secs_f64(args.stream_keepalive) {
        Ok(d) if !d.is_zero() => d,
        _ => {
            eprintln!(
                "mcpbench-server: --stream-keepalive {}: a positive number of seconds is expected",
                args.stream_keepalive
            );
            return ExitCode::from(2);
        }
    };
    if args.listen_queue == 0 {
        eprintln!("mcpbench-server: --listen-queue 0: at least one event must fit");
        return ExitCode::from(2);
    }
    let guards = match guards(&args) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("mcpbench-server: {e}");
            return ExitCode::from(2);
        }
    };
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
            tool_workers: args.tool_workers,
            reuse_port: args.reuse_port,
            session_ttl,
            guards,
            listen_queue: args.listen_queue,
            event_bus: args.event_bus.clone(),
            ..Settings::default()
        };
        let http = HttpSettings {
            endpoint: args.endpoint.clone(),
            prefer_sse: args.prefer_sse,
            allowed_origins: args.allowed_origins.clone(),
            limits: HttpLimits {
                max_body: args.max_body,
                ..HttpLimits::default()
            },
            stream_keepalive,
        };
        let started = match (args.bare, args.transport) {
            (true, Transport::Tcp) => {
                start_bare(args.listen, args.reuse_port, args.result_size).map(Server::Bare)
            }
            (true, Transport::Http) => {
                start_bare_http(args.listen, args.reuse_port, args.result_size)
                    .map(Server::BareHttp)
            }
            (false, Transport::Tcp) => start(args.listen, settings).await.map(Server::Mcp),
            (false, Transport::Http) => start_http(args.listen, settings, http)
                .await
                .map(Server::Mcp),
        };
        let server = match started {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mcpbench-server: cannot start on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        println!(
            "mcpbench-server: ready on {} (pid {}){}",
            match args.transport {
                Transport::Tcp => format!("tcp://{}", server.local_addr()),
                Transport::Http => format!("http://{}{}", server.local_addr(), args.endpoint),
            },
            std::process::id(),
            if args.bare {
                ", bare ceiling: no MCP"
            } else {
                ""
            }
        );
        if args.bare {
            eprintln!(
                "mcpbench-server: the bare ceiling parses nothing and enforces none of --max-body, --max-connections, --max-sessions, --session-ttl, --idle-timeout, --frame-timeout, --write-timeout, --handshake-timeout, --allow-origin: it pays none of the guards the MCP server pays"
            );
        }
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
                        Server::Mcp(s) => s.stats(),
                        Server::Bare(_) | Server::BareHttp(_) => McpServer::process_stats(0),
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
        // One deadline: connections drain within it (netio bounds each write by
        // what is left of it); a connection stuck past it is cut as we exit.
        if let Server::Mcp(server) = server
            && tokio::time::timeout(guards.shutdown, server.shutdown())
                .await
                .is_err()
        {
            eprintln!(
                "mcpbench-server: connections still busy after {} s; exiting anyway",
                guards.shutdown.as_secs_f64()
            );
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

//! The official Rust MCP SDK (crates.io `rmcp` =3.11.0) serving Streamable HTTP, with the
//! project's two test tools, as a "peer" for the load generator.
//!
//! Build (not part of the main workspace; nothing lands under scripts/):
//!   cargo build --release --manifest-path scripts/sdk/rmcp/Cargo.toml --target-dir target/peers/rmcp
//! Run:
//!   target/peers/rmcp/release/rmcp-peer --port P [--host 127.0.0.1] [--stateless]
//!       [--json-response] [--text-size 4096]
//!
//! Tools (same contract as the project's Rust server):
//!   echo  {"text": string} -> content [{"type": "text", "text": <text>}]
//!   text  {}               -> content [{"type": "text", "text": <exactly --text-size bytes, ASCII>}]
//! Neither declares an outputSchema, so results carry only `content`.
//!
//! Prints exactly one line to stdout, `listening on http://HOST:PORT/mcp` (flushed), once the
//! socket is bound and listening (connections queue in the backlog from then on); nothing else
//! is printed to stdout (no tracing subscriber is installed, so rmcp's logs go nowhere; errors
//! go to stderr). SIGTERM or SIGINT cancels the service's token (ends every session and SSE
//! stream, as rmcp's example does on ctrl-c), lets axum finish in-flight requests for at most
//! 2 s, and exits 0.
//!
//! Serving is rmcp's own example examples/servers/src/counter_streamhttp.rs:
//! `StreamableHttpService::new(factory, LocalSessionManager, StreamableHttpServerConfig)` nested
//! at /mcp in an axum Router, `axum::serve` with graceful shutdown on a CancellationToken whose
//! child token is the config's `cancellation_token`. Tools use `#[tool_router]` + `#[tool]` +
//! `#[tool_handler]` as the rmcp-macros docs show (the handler's default router expression,
//! `Self::tool_router()`, so the router is built per tools/call and tools/list, as users get it).
//!
//! `--keep-alive S` sets the LocalSessionManager's `SessionConfig::keep_alive` (how long an
//! idle session lives; rmcp's default is 300 s). The other flags map onto
//! StreamableHttpServerConfig (all other fields left at their defaults):
//!   (default)        legacy_session_mode = true: `initialize` creates a LocalSessionManager
//!                    session (Mcp-Session-Id, GET stream, DELETE). Requests that carry the
//!                    2026-07-28 per-request `_meta` are served statelessly whatever this says.
//!   --stateless      legacy_session_mode = false: no sessions, every POST served by a fresh
//!                    service instance; GET and DELETE answer 405.
//!   --json-response  json_response = true. rmcp honours it only on the stateless path (so with
//!                    --stateless, or for 2026-07-28 requests); session (legacy) responses are
//!                    always SSE.
//! --host other than localhost/127.0.0.1/::1 is added to `allowed_hosts` (the default list holds
//! only those three), so the Host-header check still passes.
//!
//! What was verified, and against what (nothing here was compiled, by instruction):
//! * rmcp 3.11.0 and rmcp-macros 3.11.0 as published on crates.io (the .crate sources,
//!   .cargo_vcs_info.json sha1 165f8fd514afb8f6d1be3e86260ee9abfce58541), files read:
//!   rmcp: Cargo.toml (features `server`, `macros`, `transport-streamable-http-server`),
//!   src/lib.rs (re-exports `ErrorData`, `ServerHandler`, `tool`, `tool_router`,
//!   `tool_handler`), src/transport/streamable_http_server.rs and .../tower.rs
//!   (`StreamableHttpServerConfig` is #[non_exhaustive] so only its `with_*` builders are used:
//!   `with_legacy_session_mode`, `with_json_response`, `with_cancellation_token`,
//!   `with_allowed_hosts`, and the `allowed_hosts` field; `StreamableHttpService::new(impl Fn()
//!   -> Result<S, std::io::Error> + Send + Sync + 'static, Arc<M>, StreamableHttpServerConfig)`),
//!   .../session/local.rs (`LocalSessionManager: Default`), src/handler/server.rs
//!   (`ServerHandler: Sized + Send + Sync + 'static`), src/handler/server/tool.rs
//!   (`Result<CallToolResult, ErrorData>: IntoCallToolResult`; `Parameters<P: DeserializeOwned>`
//!   extractor), src/handler/server/wrapper/parameters.rs (`Parameters<P>(pub P)`),
//!   src/handler/server/common.rs (`schema_for_input`, `schema_for_empty_input`),
//!   src/model.rs and src/model/content.rs (`CallToolResult::success(Vec<ContentBlock>)`,
//!   `ContentBlock::text`; 3.x has no `Content` type, and `ServerInfo` is a deprecated alias of
//!   `ServerConfig`), tests/test_streamable_http_json_response.rs and tests/common/calculator.rs
//!   (the 3.11 usage of all of the above with axum).
//!   rmcp-macros: src/tool.rs, src/tool_router.rs, src/tool_handler.rs (generated `call_tool`,
//!   `list_tools`, `get_tool`, and `get_info` from `name`/`version`), src/lib.rs docs.
//! * github modelcontextprotocol/rust-sdk at its newest stored tag rmcp-v3.1.4 (4a738b9d):
//!   examples/servers/src/counter_streamhttp.rs, counter_hyper_streamable_http.rs,
//!   common/counter.rs, examples/servers/Cargo.toml (the 3.11.0 tag is not in that snapshot,
//!   so the serving code was checked line by line against the 3.11.0 crate source above).
//! * axum 0.8.9 / tokio 1.54.1 / tokio-util 0.7.20 / schemars 1.2.3 / serde 1.0.229 are the
//!   versions in the Cargo.lock shipped inside the rmcp 3.11.0 crate; the axum calls
//!   (`Router::new().nest_service`, `axum::serve(..).with_graceful_shutdown(..)`) are the ones
//!   that crate's tests make.

use std::{io::Write, sync::Arc, time::Duration};

use rmcp::{
    ErrorData, ServerHandler,
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock},
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

const PATH: &str = "/mcp";
const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const GRACE: Duration = Duration::from_secs(2);

/// An ASCII string of exactly `size` bytes (so bytes == characters).
fn make_text(size: usize) -> String {
    PATTERN
        .iter()
        .cycle()
        .take(size)
        .map(|&b| b as char)
        .collect()
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// The text to return.
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct PeerServer {
    payload: Arc<str>,
}

#[tool_router]
impl PeerServer {
    #[tool(description = "Returns its text argument unchanged.")]
    async fn echo(
        &self,
        Parameters(EchoArgs { text }): Parameters<EchoArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }

    #[tool(description = "Returns a text item of exactly --text-size bytes.")]
    async fn text(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(
            self.payload.as_ref(),
        )]))
    }
}

#[tool_handler(name = "rmcp-echo-server", version = "1.0.0")]
impl ServerHandler for PeerServer {}

struct Args {
    host: String,
    port: u16,
    text_size: usize,
    stateless: bool,
    json_response: bool,
    /// SessionConfig::keep_alive: seconds a session may be idle (rmcp's default: 300).
    keep_alive: Option<Duration>,
}

const USAGE: &str = "usage: rmcp-peer --port P [--host 127.0.0.1] [--stateless] [--json-response] [--text-size 4096] [--keep-alive SECONDS (rmcp's default: 300)]";

fn usage(message: &str) -> ! {
    eprintln!("rmcp-peer: {message}\n{USAGE}");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut host = "127.0.0.1".to_string();
    let mut port: Option<u16> = None;
    let mut text_size: usize = 4096;
    let mut stateless = false;
    let mut json_response = false;
    let mut keep_alive = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> String {
            inline
                .clone()
                .or_else(|| it.next())
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match flag.as_str() {
            "--host" => host = value("--host"),
            "--port" => {
                port = Some(
                    value("--port")
                        .parse()
                        .unwrap_or_else(|_| usage("--port must be an integer 0..=65535")),
                )
            }
            "--text-size" => {
                text_size = value("--text-size")
                    .parse()
                    .unwrap_or_else(|_| usage("--text-size must be a non-negative integer"))
            }
            "--keep-alive" => {
                keep_alive = Some(
                    value("--keep-alive")
                        .parse::<f64>()
                        .ok()
                        .and_then(|s| Duration::try_from_secs_f64(s).ok())
                        .filter(|d| !d.is_zero())
                        .unwrap_or_else(|| usage("--keep-alive must be a positive number of seconds")),
                )
            }
            "--stateless" => stateless = true,
            "--json-response" => json_response = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => usage(&format!("unknown argument {arg:?}")),
        }
    }
    let Some(port) = port else {
        usage("--port is required (0 picks a free one)");
    };
    if host.is_empty() {
        usage("--host needs a value");
    }
    Args {
        host,
        port,
        text_size,
        stateless,
        json_response,
        keep_alive,
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    if args.json_response && !args.stateless {
        eprintln!(
            "rmcp-peer: note: rmcp applies --json-response only to stateless-path requests; \
             session (initialize-handshake) responses stay text/event-stream"
        );
    }

    let server = PeerServer {
        payload: Arc::from(make_text(args.text_size)),
    };

    let ct = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!args.stateless)
        .with_json_response(args.json_response)
        .with_cancellation_token(ct.child_token());
    let bare_host = args.host.trim_start_matches('[').trim_end_matches(']');
    if !["localhost", "127.0.0.1", "::1"].contains(&bare_host) {
        let mut hosts = config.allowed_hosts.clone();
        hosts.push(bare_host.to_string());
        config = config.with_allowed_hosts(hosts);
    }

    let mut sessions = LocalSessionManager::default();
    if let Some(keep_alive) = args.keep_alive {
        sessions.session_config.keep_alive = Some(keep_alive);
    }
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(sessions),
        config,
    );
    let router = axum::Router::new().nest_service(PATH, service);

    let listener = match tokio::net::TcpListener::bind((bare_host, args.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "rmcp-peer: cannot listen on {}:{}: {error}",
                args.host, args.port
            );
            std::process::exit(1);
        }
    };
    let port = match listener.local_addr() {
        Ok(addr) => addr.port(),
        Err(error) => {
            eprintln!("rmcp-peer: cannot read the bound address: {error}");
            std::process::exit(1);
        }
    };

    let mut sigterm = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let shutdown = ct.clone();
    let mut server_task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    });

    let shown_host = if bare_host.contains(':') {
        format!("[{bare_host}]")
    } else {
        bare_host.to_string()
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{shown_host}:{port}{PATH}");
        let _ = out.flush();
    }

    tokio::select! {
        _ = sigterm.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        result = &mut server_task => {
            match result {
                Ok(Ok(())) => eprintln!("rmcp-peer: server stopped unexpectedly"),
                Ok(Err(error)) => eprintln!("rmcp-peer: server failed: {error}"),
                Err(error) => eprintln!("rmcp-peer: server task failed: {error}"),
            }
            std::process::exit(1);
        }
    }
    // Ends every session and SSE stream (the config's token is a child of `ct`) and starts
    // axum's graceful shutdown; whatever is still open after GRACE is dropped with the runtime.
    ct.cancel();
    let _ = tokio::time::timeout(GRACE, server_task).await;
}

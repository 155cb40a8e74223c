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
//!   touch {"uri"?: string, "stamp"?: string} -> adds one to the counter resource `uri`
//!         (default mcpbench://counter/0) and sends every listener subscribed to it
//!         notifications/resources/updated {uri, _meta: {"mcpbench/event": N,
//!         "mcpbench/stamp": stamp}} (stamp only when given; at most 128 bytes);
//!         answers "<uri> is now <value> (event <N>)"; an unknown uri or a longer
//!         stamp is a tool error (`isError`), as ours answers them.
//! None declares an outputSchema, so results carry only `content`.
//! Resources: mcpbench://counter/0 .. /3, text/plain, the counter's value.
//!
//! Server-to-client streams: in 2026-07-28, rmcp's own `subscriptions/listen`
//! (`ServerHandler::accepted_subscription_filter` + `listen`, the SDK sends the
//! acknowledgement and stamps the subscription id). rmcp has no event bus, so the peer does
//! what its tests and docs suggest a user do: every `listen` holds a receiver of one
//! `tokio::sync::broadcast` channel (capacity LAG_CAPACITY) and forwards each update of a
//! URI it accepted through its `SubscriptionSink`; a listener that falls LAG_CAPACITY
//! updates behind misses them (the load tool counts them) and goes on. In 2025-11-25,
//! `resources/subscribe` on a session: a task per subscription holds a receiver of the
//! same channel and sends each update of its URI on the session's peer, which rmcp
//! writes to the session's GET stream (`resources/unsubscribe` is not served).
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
//! What was verified, and against what (when first written, nothing here was compiled; the
//! `touch`/`listen` part was compiled and run against `mcpbench-load listen --server rmcp`):
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

use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::{
    ErrorData, ServerHandler,
    handler::server::wrapper::Parameters,
    model::{
        CallToolResult, ContentBlock, GetMeta, Implementation, ListResourcesResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, Resource, ResourceContents, ResourceUpdatedNotification,
        ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig, ServerNotification,
        SubscribeRequestParams, SubscriptionFilter,
    },
    serde_json::Value,
    service::{RequestContext, RoleServer, SubscriptionContext},
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
/// The counter resources `touch` updates and listeners subscribe to.
const RESOURCES: [&str; 4] = [
    "mcpbench://counter/0",
    "mcpbench://counter/1",
    "mcpbench://counter/2",
    "mcpbench://counter/3",
];
/// Longest `stamp` `touch` accepts, in bytes (the load tool sends ~20).
const MAX_STAMP: usize = 128;
/// Updates a listener may fall behind before it misses some (the broadcast's capacity).
const LAG_CAPACITY: usize = 1024;

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

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct TouchArgs {
    /// The resource to update (default mcpbench://counter/0).
    pub uri: Option<String>,
    /// Carried into the notification's _meta as mcpbench/stamp (at most 128 bytes).
    pub stamp: Option<String>,
}

/// One update, as every listener's receiver gets it.
#[derive(Debug, Clone)]
struct Update {
    uri: &'static str,
    event: u64,
    stamp: Option<Arc<str>>,
}

/// The counters and the channel their updates go out on, shared by every service instance.
#[derive(Debug)]
struct Hub {
    counters: [AtomicU64; 4],
    events: AtomicU64,
    updates: tokio::sync::broadcast::Sender<Update>,
}

#[derive(Debug, Clone)]
pub struct PeerServer {
    payload: Arc<str>,
    hub: Arc<Hub>,
}

fn resource_index(uri: &str) -> Option<usize> {
    RESOURCES.iter().position(|r| *r == uri)
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

    #[tool(
        description = "Updates a resource (default mcpbench://counter/0) and notifies its listeners; `stamp` (at most 128 bytes) is carried into the notification's _meta as mcpbench/stamp."
    )]
    async fn touch(
        &self,
        Parameters(TouchArgs { uri, stamp }): Parameters<TouchArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        // As ours answers: a tool error (`isError`), not a protocol error.
        let refused = |why: String| Ok(CallToolResult::error(vec![ContentBlock::text(why)]));
        let uri = uri.as_deref().unwrap_or(RESOURCES[0]);
        let Some(i) = resource_index(uri) else {
            return refused(format!(
                "touch: unknown resource {uri:?} (resources/list names them)"
            ));
        };
        if let Some(stamp) = &stamp
            && stamp.len() > MAX_STAMP
        {
            return refused(format!(
                "touch: stamp is {} bytes, over the limit of {MAX_STAMP}",
                stamp.len()
            ));
        }
        let value = self.hub.counters[i].fetch_add(1, Ordering::Relaxed) + 1;
        let event = self.hub.events.fetch_add(1, Ordering::Relaxed) + 1;
        // No receiver (nobody listening) is not an error.
        let _ = self.hub.updates.send(Update {
            uri: RESOURCES[i],
            event,
            stamp: stamp.map(Arc::from),
        });
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{uri} is now {value} (event {event})"
        ))]))
    }
}

/// The notification one listener is sent for `update`.
fn updated_notification(update: &Update) -> ServerNotification {
    let mut notification = ServerNotification::ResourceUpdatedNotification(
        ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(update.uri)),
    );
    let meta = notification.get_meta_mut();
    meta.insert("mcpbench/event".into(), Value::from(update.event));
    if let Some(stamp) = &update.stamp {
        meta.insert("mcpbench/stamp".into(), Value::from(stamp.as_ref()));
    }
    notification
}

#[tool_handler]
impl ServerHandler for PeerServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new("rmcp-echo-server", "1.0.0"))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(
            RESOURCES
                .iter()
                .enumerate()
                .map(|(i, uri)| {
                    Resource::new(*uri, format!("counter-{i}")).with_mime_type("text/plain")
                })
                .collect(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some(i) = resource_index(&request.uri) else {
            return Err(ErrorData::resource_not_found(
                format!("unknown resource {:?}", request.uri),
                None,
            ));
        };
        let value = self.hub.counters[i].load(Ordering::Relaxed);
        Ok(ReadResourceResult::new(vec![ResourceContents::text(
            value.to_string(),
            RESOURCES[i],
        )])
        .into())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let uris = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| resource_index(uri).is_some())
            .cloned();
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(uris)
                .build(),
        )
    }

    /// 2025-11-25: `resources/subscribe` on a session. rmcp keeps no subscriptions,
    /// so, as for `listen`, each subscription holds a receiver of the one broadcast
    /// channel, in a task of its own, and sends every update of its URI as a
    /// notification on the session's peer: rmcp routes a notification tied to no
    /// request to the session's GET stream. The task ends when a send fails (the
    /// session is gone, at the next update of its URI: rmcp ignores a closed GET
    /// stream, so a task outlives its stream until the session ends);
    /// `resources/unsubscribe` is not served, and subscribing twice delivers twice.
    #[allow(deprecated)] // legacy in rmcp 3.11; it is the 2025-11-25 protocol
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        use tokio::sync::broadcast::error::RecvError;
        let Some(i) = resource_index(&request.uri) else {
            return Err(ErrorData::resource_not_found(
                format!("unknown resource {:?}", request.uri),
                None,
            ));
        };
        let uri = RESOURCES[i];
        let mut updates = self.hub.updates.subscribe();
        let peer = context.peer;
        tokio::spawn(async move {
            loop {
                match updates.recv().await {
                    Ok(update) if update.uri == uri => {
                        if peer.send_notification(updated_notification(&update)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Ok(())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        use tokio::sync::broadcast::error::RecvError;
        let mut updates = self.hub.updates.subscribe();
        let sink = context.sink().clone();
        let wanted = |uri: &str| {
            sink.accepted()
                .resource_subscriptions
                .as_ref()
                .is_some_and(|uris| uris.iter().any(|u| u == uri))
        };
        loop {
            let update = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                update = updates.recv() => update,
            };
            match update {
                Ok(update) if wanted(update.uri) => {
                    if sink.send(updated_notification(&update)).await.is_err() {
                        // The stream is gone: the request ends with it.
                        return Ok(());
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }
}

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
                        .unwrap_or_else(|| {
                            usage("--keep-alive must be a positive number of seconds")
                        }),
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
        hub: Arc::new(Hub {
            counters: Default::default(),
            events: AtomicU64::new(0),
            updates: tokio::sync::broadcast::channel(LAG_CAPACITY).0,
        }),
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
    let service =
        StreamableHttpService::new(move || Ok(server.clone()), Arc::new(sessions), config);
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

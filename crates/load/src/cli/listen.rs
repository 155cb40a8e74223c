//! `listen`'s command line: N server-to-client streams held open while resource
//! updates are triggered at a rate.

use std::path::PathBuf;

use crate::cli::Protocol;
use crate::error::LoadError;
use crate::peers::PeerName;
use crate::socket::PER_PROCESS;
use crate::target::Target;

/// What `mcpbench-load listen` runs.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct ListenPlan {
    /// Listeners to hold open, each on a connection of its own.
    #[arg(long)]
    pub count: u64,
    /// Resource updates triggered per second (`touch` calls on a connection of
    /// their own, open-loop).
    #[arg(long, default_value_t = 1.0)]
    pub events: f64,
    /// Seconds of triggering once every listener is open.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// The server: `http://HOST:PORT/PATH` of a running MCP server with the
    /// `touch` tool and the resource; without it, mcpbench-server is started.
    #[arg(long)]
    pub target: Option<Target>,
    /// Without --target, which server to start: `mcpbench`, `bare` (the fan-out
    /// ceiling: a plain hyper service writing the same event bytes, nothing
    /// parsed; 2026-07-28 only), `typescript-v2` (the official TypeScript SDK
    /// v2, from `scripts/peers install typescript-v2`), `python` (the official
    /// Python SDK's own `subscriptions/listen`, from `scripts/sdk/setup`;
    /// 2026-07-28 only) or `rmcp` (the official Rust SDK's `listen` handler, and
    /// in 2025-11-25 a task per `resources/subscribe` notifying the session's GET
    /// stream, both fed by a tokio broadcast channel; from `scripts/peers install
    /// rmcp`).
    #[arg(long, value_enum, default_value_t = PeerName::Mcpbench)]
    pub server: PeerName,
    /// `2026-07-28`: `subscriptions/listen`; `2025-11-25`: `initialize`,
    /// `resources/subscribe`, then the GET stream.
    #[arg(long, value_enum, default_value_t = Protocol::Stateless)]
    pub protocol: Protocol,
    /// The resource every listener subscribes to and every trigger updates.
    #[arg(long, default_value = "mcpbench://counter/0")]
    pub uri: String,
    /// Listeners being opened at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// `tools/list` calls per second on a control connection while events are
    /// triggered (`ping` is not served by every server in 2026-07-28):
    /// what a client that is not listening sees meanwhile.
    #[arg(long, default_value_t = 10.0)]
    pub control_rate: f64,
    /// Seconds after the last trigger to wait for deliveries still on their way.
    #[arg(long, default_value_t = 5.0)]
    pub grace: f64,
    /// Arguments for the mcpbench-server started without --target (e.g.
    /// `--listen-queue 256`), one string split at spaces.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub server_args: String,
    /// Client processes (and, without --target, server processes sharing one
    /// port and one event bus): at least as many as the open-file limit needs,
    /// one per 15,000 listeners.
    #[arg(long, default_value_t = 1)]
    pub processes: u64,
    /// Without --target, how the started mcpbench-server processes share an
    /// update: `host` (a folder of Unix datagram sockets, one per process) or
    /// `redis` (pub/sub through a redis-server the run starts on a Unix socket:
    /// Debian's `redis-server`, as several nodes would share it). `redis` runs
    /// the servers as processes even for one.
    #[arg(long, value_enum, default_value_t = Bus::Host)]
    pub bus: Bus,
    /// The result file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A child of a run over several processes: hold `--count` listeners on
    /// `--target` from `--source`, report on stdout, stop when told on stdin.
    #[arg(long, hide = true, requires = "target")]
    pub child: bool,
    /// The child's local address.
    #[arg(long, hide = true)]
    pub source: Option<std::net::IpAddr>,
}

/// How the servers a `listen` run starts share updates (`--bus`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    /// A folder of Unix datagram sockets (one host).
    Host,
    /// Redis pub/sub (any nodes).
    Redis,
}

impl Bus {
    /// As the result file names it.
    pub fn name(self) -> &'static str {
        match self {
            Bus::Host => "host",
            Bus::Redis => "redis",
        }
    }
}

impl ListenPlan {
    /// Refuses a plan that cannot run, naming the flag.
    pub fn check(&self) -> Result<(), LoadError> {
        let bad = |why: String| Err(LoadError::Plan(why));
        if self.count == 0 || self.count > 1_000_000 {
            return bad(format!("--count {}: between 1 and 1,000,000", self.count));
        }
        if self.child && self.count > PER_PROCESS {
            return bad(format!(
                "--count {}: a child holds at most {PER_PROCESS} listeners (open files)",
                self.count
            ));
        }
        if self.processes == 0 || self.processes > 250 {
            return bad(format!("--processes {}: between 1 and 250", self.processes));
        }
        for (flag, v) in [
            ("--events", self.events),
            ("--duration", self.duration),
            ("--grace", self.grace),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{flag} {v}: a positive number is expected"));
            }
        }
        if !(self.control_rate.is_finite() && self.control_rate >= 0.0) {
            return bad(format!(
                "--control-rate {}: zero or a positive number is expected",
                self.control_rate
            ));
        }
        if self.connect_concurrency == 0 {
            return bad("--connect-concurrency 0: at least 1".into());
        }
        if self.protocol == Protocol::Auto {
            return bad(
                "--protocol auto: name the generation (2026-07-28: subscriptions/listen, \
                 2025-11-25: the GET stream)"
                    .into(),
            );
        }
        if !matches!(
            self.server,
            PeerName::Mcpbench
                | PeerName::Bare
                | PeerName::TypescriptV2
                | PeerName::Python
                | PeerName::Rmcp
        ) {
            return bad(format!(
                "--server {}: listen starts mcpbench, bare, typescript-v2, python or rmcp (the \
                 other SDK servers here have no touch tool: run one yourself and pass --target)",
                self.server
            ));
        }
        if self.server == PeerName::Python && self.protocol != Protocol::Stateless {
            return bad(
                "--server python: its peer serves subscriptions/listen only (the SDK has no \
                 public resources/subscribe hook): --protocol 2026-07-28"
                    .into(),
            );
        }
        if self.server == PeerName::Bare && self.protocol != Protocol::Stateless {
            return bad(
                "--server bare serves subscriptions/listen only: --protocol 2026-07-28".into(),
            );
        }
        if self.bus == Bus::Redis && (self.target.is_some() || self.server != PeerName::Mcpbench) {
            return bad(
                "--bus redis: the event bus of the mcpbench-server processes this run starts \
                 (no --target, --server mcpbench)"
                    .into(),
            );
        }
        if let Some(t) = &self.target
            && !t.is_http()
        {
            return bad(format!(
                "--target {t}: server-to-client streams are Streamable HTTP (http://...)"
            ));
        }
        Ok(())
    }

    /// Client processes (and server processes without --target): `--processes`,
    /// or as many as the count needs.
    pub fn process_count(&self) -> u64 {
        self.processes.max(self.count.div_ceil(PER_PROCESS))
    }

    /// Whether the run starts several server processes (or one, for a Redis
    /// bus) that share updates over `--bus`.
    pub fn shares_bus(&self) -> bool {
        self.target.is_none()
            && self.server == PeerName::Mcpbench
            && (self.process_count() > 1 || self.bus == Bus::Redis)
    }

    /// `--server-args`, split at spaces.
    pub fn server_arg_list(&self) -> Vec<String> {
        self.server_args
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    /// The events triggered: one per 1/`events` s over `duration` s.
    pub fn event_count(&self) -> u64 {
        ((self.events * self.duration).round() as u64).max(1)
    }
}

//! `pipeline`'s command line: `tools/call` pipelined over one TCP connection,
//! beside `redis-benchmark -P` on the same machine.

use std::path::PathBuf;

use crate::error::LoadError;
use crate::target::Target;

/// Largest `--size` with `--redis`.
pub const MAX_REDIS_SIZE: usize = 100 * 1024;

/// What `mcpbench-load pipeline` runs.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct PipelinePlan {
    /// Requests written at once (one write) before their replies are read, as
    /// `redis-benchmark -P DEPTH` does.
    #[arg(long, default_value_t = 64)]
    pub depth: u64,
    /// Calls per round (rounded up to a whole number of batches).
    #[arg(long, default_value_t = 200_000)]
    pub calls: u64,
    /// Rounds; with --redis each is followed by redis-benchmark's, so the two
    /// alternate and a stall of the machine hits both.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Bytes of text each call carries to the `echo` tool (and gets back); the
    /// Redis side sets values of the same size (`-d`).
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// A running MCP server over TCP (`tcp://HOST:PORT`); without it,
    /// mcpbench-server --transport tcp is started on a free loopback port.
    #[arg(long)]
    pub target: Option<Target>,
    /// Each round followed by `redis-benchmark -c 1 -P DEPTH -d SIZE -t set -n
    /// CALLS` against a redis-server the run starts on loopback TCP (Debian:
    /// `apt-get install redis-server`).
    #[arg(long)]
    pub redis: bool,
    /// Arguments for the mcpbench-server started without --target, one string
    /// split at spaces (e.g. `--threads 1`).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub server_args: String,
    /// The result file (default target/mcpbench/pipeline.json, its table beside
    /// it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl PipelinePlan {
    /// Refuses what cannot run, saying which flag.
    pub fn check(&self) -> Result<(), LoadError> {
        let bad = |m: String| Err(LoadError::Plan(m));
        if self.depth == 0 || self.depth > 4096 {
            return bad(format!("--depth {}: 1 to 4096", self.depth));
        }
        if self.calls == 0 {
            return bad("--calls 0: at least 1".into());
        }
        if self.rounds == 0 {
            return bad("--rounds 0: at least 1".into());
        }
        if self.size > 1 << 20 {
            return bad(format!("--size {}: at most 1 MiB", self.size));
        }
        // GETSET's value is one argument of redis-benchmark's command line,
        // and Linux takes at most 128 KiB in one.
        if self.redis && self.size > MAX_REDIS_SIZE {
            return bad(format!(
                "--size {} with --redis: at most {MAX_REDIS_SIZE} (redis-benchmark takes the \
                 GETSET value on its command line)",
                self.size
            ));
        }
        if let Some(t) = &self.target
            && t.is_http()
        {
            return bad(format!(
                "--target {t}: pipelining is over the TCP transport (tcp://HOST:PORT)"
            ));
        }
        if self.target.is_some() && !self.server_args.trim().is_empty() {
            return bad("--server-args: for the server the run starts (no --target)".into());
        }
        Ok(())
    }

    /// `--calls` rounded up to whole batches.
    pub fn calls_per_round(&self) -> u64 {
        self.calls.div_ceil(self.depth) * self.depth
    }
}

//! The command line: `connections` (the harness) and the hidden `client` (one
//! client process it starts).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mcpbench-load",
    about = "Concurrent MCP connections against mcpbench-server, measured"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Open N connections, call tools/call at a rate, report.
    Connections(Plan),
    /// One client process (started by `connections`; talks JSON lines on stdio).
    #[command(hide = true)]
    Client(ClientArgs),
}

/// What `connections` runs.
#[derive(clap::Args, Clone)]
pub struct Plan {
    /// Concurrent connections to open.
    #[arg(long)]
    pub count: u64,
    /// tools/call messages per second per connection.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Seconds of calls after every connection is up.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Bytes of the text each call returns (the server's --result-size).
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// Connects in flight at once per client process.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Which server to load: `mcp` (mcpbench-server) or `bare` (the ceiling beside
    /// it: the same reply bytes from a plain tokio loop, nothing parsed).
    #[arg(long, value_enum, default_value_t = ServerKind::Mcp)]
    pub server: ServerKind,
    /// Where to write the result (default target/mcpbench/connections.json, or
    /// connections-bare.json for `--server bare`; $CARGO_TARGET_DIR is honoured).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Profile every server process; server K writes FILE with `-serverK` before
    /// its extension.
    #[arg(long)]
    pub flamegraph: Option<PathBuf>,
}

impl Plan {
    /// Refuses a plan no run could carry out: nothing to open, a rate or duration
    /// that is not a positive finite number (or would overflow the schedule).
    pub fn check(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("--count must be at least 1".into());
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.rate) || self.rate < 1e-6 {
            return Err(format!(
                "--rate {}: a positive number of calls per second (at least 1e-6) is expected",
                self.rate
            ));
        }
        if !positive(self.duration) || self.duration > 86_400.0 {
            return Err(format!(
                "--duration {}: a positive number of seconds up to a day is expected",
                self.duration
            ));
        }
        Ok(())
    }
}

/// Which server the load runs against.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum ServerKind {
    /// mcpbench-server.
    Mcp,
    /// Its bare ceiling (`mcpbench-server --bare`).
    Bare,
}

/// One client process's share (set by `connections`).
#[derive(clap::Args)]
pub struct ClientArgs {
    #[arg(long)]
    pub server: SocketAddr,
    #[arg(long)]
    pub source: IpAddr,
    #[arg(long)]
    pub count: u64,
    #[arg(long)]
    pub rate: f64,
    #[arg(long)]
    pub duration: f64,
    #[arg(long)]
    pub connect_concurrency: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(count: u64, rate: f64, duration: f64) -> Plan {
        Plan {
            count,
            rate,
            duration,
            size: 4096,
            connect_concurrency: 64,
            server: ServerKind::Mcp,
            out: None,
            flamegraph: None,
        }
    }

    #[test]
    fn plans_no_run_could_carry_out_are_refused_by_name() {
        assert!(plan(10, 1.0, 30.0).check().is_ok());
        assert!(plan(0, 1.0, 30.0).check().unwrap_err().contains("--count"));
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-20] {
            assert!(
                plan(10, rate, 30.0).check().unwrap_err().contains("--rate"),
                "{rate}"
            );
        }
        for duration in [0.0, f64::INFINITY, f64::NAN, 1e9] {
            let e = plan(10, 1.0, duration).check().unwrap_err();
            assert!(e.contains("--duration"), "{duration}: {e}");
        }
    }
}

//! The servers a comparison can start: ours, its bare ceiling and the official
//! SDKs' servers (`scripts/peers install`), with how each is installed, started
//! and configured, in one place.

use std::path::{Path, PathBuf};

use crate::error::LoadError;

/// A server `--servers` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum PeerName {
    /// mcpbench-server over Streamable HTTP.
    Mcpbench,
    /// The bare hyper service: the ceiling.
    Bare,
    /// The official Rust SDK.
    Rmcp,
    /// The official Python SDK, with sessions.
    Python,
    /// The official Python SDK, stateless.
    PythonStateless,
    /// The official TypeScript SDK, with sessions.
    Typescript,
    /// The official TypeScript SDK, stateless.
    TypescriptStateless,
    /// The official TypeScript SDK v2 (`@modelcontextprotocol/server`): both
    /// generations on one endpoint, sessions for 2025-11-25.
    TypescriptV2,
}

impl PeerName {
    /// The name as `--servers` and the result files spell it.
    pub fn name(self) -> &'static str {
        match self {
            PeerName::Mcpbench => "mcpbench",
            PeerName::Bare => "bare",
            PeerName::Rmcp => "rmcp",
            PeerName::Python => "python",
            PeerName::PythonStateless => "python-stateless",
            PeerName::Typescript => "typescript",
            PeerName::TypescriptStateless => "typescript-stateless",
            PeerName::TypescriptV2 => "typescript-v2",
        }
    }

    /// One of ours (started from this workspace's `mcpbench-server`).
    pub fn ours(self) -> bool {
        matches!(self, PeerName::Mcpbench | PeerName::Bare)
    }
}

impl std::fmt::Display for PeerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A server the comparison can start.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Which one.
    pub name: PeerName,
    /// What it is, for the table.
    pub description: String,
    /// The program started.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// Where the peers and our server binary live.
#[derive(Clone, Debug)]
pub struct PeerPaths {
    /// `mcpbench-server`.
    pub server: PathBuf,
    /// The repository (scripts/sdk/).
    pub root: PathBuf,
    /// The target directory (`peers/`, `sdk-venv/`).
    pub target: PathBuf,
}

impl PeerPaths {
    /// The paths of the repository at `root`, with `server` as our server binary
    /// (`$CARGO_TARGET_DIR`, else `root/target`, holds the peers).
    pub fn new(server: PathBuf, root: &Path) -> PeerPaths {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        PeerPaths {
            server,
            root: root.to_path_buf(),
            target,
        }
    }
}

/// How to start `name` (listening on a free loopback port, `size`-byte `text`
/// results), or why it cannot be (not installed, naming the missing file).
pub fn peer(name: PeerName, paths: &PeerPaths, size: usize) -> Result<Peer, LoadError> {
    let size = size.to_string();
    let ours = |bare: bool| {
        let mut args: Vec<String> = [
            "--transport",
            "http",
            "--listen",
            "127.0.0.1:0",
            "--result-size",
            &size,
        ]
        .map(String::from)
        .to_vec();
        if bare {
            args.push("--bare".into());
        }
        Peer {
            name,
            description: if bare {
                "bare hyper 1.x service (the ceiling: same reply bytes, nothing parsed)".into()
            } else {
                format!(
                    "mcpbench-server {} (netio HTTP/1.1)",
                    env!("CARGO_PKG_VERSION")
                )
            },
            program: paths.server.clone(),
            args,
        }
    };
    // An SDK peer: `program script --port 0 --text-size N [--stateless]`.
    let sdk = |program: PathBuf, script: PathBuf, sdk: &str, stateless: Option<&str>| {
        let mut args = vec![
            script.display().to_string(),
            "--port".into(),
            "0".into(),
            "--text-size".into(),
            size.clone(),
        ];
        if stateless.is_some() {
            args.push("--stateless".into());
        }
        Peer {
            name,
            description: format!("official {sdk}{}", stateless.unwrap_or("")),
            program,
            args,
        }
    };
    let python = |stateless| {
        sdk(
            paths.target.join("sdk-venv/bin/python"),
            paths.root.join("scripts/sdk/echo_server.py"),
            "Python SDK (PyPI mcp 2.3.0, uvicorn)",
            stateless,
        )
    };
    let typescript = |stateless| {
        sdk(
            PathBuf::from("node"),
            paths.target.join("peers/typescript/server.mjs"),
            "TypeScript SDK (npm @modelcontextprotocol/sdk 1.32.2, Node)",
            stateless,
        )
    };
    let peer = match name {
        PeerName::Mcpbench => ours(false),
        PeerName::Bare => ours(true),
        PeerName::Python => python(None),
        PeerName::PythonStateless => python(Some(", stateless_http")),
        PeerName::Typescript => typescript(None),
        PeerName::TypescriptStateless => typescript(Some(", stateless transport")),
        PeerName::TypescriptV2 => {
            let mut p = sdk(
                PathBuf::from("node"),
                paths.target.join("peers/typescript-v2/server.mjs"),
                "TypeScript SDK v2 (npm @modelcontextprotocol/server 2.4.0 + node 2.1.2, Node)",
                None,
            );
            // The SDK's default is 1,024 open subscriptions/listen streams.
            p.args
                .extend(["--max-subscriptions".into(), "1000000".into()]);
            p
        }
        PeerName::Rmcp => Peer {
            name,
            description: "official Rust SDK (crates.io rmcp, StreamableHttpService)".into(),
            program: paths.target.join("peers/rmcp/release/rmcp-peer"),
            args: vec!["--port".into(), "0".into(), "--text-size".into(), size],
        },
    };
    // What must exist: the script for Node (`node` is found on PATH), the
    // program otherwise.
    let needed = match name {
        PeerName::Typescript | PeerName::TypescriptStateless | PeerName::TypescriptV2 => {
            PathBuf::from(&peer.args[0])
        }
        _ => peer.program.clone(),
    };
    if !needed.exists() {
        return Err(LoadError::NotInstalled {
            name: name.name(),
            missing: needed,
            hint: if name.ours() {
                "build it: cargo build --release -p mcpbench-server"
            } else {
                "run scripts/peers install"
            },
        });
    }
    Ok(peer)
}

impl Peer {
    /// The same server with `extra` flags.
    pub fn with_args(mut self, extra: &[String]) -> Peer {
        self.args.extend(extra.iter().cloned());
        self
    }

    /// The command line, as the result files record it.
    pub fn command(&self) -> Vec<String> {
        let mut command = vec![self.program.display().to_string()];
        command.extend(self.args.iter().cloned());
        command
    }
}

/// How a server's sessions are configured: the flags that set its idle expiry and
/// its session cap, where it has those settings.
pub struct SessionSettings {
    /// Flags giving it the idle expiry asked for (empty: no such setting).
    pub idle: Vec<String>,
    /// Flags giving it the cap asked for (`None`: no such setting).
    pub cap: Option<Vec<String>>,
    /// Its default idle expiry, from its source.
    pub default_idle: &'static str,
}

/// `name`'s session settings for an idle expiry of `idle_s` seconds and a cap of
/// `cap` sessions; `None` for a server without sessions.
pub fn session_settings(name: PeerName, idle_s: f64, cap: u64) -> Option<SessionSettings> {
    let idle = idle_s.to_string();
    let cap = cap.to_string();
    let flags = |flag: &str, value: &str| vec![flag.to_string(), value.to_string()];
    Some(match name {
        PeerName::Mcpbench => SessionSettings {
            idle: flags("--session-ttl", &idle),
            cap: Some(flags("--max-sessions", &cap)),
            default_idle: "1800 s; cap 200,000",
        },
        PeerName::Python => SessionSettings {
            idle: flags("--session-idle-timeout", &idle),
            cap: Some(flags("--max-sessions", &cap)),
            default_idle: "1800 s (session_idle_timeout); cap 10,000 (max_sessions)",
        },
        PeerName::Typescript | PeerName::TypescriptV2 => SessionSettings {
            idle: flags("--idle-ms", &((idle_s * 1000.0).round() as u64).to_string()),
            cap: Some(flags("--max-sessions", &cap)),
            default_idle: "none in the SDK; the example's reaper: 30 min, checked every 60 s; the example's cap 1000",
        },
        PeerName::Rmcp => SessionSettings {
            idle: flags("--keep-alive", &idle),
            cap: None,
            default_idle: "300 s (SessionConfig::keep_alive); no cap",
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn every_name_parses_back_to_its_peer() {
        for p in PeerName::value_variants() {
            assert_eq!(PeerName::from_str(p.name(), false), Ok(*p));
        }
        assert!(PeerName::from_str("nginx", false).is_err());
    }

    #[test]
    fn a_peer_not_installed_is_refused_with_the_missing_file_and_the_fix() {
        let paths = PeerPaths {
            server: PathBuf::from("/nonexistent/mcpbench-server"),
            root: PathBuf::from("/nonexistent"),
            target: PathBuf::from("/nonexistent/target"),
        };
        let e = peer(PeerName::Rmcp, &paths, 4096).unwrap_err().to_string();
        assert!(
            e.contains("rmcp") && e.contains("rmcp-peer") && e.contains("scripts/peers install"),
            "{e}"
        );
        let e = peer(PeerName::Bare, &paths, 4096).unwrap_err().to_string();
        assert!(
            e.contains("cargo build --release -p mcpbench-server"),
            "{e}"
        );
    }
}

//! `mcpbench-load compare`: the same load against several MCP servers, one after
//! another on this machine: ours, its bare ceiling and the official SDKs' servers
//! (`scripts/peers install`). Each server runs as one process started here; the
//! load is `connections --target URL --server-pid PID` (so its RSS is read), run as
//! a child process of its own; a server that fails says how and why, and the next
//! one still runs. Result: `target/mcpbench/compare.json` and a Markdown table.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use mcpbench_files::compare::{COMPARE_SCHEMA, CompareEntry, CompareFile, Outcome};

use mcpbench_files::{ConnectionsFile, results_dir};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::{ComparePlan, RunShape};
use crate::schedule::GRACE;

/// A server the comparison can start.
#[derive(Clone)]
pub struct Peer {
    description: String,
    program: PathBuf,
    args: Vec<String>,
}

/// Every server name `--servers` takes.
pub const SERVERS: [&str; 7] = [
    "mcpbench",
    "bare",
    "rmcp",
    "python",
    "python-stateless",
    "typescript",
    "typescript-stateless",
];

/// How to start `name` (listening on a free loopback port, `size`-byte `text`
/// results), or why it cannot be.
pub fn peer(name: &str, exe: &Path, root: &Path, size: usize) -> Result<Peer, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
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
            description: if bare {
                "bare hyper 1.x service (the ceiling: same reply bytes, nothing parsed)".into()
            } else {
                format!(
                    "mcpbench-server {} (netio HTTP/1.1)",
                    env!("CARGO_PKG_VERSION")
                )
            },
            program: exe.with_file_name("mcpbench-server"),
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
            description: format!("official {sdk}{}", stateless.unwrap_or("")),
            program,
            args,
        }
    };
    let python = |stateless| {
        sdk(
            target.join("sdk-venv/bin/python"),
            root.join("scripts/sdk/echo_server.py"),
            "Python SDK (PyPI mcp 2.3.0, uvicorn)",
            stateless,
        )
    };
    let typescript = |stateless| {
        sdk(
            PathBuf::from("node"),
            target.join("peers/typescript/server.mjs"),
            "TypeScript SDK (npm @modelcontextprotocol/sdk 1.32.2, Node)",
            stateless,
        )
    };
    let peer = match name {
        "mcpbench" => ours(false),
        "bare" => ours(true),
        "python" => python(None),
        "python-stateless" => python(Some(", stateless_http")),
        "typescript" => typescript(None),
        "typescript-stateless" => typescript(Some(", stateless transport")),
        "rmcp" => Peer {
            description: "official Rust SDK (crates.io rmcp, StreamableHttpService)".into(),
            program: target.join("peers/rmcp/release/rmcp-peer"),
            args: vec!["--port".into(), "0".into(), "--text-size".into(), size],
        },
        other => {
            return Err(format!(
                "unknown server {other:?} (known: {})",
                SERVERS.join(", ")
            ));
        }
    };
    let installed = match name {
        "typescript" | "typescript-stateless" => Path::new(&peer.args[0]).exists(),
        _ => peer.program.exists(),
    };
    if !installed {
        return Err(format!(
            "{name} is not installed ({} missing): run scripts/peers install",
            if name.starts_with("typescript") {
                peer.args[0].clone()
            } else {
                peer.program.display().to_string()
            }
        ));
    }
    Ok(peer)
}

impl Peer {
    /// The same server with `extra` flags.
    pub fn with_args(mut self, extra: &[String]) -> Peer {
        self.args.extend(extra.iter().cloned());
        self
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
pub fn session_settings(name: &str, idle_s: f64, cap: u64) -> Option<SessionSettings> {
    let s = |v: &[String]| v.to_vec();
    let idle = idle_s.to_string();
    let cap = cap.to_string();
    let flags = |flag: &str, value: &str| s(&[flag.to_string(), value.to_string()]);
    Some(match name {
        "mcpbench" => SessionSettings {
            idle: flags("--session-ttl", &idle),
            cap: Some(flags("--max-sessions", &cap)),
            default_idle: "1800 s; cap 200,000",
        },
        "python" => SessionSettings {
            idle: flags("--session-idle-timeout", &idle),
            cap: Some(flags("--max-sessions", &cap)),
            default_idle: "1800 s (session_idle_timeout); cap 10,000 (max_sessions)",
        },
        "typescript" => SessionSettings {
            idle: flags("--idle-ms", &((idle_s * 1000.0).round() as u64).to_string()),
            cap: Some(flags("--max-sessions", &cap)),
            default_idle: "none in the SDK; the example's reaper: 30 min, checked every 60 s; the example's cap 1000",
        },
        "rmcp" => SessionSettings {
            idle: flags("--keep-alive", &idle),
            cap: None,
            default_idle: "300 s (SessionConfig::keep_alive); no cap",
        },
        _ => return None,
    })
}

/// Runs the comparison; the exit code is 0 when every server ran (whatever it
/// measured), 1 when one could not be run, 2 on a bad plan.
pub async fn run(plan: ComparePlan) -> ExitCode {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if plan.count == 0
        || !positive(plan.rate)
        || plan.rate < 1e-6
        || !positive(plan.shape.duration)
        || plan.shape.duration > 86_400.0
    {
        eprintln!(
            "mcpbench-load: --count, --rate (at least 1e-6) and --duration (up to a day) must be positive numbers"
        );
        return ExitCode::from(2);
    }
    let Setup {
        names,
        exe,
        root,
        dir,
    } = match Setup::new(&plan.servers, "compare") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mcpbench-load: {e}");
            return ExitCode::from(2);
        }
    };
    let mut entries = Vec::new();
    for name in &names {
        let name = name.as_str();
        println!("compare: == {name}");
        let entry = match peer(name, &exe, &root, plan.shape.size) {
            Ok(p) => one(name, &p, &plan, &exe, &dir.join(format!("{name}.json"))).await,
            Err(why) => CompareEntry {
                name: name.into(),
                description: String::new(),
                command: Vec::new(),
                outcome: Outcome::NotRun,
                why: vec![why],
                crashed: false,
                result: None,
            },
        };
        for why in &entry.why {
            println!("compare: {name}: {why}");
        }
        entries.push(entry);
    }
    let file = CompareFile {
        schema: COMPARE_SCHEMA.into(),
        connections: plan.count,
        rate_per_connection: plan.rate,
        duration_s: plan.shape.duration,
        protocol: plan.shape.protocol.name().into(),
        servers: entries,
    };
    let not_run = file.servers.iter().any(|s| s.outcome == Outcome::NotRun);
    finish(
        plan.out.as_deref(),
        &root,
        "compare",
        &file,
        &file.table(),
        not_run,
    )
}

/// What `compare` and `capacity` both start from: the server names (checked), this
/// executable, the repository (the current directory) and a scratch directory for
/// each run's `connections` file.
pub struct Setup {
    pub names: Vec<String>,
    pub exe: PathBuf,
    pub root: PathBuf,
    pub dir: PathBuf,
}

impl Setup {
    /// Checks `servers` (comma-separated) and makes `target/mcpbench/<scratch>/`.
    pub fn new(servers: &str, scratch: &str) -> Result<Setup, String> {
        let names: Vec<String> = servers.split(',').map(|n| n.trim().to_string()).collect();
        if let Some(bad) = names.iter().find(|n| !SERVERS.contains(&n.as_str())) {
            return Err(format!(
                "--servers: unknown server {bad:?} (known: {})",
                SERVERS.join(", ")
            ));
        }
        let (Ok(exe), Ok(root)) = (std::env::current_exe(), std::env::current_dir()) else {
            return Err("cannot find my own executable or the current directory".into());
        };
        let dir = results_dir(&root).join(scratch);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Setup {
            names,
            exe,
            root,
            dir,
        })
    }
}

/// The end of `compare`, `capacity`, `lifecycle` and `scaling`: `file` written to
/// `out` (or `target/mcpbench/<name>.json`) with its table, then the exit code:
/// 2 when it cannot be written, 1 when `incomplete` (a server could not run).
pub fn finish(
    out: Option<&Path>,
    root: &Path,
    name: &str,
    file: &impl serde::Serialize,
    table: &str,
    incomplete: bool,
) -> ExitCode {
    let out = out.map_or_else(
        || results_dir(root).join(format!("{name}.json")),
        Path::to_path_buf,
    );
    if let Err(e) = write_with_table(&out, file, table, name) {
        eprintln!("mcpbench-load: {e}");
        return ExitCode::from(2);
    }
    if incomplete {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes `file` as JSON to `out` and `table` beside it (`.md`), then prints the
/// table.
pub fn write_with_table(
    out: &Path,
    file: &impl serde::Serialize,
    table: &str,
    what: &str,
) -> Result<(), String> {
    let text = serde_json::to_string_pretty(file).map_err(|e| e.to_string())? + "\n";
    std::fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let md = out.with_extension("md");
    let _ = std::fs::write(&md, table);
    println!("{what}: wrote {} and {}", out.display(), md.display());
    print!("{table}");
    Ok(())
}

/// What one load against a started server is: its size and shape.
pub struct LoadArgs<'a> {
    pub count: u64,
    pub rate: f64,
    pub shape: &'a RunShape,
    /// Leave the sessions open at the end (no DELETE).
    pub abandon: bool,
    /// `connections --give-up-after`.
    pub give_up_after: Option<u64>,
}

impl<'a> From<&'a ComparePlan> for LoadArgs<'a> {
    fn from(plan: &'a ComparePlan) -> Self {
        LoadArgs {
            count: plan.count,
            rate: plan.rate,
            shape: &plan.shape,
            abandon: false,
            give_up_after: None,
        }
    }
}

/// A server process started for a load, with its URL.
pub struct Running {
    child: Child,
    pub url: String,
    pub pid: u32,
}

impl Running {
    /// Starts `p` and waits for its ready line.
    pub async fn start(p: &Peer) -> Result<Running, String> {
        let (child, url) = start(p).await?;
        let pid = child.id().ok_or("the server exited at once")?;
        Ok(Running { child, url, pid })
    }

    /// The process is gone (crashed or exited).
    pub fn gone(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// SIGTERM, then kill after 5 s.
    pub async fn stop(mut self) {
        stop(&mut self.child).await;
    }
}

/// A row for `p` before anything ran.
pub fn entry(name: &str, p: &Peer) -> CompareEntry {
    let mut command = vec![p.program.display().to_string()];
    command.extend(p.args.iter().cloned());
    CompareEntry {
        name: name.into(),
        description: p.description.clone(),
        command,
        outcome: Outcome::NotRun,
        why: Vec::new(),
        crashed: false,
        result: None,
    }
}

/// Starts one server, loads it, stops it.
pub async fn one(name: &str, p: &Peer, plan: &ComparePlan, exe: &Path, out: &Path) -> CompareEntry {
    let mut e = entry(name, p);
    let mut server = match Running::start(p).await {
        Ok(s) => s,
        Err(why) => {
            e.why.push(why);
            return e;
        }
    };
    println!(
        "compare: {name} listening on {} (pid {})",
        server.url, server.pid
    );
    load_into(&mut e, &mut server, &plan.into(), exe, out).await;
    server.stop().await;
    e
}

/// Runs one load (`connections --target`, a child process) against `server`; its
/// result, outcome and reasons go into `entry`.
pub async fn load_into(
    entry: &mut CompareEntry,
    server: &mut Running,
    a: &LoadArgs<'_>,
    exe: &Path,
    out: &Path,
) {
    let _ = std::fs::remove_file(out);
    let mut args: Vec<String> = vec![
        "connections".into(),
        "--target".into(),
        server.url.clone(),
        "--server-pid".into(),
        server.pid.to_string(),
    ];
    args.extend(plan_args(a, out));
    let status = load(exe, &args, &entry.name, limit(a)).await;
    entry.crashed = server.gone();
    read_result(entry, out, &status);
}

/// The `connections` flags of one load, writing to `out`.
pub fn plan_args(a: &LoadArgs<'_>, out: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--count".into(),
        a.count.to_string(),
        "--rate".into(),
        a.rate.to_string(),
        "--duration".into(),
        a.shape.duration.to_string(),
        "--protocol".into(),
        a.shape.protocol.name().into(),
        "--size".into(),
        a.shape.size.to_string(),
        "--processes".into(),
        a.shape.processes.to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    if a.abandon {
        args.push("--abandon".into());
    }
    if let Some(n) = a.give_up_after {
        args.extend(["--give-up-after".into(), n.to_string()]);
    }
    args
}

/// How long one load may take: the connect phase's own limit, the run, twice the
/// grace, a margin.
pub fn limit(a: &LoadArgs<'_>) -> Duration {
    Duration::from_secs(60 + a.count / 100 + 60)
        + Duration::from_secs_f64(a.shape.duration)
        + 2 * GRACE
}

/// Reads the load's result file into `entry`: outcome, reasons, result.
pub fn read_result(entry: &mut CompareEntry, out: &Path, status: &str) {
    match ConnectionsFile::load(out) {
        Ok(r) => {
            entry.why = crate::verdict::failures(&r);
            entry.outcome = if entry.why.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Failed
            };
            entry.result = Some(r);
        }
        Err(e) => entry.why.push(format!("no result ({status}): {e}")),
    }
    if entry.crashed {
        entry
            .why
            .push("the server process was gone at the end of the load (crashed or exited)".into());
    }
}

/// Starts `p` and waits (at most 30 s) for the line naming its URL.
async fn start(p: &Peer) -> Result<(Child, String), String> {
    let mut child = Command::new(&p.program)
        .args(&p.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", p.program.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = url_in(&line) {
                return Some(url);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| format!("{} printed no URL within 30 s", p.program.display()))?;
    // Keep reading its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

/// The first `http://...` in `line`.
fn url_in(line: &str) -> Option<String> {
    let at = line.find("http://")?;
    Some(
        line[at..]
            .split(|c: char| c.is_whitespace() || c == ')' || c == ',')
            .next()?
            .to_string(),
    )
}

/// Runs the load as a child process, its output prefixed with the server's name.
pub async fn load(exe: &Path, args: &[String], name: &str, limit: Duration) -> String {
    let child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("the load could not start: {e}"),
    };
    let Some(stdout) = child.stdout.take() else {
        return "the load has no stdout".into();
    };
    let mut lines = BufReader::new(stdout).lines();
    let follow = async {
        while let Ok(Some(line)) = lines.next_line().await {
            // Progress and summary lines, not the JSON it also prints.
            if line.starts_with("load:") {
                println!("[{name}] {line}");
            }
        }
        child.wait().await
    };
    match tokio::time::timeout(limit, follow).await {
        Ok(Ok(status)) => format!("load {status}"),
        Ok(Err(e)) => format!("load: {e}"),
        Err(_) => format!("load stopped after {} s", limit.as_secs()),
    }
}

/// SIGTERM, then kill after 5 s.
async fn stop(server: &mut Child) {
    if let Some(pid) = server.id() {
        // SAFETY: kill(2) on a pid we started and have not reaped.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
    }
    if tokio::time::timeout(Duration::from_secs(5), server.wait())
        .await
        .is_err()
    {
        let _ = server.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_found_in_each_servers_ready_line() {
        assert_eq!(
            url_in("mcpbench-server: ready on http://127.0.0.1:5/mcp (pid 9)").as_deref(),
            Some("http://127.0.0.1:5/mcp")
        );
        assert_eq!(
            url_in("listening on http://127.0.0.1:8000/mcp").as_deref(),
            Some("http://127.0.0.1:8000/mcp")
        );
        assert_eq!(url_in("starting"), None);
    }

    #[test]
    fn a_server_that_did_not_run_is_a_row_with_its_reason() {
        let mut ran = ConnectionsFile::example();
        ran.server_rss = Some(mcpbench_files::ServerRss {
            pid: 1,
            before: 1_000_000,
            idle: 3_000_000,
            after: 1_500_000,
            per_connection_idle: Some(1000.0),
            per_connection_after: Some(250.0),
            processes: 1,
        });
        let f = CompareFile {
            schema: COMPARE_SCHEMA.into(),
            connections: 2000,
            rate_per_connection: 1.0,
            duration_s: 3.0,
            protocol: "2025-11-25".into(),
            servers: vec![
                CompareEntry {
                    name: "mcpbench".into(),
                    description: String::new(),
                    command: vec![],
                    outcome: Outcome::Passed,
                    why: vec![],
                    crashed: false,
                    result: Some(ran),
                },
                CompareEntry {
                    name: "rmcp".into(),
                    description: String::new(),
                    command: vec![],
                    outcome: Outcome::NotRun,
                    why: vec!["rmcp is not installed".into()],
                    crashed: false,
                    result: None,
                },
            ],
        };
        let t = f.table();
        assert!(t.contains("| mcpbench | passed | 2000 / 0 |"), "{t}");
        assert!(t.contains("| 1000 B | 250 B | 0 |"), "{t}");
        assert!(
            t.contains("| rmcp | not run |") && t.contains("rmcp is not installed"),
            "{t}"
        );
    }

    #[test]
    fn unknown_servers_are_refused_by_name() {
        let e = peer("nginx", Path::new("/x"), Path::new("/y"), 4096)
            .err()
            .expect("refused");
        assert!(e.contains("nginx") && e.contains("mcpbench"), "{e}");
        let e = peer("rmcp", Path::new("/x"), Path::new("/nonexistent"), 4096)
            .err()
            .expect("not installed");
        assert!(e.contains("scripts/peers install"), "{e}");
    }
}

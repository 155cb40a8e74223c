//! `mcpbench-load pipeline`: `tools/call echo` requests pipelined over one TCP
//! connection, `--depth` written in one write and then their replies read, as
//! `redis-benchmark -P DEPTH` drives Redis; calls/s per round. With `--redis`,
//! each round is followed by `redis-benchmark -c 1 -P DEPTH -d SIZE -t set`
//! against a `redis-server` the run starts on loopback TCP, so the two alternate
//! and are compared round by round (issue 27's reference: an MCP server should
//! move its small calls at least as fast as Redis moves SETs of the same size).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mcpbench_files::pipeline::{PIPELINE_SCHEMA, PipelineFile, PipelineRound, RedisSide};
use mcpbench_files::results_dir;
use mcpbench_netio::Client;
use mcpbench_server::redis_bus::LocalRedis;

use crate::cli::PipelinePlan;
use crate::connection::initialize_tcp;
use crate::error::LoadError;
use crate::http_client::is_success;
use crate::procs::{Binaries, Proc};
use crate::target::Target;

/// Longest one round may take before the run gives up on it.
const ROUND_LIMIT: Duration = Duration::from_secs(300);
/// Longest the started server may take to say it is ready.
const START_LIMIT: Duration = Duration::from_secs(10);

/// Runs `plan`, writes `pipeline.json` and its table, prints the table. Exit 0
/// when every call of every round was answered with a result; 1 when one was
/// not, or a round failed once started (a server that hangs or goes away, a
/// benchmark that fails); 3 when the server or Redis could not be started or
/// reached at all; 2 for a bad plan or a file that cannot be written.
pub async fn run(plan: PipelinePlan, bins: Binaries) -> ExitCode {
    let file = match run_pipeline(&plan, &bins).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mcpbench-load: {e}");
            return ExitCode::from(match e {
                LoadError::Plan(_) => 2,
                LoadError::Run(_) => 1,
                _ => crate::output::EXIT_NOT_RUN,
            });
        }
    };
    let path = plan
        .out
        .clone()
        .unwrap_or_else(|| results_dir(&PathBuf::from(".")).join("pipeline.json"));
    if let Err(e) = crate::output::write_with_table(&path, &file, &file.table(), "pipeline") {
        eprintln!("mcpbench-load: {e}");
        return ExitCode::from(2);
    }
    if file.all_answered() {
        ExitCode::SUCCESS
    } else {
        let first = file.rounds.iter().find_map(|r| r.first_error.clone());
        eprintln!(
            "mcpbench-load: FAILED: calls not answered with a result (first: {})",
            first.unwrap_or_else(|| "the connection ended".into())
        );
        ExitCode::FAILURE
    }
}

/// The run as a library call: the file, not yet written.
pub async fn run_pipeline(plan: &PipelinePlan, bins: &Binaries) -> Result<PipelineFile, LoadError> {
    plan.check()?;
    // Ours first, Redis after: a server that cannot start costs no Redis start.
    let (target, server, _running) = match &plan.target {
        Some(t) => (t.clone(), "target".to_string(), None),
        None => {
            let (target, proc, command) = start_ours(plan, bins).await?;
            (target, command, Some(proc))
        }
    };
    let redis = if plan.redis {
        Some(RedisRun::start(plan)?)
    } else {
        None
    };
    let calls = plan.calls_per_round();
    let request = request_line(plan.size);
    let mut rounds = Vec::new();
    for round in 1..=plan.rounds {
        eprintln!(
            "pipeline: round {round} of {}: {calls} calls in batches of {}",
            plan.rounds, plan.depth
        );
        let mut r =
            tokio::time::timeout(ROUND_LIMIT, one_round(&target, &request, plan.depth, calls))
                .await
                .map_err(|_| {
                    LoadError::Run(format!("round {round} took longer than {ROUND_LIMIT:?}"))
                })?
                .map_err(|e| match e {
                    // Reached before: gone since is the server's failure.
                    LoadError::Unreachable(why) if round > 1 => {
                        LoadError::Run(format!("round {round}: {why}"))
                    }
                    other => other,
                })?;
        if let Some(redis) = &redis {
            r.redis_per_s = Some(redis.bench(&redis.command, "SET").await?);
            r.redis_getset_per_s = Some(redis.bench(&redis.getset, "GETSET").await?);
        }
        eprintln!(
            "pipeline: round {round}: {:.0} calls/s{}",
            r.calls_per_s,
            match (r.redis_per_s, r.redis_getset_per_s) {
                (Some(set), Some(getset)) => {
                    format!(", redis {set:.0} SET/s, {getset:.0} GETSET/s")
                }
                _ => String::new(),
            }
        );
        rounds.push(r);
    }
    let file = PipelineFile {
        schema: PIPELINE_SCHEMA.into(),
        target: target.to_string(),
        server,
        depth: plan.depth,
        calls,
        tool: format!("echo {{\"text\": <{} bytes>}}", plan.size),
        request_bytes: request.len() as u64 + 1,
        redis: redis.map(|r| {
            let mut getset_command = r.getset;
            if let Some(value) = getset_command.last_mut() {
                *value = format!("<{} bytes>", value.len());
            }
            RedisSide {
                version: r.version,
                command: r.command,
                getset_command,
            }
        }),
        rounds,
    };
    file.check()
        .map_err(|e| LoadError::Run(format!("the result contradicts itself: {}", e.0)))?;
    Ok(file)
}

/// One `tools/call echo` line with `size` bytes of text (ASCII, so bytes ==
/// characters), no newline (the client frames it).
fn request_line(size: usize) -> Vec<u8> {
    let text: String = b"abcdefghijklmnopqrstuvwxyz0123456789"
        .iter()
        .cycle()
        .take(size)
        .map(|&b| b as char)
        .collect();
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    )
    .into_bytes()
}

/// One round on a fresh connection: `initialize`, then `calls` requests in
/// batches of `depth`, each batch written at once and its replies read before
/// the next (the same id on every request: replies are counted, not matched).
async fn one_round(
    target: &Target,
    request: &[u8],
    depth: u64,
    calls: u64,
) -> Result<PipelineRound, LoadError> {
    let unreachable = |e: &dyn std::fmt::Display| LoadError::Unreachable(format!("{target}: {e}"));
    let mut c = Client::connect(target.addr())
        .await
        .map_err(|e| unreachable(&e))?;
    initialize_tcp(&mut c).await.map_err(|e| unreachable(&e))?;
    let mut r = PipelineRound {
        answered: 0,
        errors: 0,
        first_error: None,
        reply_bytes: 0,
        seconds: 0.0,
        calls_per_s: 0.0,
        redis_per_s: None,
        redis_getset_per_s: None,
    };
    let start = Instant::now();
    'batches: for _ in 0..calls / depth {
        for _ in 0..depth {
            c.send(request)
                .map_err(|e| LoadError::Run(format!("a request cannot be framed: {e}")))?;
        }
        if let Err(e) = c.flush().await {
            r.first_error.get_or_insert(format!("write: {e}"));
            break;
        }
        for _ in 0..depth {
            match c.recv().await {
                Ok(Some(reply)) => {
                    r.reply_bytes += reply.len() as u64 + 1;
                    if is_success(&reply) {
                        r.answered += 1;
                    } else {
                        r.errors += 1;
                        r.first_error.get_or_insert_with(|| {
                            String::from_utf8_lossy(&reply[..reply.len().min(200)]).into_owned()
                        });
                    }
                }
                Ok(None) => {
                    r.first_error
                        .get_or_insert("the server closed the connection".into());
                    break 'batches;
                }
                Err(e) => {
                    r.first_error.get_or_insert(format!("read: {e}"));
                    break 'batches;
                }
            }
        }
    }
    r.seconds = start.elapsed().as_secs_f64();
    r.calls_per_s = r.answered as f64 / r.seconds.max(1e-9);
    Ok(r)
}

/// Starts mcpbench-server over TCP on a free loopback port; its target, the
/// process (stopped when dropped) and its command line.
async fn start_ours(
    plan: &PipelinePlan,
    bins: &Binaries,
) -> Result<(Target, Proc, String), LoadError> {
    let mut args: Vec<String> = ["--listen", "127.0.0.1:0", "--exit-on-stdin-eof"]
        .map(String::from)
        .into();
    args.extend(plan.server_args.split_whitespace().map(String::from));
    let mut p =
        Proc::spawn("server".into(), &bins.server, &args).map_err(|source| LoadError::Spawn {
            program: bins.server.clone(),
            source,
        })?;
    let child = |why: String| LoadError::Child {
        program: bins.server.display().to_string(),
        why,
    };
    let line = match tokio::time::timeout(START_LIMIT, p.lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        other => return Err(child(format!("did not say it was ready: {other:?}"))),
    };
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("tcp://"))
        .ok_or_else(|| child(format!("no tcp:// address in {line:?}")))?;
    let target: Target = url
        .parse()
        .map_err(|e| child(format!("{url:?} is not an address: {e}")))?;
    let command = std::iter::once(bins.server.display().to_string())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    Ok((target, p, command))
}

/// The Redis side: a redis-server on loopback TCP and the benchmark's commands.
struct RedisRun {
    _server: LocalRedis,
    version: String,
    /// `SET` of `--size` bytes (`-d`), the reference.
    command: Vec<String>,
    /// `GETSET mcpbench <--size bytes>`: the value in and the previous one out,
    /// as `echo` carries its text both ways.
    getset: Vec<String>,
}

impl RedisRun {
    fn start(plan: &PipelinePlan) -> Result<RedisRun, LoadError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| LoadError::Run(format!("no free loopback port for redis-server: {e}")))?
            .port();
        let server = LocalRedis::start_tcp(port).map_err(LoadError::Unreachable)?;
        let version = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| format!("unknown ({e})"));
        let common: Vec<String> = [
            "redis-benchmark".to_string(),
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-c".into(),
            "1".into(),
            "-P".into(),
            plan.depth.to_string(),
            "-n".into(),
            plan.calls_per_round().to_string(),
            "--csv".into(),
        ]
        .to_vec();
        let mut command = common.clone();
        command.extend([
            "-d".into(),
            plan.size.to_string(),
            "-t".into(),
            "set".into(),
        ]);
        let mut getset = common;
        getset.extend(["GETSET".into(), "mcpbench".into(), "a".repeat(plan.size)]);
        Ok(RedisRun {
            _server: server,
            version,
            command,
            getset,
        })
    }

    /// One run of `command`: the requests/s of its `test` row.
    async fn bench(&self, command: &[String], test: &str) -> Result<f64, LoadError> {
        let out = tokio::process::Command::new(&command[0])
            .args(&command[1..])
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(ROUND_LIMIT, out)
            .await
            .map_err(|_| {
                LoadError::Run(format!("redis-benchmark took longer than {ROUND_LIMIT:?}"))
            })?
            .map_err(|e| {
                LoadError::Unreachable(if e.kind() == std::io::ErrorKind::NotFound {
                    "redis-benchmark is not installed (Debian: apt-get install redis-tools)".into()
                } else {
                    format!("cannot run redis-benchmark: {e}")
                })
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(LoadError::Run(format!(
                "redis-benchmark failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        rps(&text, test).ok_or_else(|| {
            LoadError::Run(format!(
                "redis-benchmark printed no {test} row in its CSV: {text:?}"
            ))
        })
    }
}

/// The `rps` of the row of `redis-benchmark --csv`'s output whose test is
/// `test` (a custom command's row is named by its whole command line).
fn rps(csv: &str, test: &str) -> Option<f64> {
    csv.lines().find_map(|line| {
        let mut cells = line.split("\",\"").map(|c| c.trim().trim_matches('"'));
        let name = cells.next()?;
        (name == test || name.starts_with(&format!("{test} "))).then_some(())?;
        cells.next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_benchmarks_csv_is_read_by_its_set_row() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\"\n\"SET\",\"182648.39\",\"0.119\"\n\"GET\",\"273224.03\",\"0.137\"\n";
        assert_eq!(rps(csv, "SET"), Some(182648.39));
        assert_eq!(rps(csv, "GET"), Some(273224.03));
        assert_eq!(rps("\"test\",\"rps\"\n\"GET\",\"1\"\n", "SET"), None);
        assert_eq!(rps("\"SET\",\"fast\"\n", "SET"), None);
        // A custom command's row: named by its command line, commas and all.
        let custom = "\"GETSET mcpbench a,b\",\"187793.42\",\"0.3\"\n";
        assert_eq!(rps(custom, "GETSET"), Some(187793.42));
        assert_eq!(rps(custom, "GET"), None);
    }

    #[test]
    fn the_request_carries_exactly_size_bytes_of_text() {
        let line = request_line(4096);
        let v: serde_json::Value = serde_json::from_slice(&line).expect("JSON");
        assert_eq!(
            v["params"]["arguments"]["text"].as_str().map(str::len),
            Some(4096)
        );
        assert_eq!(v["params"]["name"], "echo");
    }
}

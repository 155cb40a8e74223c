//! Where results go and how a result is printed: the default results folder, the
//! JSON writer, the one-line summary and the exit code a result earns.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mcpbench_files::ConnectionsFile;

use crate::error::LoadError;
use crate::verdict::failures;

/// `$CARGO_TARGET_DIR/mcpbench`, else the workspace's `target/mcpbench`: where
/// the report reads results.
pub fn default_dir() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    mcpbench_files::results_dir(&workspace)
}

/// Shard `index`'s file in `dir`: where a shard writes and the merge reads.
pub fn shard_file(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("shard-{index}.json"))
}

/// Writes `result` to `path` (and prints it).
pub fn write_file(path: &Path, result: &ConnectionsFile) -> Result<(), LoadError> {
    let text = mcpbench_files::write_json(path, result, false)?;
    println!("{text}");
    Ok(())
}

/// The one-line summary printed last.
pub fn summary(r: &ConnectionsFile) -> String {
    let ms = |ns: u64| ns as f64 / 1e6;
    let (c, m, l, p) = (&r.connections, &r.messages, &r.latency_ns, &r.phases_ns);
    let bytes = |b: Option<f64>| b.map_or("unknown".to_string(), |b| format!("{b:.0} B"));
    let memory = match &r.server_memory {
        Some(mem) => format!(
            "server heap {} per idle connection, RSS {:.0} MB; after every connection closed: {} sessions left, {} per connection retained",
            bytes(mem.bytes_per_idle_connection),
            mem.rss_bytes_idle as f64 / 1e6,
            mem.sessions_after_close,
            bytes(mem.retained_bytes_per_connection_after_close),
        ),
        None => match &r.server_rss {
            Some(rss) => format!(
                "server RSS {:.0} MB idle, {} per idle connection, {} per connection still held after close (RSS, kernel view)",
                rss.idle as f64 / 1e6,
                bytes(rss.per_connection_idle),
                bytes(rss.per_connection_after),
            ),
            None => "server memory not read (a server this run did not start; --server-pid reads its RSS)".into(),
        },
    };
    format!(
        "load: summary: {}/{} connections ({} failed) in {:.1} s ({:.0}/s; connect p99 {:.2} ms, {} p99 {:.2} ms, tools/list p99 {:.2} ms); \
         calls due {}, sent {}, answered {}, lost {} ({} error replies, {} unanswered), not sent {}; \
         {} connections had every call answered, {} did not; \
         {:.0} msg/s answered during the {} s of {:.0} requested, replies {} each on average (measured); latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms over {} calls, {} of them counted at the deadline (target P99 <= 15 ms); \
         sessions: {} handshake, {} stateless, {} deleted, {} delete failed; {} connections reopened after the server closed them; {memory}",
        c.established,
        r.requested.connections,
        c.failed,
        c.connect_s,
        c.connect_per_s,
        ms(p.connect.p99),
        if r.sessions.stateless > 0 && r.sessions.handshake == 0 {
            "discover"
        } else {
            "initialize"
        },
        ms(p.handshake.p99),
        ms(p.tools_list.p99),
        m.due,
        m.sent,
        m.answered,
        m.lost,
        m.error_replies,
        m.unanswered,
        m.not_sent_too_late,
        r.per_connection.every_call_answered,
        r.per_connection.some_call_not_answered,
        m.achieved_per_s,
        r.requested.duration_s,
        m.requested_per_s,
        bytes(m.reply_bytes_mean),
        ms(l.p50),
        ms(l.p99),
        ms(l.p999),
        ms(l.max),
        l.count,
        l.censored,
        r.sessions.handshake,
        r.sessions.stateless,
        r.sessions.deleted,
        r.sessions.delete_failed,
        c.reopened,
    )
}

/// Prints why `result` failed, if it did; the exit code says which.
pub fn verdict(result: &ConnectionsFile) -> ExitCode {
    let why = failures(result);
    for reason in &why {
        eprintln!("mcpbench-load: FAILED: {reason}");
    }
    if why.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A server of an experiment could not be started (not installed, exited at
/// once): the exit code of `compare`, `capacity`, `lifecycle` and `scaling`.
pub const EXIT_NOT_RUN: u8 = 3;

/// Writes `file` as JSON to `out` and `table` beside it (`.md`), then prints the
/// table.
pub fn write_with_table(
    out: &Path,
    file: &impl serde::Serialize,
    table: &str,
    what: &str,
) -> Result<(), LoadError> {
    mcpbench_files::write_json(out, file, false)?;
    let md = out.with_extension("md");
    std::fs::write(&md, table).map_err(|e| LoadError::io("write", &md, e))?;
    println!("{what}: wrote {} and {}", out.display(), md.display());
    print!("{table}");
    Ok(())
}

//! The table of `compare.json`: a row per server.

use mcpbench_files::compare::{CompareFile, Outcome};

/// One row per server: established, answered vs requested, latency, memory.
pub fn compare(f: &CompareFile) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n{} connections per server, {} calls/s each for {} s, protocol {}; open-loop latency from the intended send time, every due call counted; memory is the server process's RSS (kernel view).\n",
        f.connections, f.rate_per_connection, f.duration_s, f.protocol
    );
    let _ = writeln!(
        o,
        "| server | outcome | established / failed | answered/s (of requested) | lost | p50 | p99 | p99.9 | RSS idle | RSS per connection | still held per connection after close | reopened | errors |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let ms = |ns: u64| format!("{:.2} ms", ns as f64 / 1e6);
    let b = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0} B"));
    for s in &f.servers {
        let outcome = match s.outcome {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::NotRun => "not run",
            Outcome::NotServed => "not served",
        };
        // Rows of a run over each generation name theirs.
        let name = match &s.protocol {
            Some(g) if *g != f.protocol => format!("{} ({g})", s.name),
            _ => s.name.clone(),
        };
        let why = if s.why.is_empty() {
            String::new()
        } else {
            s.why.join("; ")
        };
        match &s.result {
            Some(r) => {
                let (c, m, l) = (&r.connections, &r.messages, &r.latency_ns);
                let rss = r.server_rss.as_ref();
                let errors = r
                    .connections
                    .errors
                    .iter()
                    .map(|(k, n)| format!("{n}× {k}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let _ = writeln!(
                    o,
                    "| {name} | {outcome} | {} / {} | {:.0} ({:.0}) | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    c.established,
                    c.failed,
                    m.achieved_per_s,
                    m.requested_per_s,
                    m.lost,
                    ms(l.p50),
                    ms(l.p99),
                    ms(l.p999),
                    rss.map_or("—".into(), |r| format!("{:.0} MB", r.idle as f64 / 1e6)),
                    b(rss.and_then(|r| r.per_connection_idle)),
                    b(rss.and_then(|r| r.per_connection_after)),
                    c.reopened,
                    [errors, why]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "| {name} | {outcome} | — | — | — | — | — | — | — | — | — | — | {why} |"
                );
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use mcpbench_files::ConnectionsFile;
    use mcpbench_files::compare::CompareEntry;

    use mcpbench_files::compare::{COMPARE_SCHEMA, CompareFile, Outcome};

    use super::*;

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
                    protocol: None,
                    outcome: Outcome::Passed,
                    why: vec![],
                    crashed: false,
                    result: Some(ran),
                },
                CompareEntry {
                    name: "rmcp".into(),
                    description: String::new(),
                    command: vec![],
                    protocol: None,
                    outcome: Outcome::NotRun,
                    why: vec!["rmcp is not installed".into()],
                    crashed: false,
                    result: None,
                },
            ],
        };
        let t = compare(&f);
        assert!(t.contains("| mcpbench | passed | 2000 / 0 |"), "{t}");
        assert!(t.contains("| 1000 B | 250 B | 0 |"), "{t}");
        assert!(
            t.contains("| rmcp | not run |") && t.contains("rmcp is not installed"),
            "{t}"
        );
    }
}

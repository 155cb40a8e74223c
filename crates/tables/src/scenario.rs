//! The table of `scenario.json` (`mcpbench-load run`): a row per operation, the
//! sessions, the generator's cost and each threshold.

use mcpbench_files::scenario::{OperationRun, ScenarioFile};

/// `text` fit for one Markdown table cell: a server's error text or tool name
/// may hold `|` or a line break.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// One row per operation and one for all together; then sessions, thresholds
/// and tools `--discover` skipped.
pub fn scenario(f: &ScenarioFile) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let stages = f
        .stages
        .iter()
        .map(|s| {
            format!(
                "{} s to {} connections at {} calls/s ({})",
                s.duration_s, s.connections, s.rate_per_connection, s.arrivals
            )
        })
        .collect::<Vec<_>>()
        .join(", then ");
    let churn = f
        .session_calls
        .map_or("one session per connection".into(), |n| {
            format!("a new session every {n} calls")
        });
    let _ = writeln!(
        o,
        "\n{} ({}): {stages}; {churn}. Open-loop latency from each call's due time.\n",
        f.target, f.protocol
    );
    let _ = writeln!(
        o,
        "| operation | weight | sent | answered | errors | lost | not sent | p50 | p95 | p99 | max | most frequent error |"
    );
    let _ = writeln!(
        o,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let ms = |ns: u64| format!("{:.2} ms", ns as f64 / 1e6);
    let row = |o: &mut String, r: &OperationRun, weight: String| {
        let l = &r.latency_ns;
        let _ = writeln!(
            o,
            "| {} | {weight} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&r.label),
            r.sent,
            r.answered,
            r.error_replies,
            r.lost,
            r.not_sent,
            ms(l.p50),
            ms(l.p95),
            ms(l.p99),
            ms(l.max),
            r.errors
                .first()
                .map_or(String::new(), |e| format!("{}× {}", e.count, cell(&e.why)))
        );
    };
    for r in &f.operations {
        row(&mut o, r, r.weight.to_string());
    }
    row(&mut o, &f.overall, String::new());
    let s = &f.sessions;
    let _ = writeln!(
        o,
        "\n{:.1} answered calls/s. Sessions: {} opened (p50 {}, p99 {} to open), {} failed, {} deleted, {} DELETE refused{}.",
        f.achieved_per_s,
        s.opened,
        ms(s.open_latency_ns.p50),
        ms(s.open_latency_ns.p99),
        s.failed,
        s.deleted,
        s.delete_failed,
        s.errors.first().map_or(String::new(), |e| format!(
            " (most frequent failure: {}× {})",
            e.count, e.why
        ))
    );
    let g = &f.generator;
    let us = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.1} µs"));
    let _ = writeln!(
        o,
        "Generator: {:.2} s of CPU on {} thread(s), divided by the calls sent: {}, by the sessions opened: {}; at most {} sessions open at once; requests went out {} (p50) / {} (p99) after their due time (waiting for the previous reply on their connection, or the generator late).",
        g.cpu_s,
        g.threads,
        us(g.cpu_us_per_call),
        us(g.cpu_us_per_session),
        g.peak_connections,
        ms(g.send_lag_ns.p50),
        ms(g.send_lag_ns.p99)
    );
    if !f.thresholds.is_empty() {
        let _ = writeln!(o, "\nThresholds:\n");
        for t in &f.thresholds {
            let seen = t
                .observed
                .map_or("nothing to judge".into(), |v| format!("{v:.3} {}", t.unit));
            let _ = writeln!(
                o,
                "- {} `{}`: {seen}",
                if t.passed { "met" } else { "**FAILED**" },
                t.expr
            );
        }
    }
    let skipped: Vec<String> = f
        .discovered
        .iter()
        .filter_map(|t| {
            t.skipped
                .as_ref()
                .map(|why| format!("- `{}`: {why}", t.name))
        })
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(
            o,
            "\nTools skipped by --discover:\n\n{}",
            skipped.join("\n")
        );
    }
    o
}

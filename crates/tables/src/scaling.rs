//! The table of `scaling.json`: a row per server and count.

use mcpbench_files::lifecycle::ScalingFile;

/// A row per server and count.
pub fn scaling(f: &ScalingFile) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nScaling: concurrent sessions {} per server, {} calls/s each for {} s, protocol {}; a server stops at its first failure.\n",
        f.counts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        f.rate_per_connection,
        f.duration_s,
        f.protocol
    );
    let _ = writeln!(
        o,
        "| server | sessions | outcome | established | p99 | RSS per session | why |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    for s in &f.servers {
        for (e, p) in s.points.iter().zip(s.points()) {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                s.name,
                p.count,
                if p.passed { "passed" } else { "failed" },
                p.established,
                p.p99_ns
                    .map_or("—".into(), |v| format!("{:.2} ms", v as f64 / 1e6)),
                p.rss_per_connection
                    .map_or("—".into(), |v| format!("{v:.0} B")),
                e.why.join("; ")
            );
        }
        if s.points.is_empty() {
            let _ = writeln!(
                o,
                "| {} | — | not run | — | — | — | {} |",
                s.name,
                s.stopped.clone().unwrap_or_default()
            );
        }
    }
    o
}

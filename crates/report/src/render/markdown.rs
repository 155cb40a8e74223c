//! `report.md`: the evaluated report as Markdown.

use std::fmt::Write;

use mcpbench_files::ConnectionsFile;
use mcpbench_files::latency::LatencyFile;

use crate::compare::{Verdict, human_ns};
use crate::evaluate::Report;
use crate::format::human_rate;
use crate::inputs::Run;

/// The findings of `run` as Markdown. `chart` is the file name of the SVG to embed.
pub fn markdown(r: &Report, run: &Run, chart: Option<&str>) -> String {
    let mut o = String::new();
    let e = &r.environment;
    let _ = writeln!(o, "# mcpbench report\n");
    let _ = writeln!(
        o,
        "Made {} at commit `{}` on {} ({} cores), {}, {}.\n",
        e.date, e.git_commit, e.cpu_model, e.cores, e.os, e.rustc
    );
    o.push_str(
        "How these figures were obtained: throughput is operations over wall-clock time (Criterion's typical time per iteration: \
         the slope estimate where there is one, else the mean, with its 95% confidence interval); latency percentiles come from every \
         sample in an HdrHistogram, with the sample count and the method beside them; ceilings are the raw library operation measured \
         in the same run. Targets come from `baselines/targets.toml`, applied as written.\n\n",
    );
    if !r.missing.is_empty() {
        let _ = writeln!(
            o,
            "**Missing from this run:** {}\n",
            r.missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    o.push_str("## Executive metrics\n\n| Metric | Value | Target | Status |\n|---|---|---|---|\n");
    for row in &r.executive {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            row.metric,
            row.value,
            row.target,
            row.status.cell()
        );
    }
    if let Some(chart) = chart {
        let _ = writeln!(
            o,
            "\n![Throughput of each test's headline bench against its ceiling, the target and the erlmcp report's published figure]({chart})\n"
        );
    }
    for (n, t) in r.tests.iter().enumerate() {
        let _ = writeln!(
            o,
            "\n## Test {}: {} — {}\n",
            n + 1,
            t.title,
            t.status.cell()
        );
        if let (Some(h), Some(ops)) = (&t.headline, t.ops_per_s) {
            let _ = writeln!(o, "Headline: `{h}` at **{}**.", human_rate(ops, None));
        }
        if let Some(seed) = t.seed_ops_per_s {
            let ours = t
                .ops_per_s
                .map_or("—".into(), |ops| format!("{:.2}× its figure", ops / seed));
            let _ = writeln!(
                o,
                "The erlmcp report published {} for this test ({ours}); {}",
                human_rate(seed, None),
                t.seed_note
                    .as_deref()
                    .unwrap_or("see docs/erlmcp-report.md")
            );
        }
        if !t.benches.is_empty() {
            o.push_str("\n| bench | throughput (95% CI) | time/iter | samples | p50 | p95 | p99 | p99.9 | max | latency samples, method | vs ceiling | vs baseline |\n");
            o.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n");
            for b in &t.benches {
                let m = &b.measured;
                let rate = match (b.per_second, m.per_second_ci()) {
                    (Some(r), Some((lo, hi))) => format!(
                        "{} ({}–{})",
                        human_rate(r, m.unit),
                        human_rate(lo, m.unit),
                        human_rate(hi, m.unit)
                    ),
                    _ => "—".into(),
                };
                let lat = |f: fn(&LatencyFile) -> u64| {
                    b.latency
                        .as_ref()
                        .map_or("—".into(), |l| human_ns(f(l) as f64))
                };
                let method = b.latency.as_ref().map_or("—".into(), |l| {
                    format!("{} ({}, {})", l.count, l.method, l.load)
                });
                let ceiling = b.ceiling.as_ref().map_or("—".into(), |c| {
                    let weak = match (c.too_weak, &c.note) {
                        (true, Some(_)) => ", above its ceiling (explained below)",
                        (true, None) => ", ceiling too weak",
                        _ => "",
                    };
                    format!("{:.2}× (≥ {:.2}) {}{weak}", c.ratio, c.min, c.status.cell())
                });
                let unstable = b.unstable_spread_pct.map_or(String::new(), |p| {
                    format!(" (unstable: run-to-run spread {p:.0}%)")
                });
                let change = match (b.baseline_change_pct, b.baseline_verdict) {
                    (Some(c), Some(v)) => format!(
                        "{c:+.1}% {}",
                        if v == Verdict::Regression {
                            "REGRESSION"
                        } else {
                            ""
                        }
                    ),
                    (None, Some(Verdict::Added)) => "new".into(),
                    _ => "—".into(),
                };
                let _ = writeln!(
                    o,
                    "| `{}`{unstable} | {rate} | {} | {} | {} | {} | {} | {} | {} | {method} | {ceiling} | {change} |",
                    b.id,
                    human_ns(m.typical_ns),
                    m.samples,
                    lat(|l| l.p50),
                    lat(|l| l.p95),
                    lat(|l| l.p99),
                    lat(|l| l.p999),
                    lat(|l| l.max)
                );
            }
        }
        if t.name == "memory"
            && let Some(m) = &run.memory
        {
            o.push_str("\n| component | items (N) | live before | live after teardown | residue at N / 2N | leak per item | bytes per item | RSS after (context) |\n|---|---:|---:|---:|---:|---:|---|---:|\n");
            for c in &m.components {
                let per: Vec<String> = c
                    .bytes_per_item
                    .iter()
                    .map(|(k, v)| format!("{v:.0} B/{} ({k})", c.item))
                    .collect();
                let _ = writeln!(
                    o,
                    "| `{}` | {} | {} B | {} B | {} B / {} | {} | {} | {:.1} MiB |",
                    c.id,
                    c.items,
                    c.before.live_bytes,
                    c.after.live_bytes,
                    c.leaked_bytes,
                    c.leaked_bytes_2n.map_or("—".into(), |b| format!("{b} B")),
                    c.leak_per_item.map_or("—".into(), |s| format!("{s:.2} B")),
                    per.join("; "),
                    c.after.rss_bytes as f64 / 1048576.0
                );
            }
        }
        if t.name == "sustained"
            && let Some(s) = &run.sustained
        {
            let windows: Vec<String> = s
                .windows
                .iter()
                .map(|w| {
                    format!(
                        "{:.0}–{:.0} s: {}",
                        w.start_s,
                        w.end_s,
                        human_rate(w.ops_per_s, None)
                    )
                })
                .collect();
            let l = &s.latency;
            let _ = writeln!(
                o,
                "\n{} ops in {:.1} s by {} workers after {:.0} s of warm-up: **{}**. Windows: {} (spread {:.1}%). Per-op latency ({}, {}, {} samples): p50 {}, p95 {}, p99 {}, p99.9 {}, max {}. Live bytes {} B at the start, {} B at the end (workers parked both times); RSS {:.1} → {:.1} MiB.",
                s.ops,
                s.seconds,
                s.workers,
                s.warm_up_s,
                human_rate(s.ops_per_s, None),
                windows.join(", "),
                s.window_spread_pct,
                l.method,
                l.load,
                l.count,
                human_ns(l.p50 as f64),
                human_ns(l.p95 as f64),
                human_ns(l.p99 as f64),
                human_ns(l.p999 as f64),
                human_ns(l.max as f64),
                s.memory.live_bytes_start,
                s.memory.live_bytes_end,
                s.memory.rss_bytes_start as f64 / 1048576.0,
                s.memory.rss_bytes_end as f64 / 1048576.0
            );
        }
    }
    let columns: Vec<(&str, &ConnectionsFile)> = [
        ("mcpbench-server, TCP", run.connections.as_ref()),
        (
            "bare ceiling, TCP (`--server bare`)",
            run.connections_bare.as_ref(),
        ),
        ("mcpbench-server, HTTP", run.connections_http.as_ref()),
        (
            "bare ceiling, HTTP (hyper)",
            run.connections_http_bare.as_ref(),
        ),
    ]
    .into_iter()
    .filter_map(|(label, c)| c.map(|c| (label, c)))
    .collect();
    if !columns.is_empty() {
        connections_table(&mut o, &columns);
    }
    if let Some(c) = &run.capacity {
        o.push_str("\n## Capacity at the SLO (`scripts/load capacity`)\n");
        o.push_str(&mcpbench_tables::capacity(c));
    }
    if let Some(c) = &run.compare {
        o.push_str("\n## MCP servers side by side (`scripts/load compare`)\n");
        if chart.is_some() {
            o.push_str("\n![RSS per connection and p99 per server](servers.svg)\n");
        }
        o.push_str(&mcpbench_tables::compare(c));
    }
    if let Some(s) = &run.scaling {
        o.push_str("\n## Scaling (`scripts/load scaling`)\n");
        if chart.is_some() {
            o.push_str("\n![RSS per session and p99 against concurrent sessions](scaling.svg)\n");
        }
        o.push_str(&mcpbench_tables::scaling(s));
    }
    if let Some(l) = &run.lifecycle {
        o.push_str("\n## Session lifecycle (`scripts/load lifecycle`)\n");
        o.push_str(&mcpbench_tables::lifecycle(l));
    }
    if let Some(f) = &run.scenario {
        o.push_str("\n## Scenario (`scripts/load run`), per operation\n");
        o.push_str(&mcpbench_tables::scenario(f));
    }
    if !run.listen.is_empty() {
        o.push_str("\n## Server-to-client streams (`scripts/load listen`)\n");
        o.push_str(&mcpbench_tables::listens(&run.listen));
        o.push_str("\n![Delivery latency against listeners](fanout.svg)\n");
    }
    o.push_str("\n## Bottleneck\n\n");
    for line in &r.bottleneck {
        let _ = writeln!(o, "- {line}");
    }
    if let Some(b) = &r.baseline {
        let _ = writeln!(
            o,
            "\nChanges are against baseline `{b}` (typical time of one run each; a regression needs the threshold exceeded and the 95% intervals apart: a hint, not the gate's verdict, which `scripts/gate` reaches from interleaved rounds and instruction counts)."
        );
    }
    o
}

/// A horizontal bar chart (log scale) of each test's headline throughput, its
/// The connection loads (`scripts/load connections`): ours and the bare ceiling,
/// over each transport that ran, side by side, one row per figure.
fn connections_table(o: &mut String, columns: &[(&str, &ConnectionsFile)]) {
    let _ = write!(
        o,
        "\n## Concurrent connections (`scripts/load connections`)\n\n|"
    );
    for (label, _) in columns {
        let _ = write!(o, " | {label}");
    }
    let _ = write!(o, " |\n|---");
    for _ in columns {
        o.push_str("|---:");
    }
    o.push_str("|\n");
    fn ms(ns: u64) -> String {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
    type Cell = fn(&ConnectionsFile) -> String;
    let rows: [(&str, Cell); 15] = [
        ("connections requested", |c| {
            c.requested.connections.to_string()
        }),
        ("protocol", |c| c.requested.protocol.clone()),
        ("calls per connection per second, for", |c| {
            format!(
                "{} /s, {} s",
                c.requested.rate_per_connection, c.requested.duration_s
            )
        }),
        ("established / failed", |c| {
            format!("{} / {}", c.connections.established, c.connections.failed)
        }),
        ("connect time", |c| {
            format!(
                "{:.1} s ({:.0}/s)",
                c.connections.connect_s, c.connections.connect_per_s
            )
        }),
        ("answered in the run / requested", |c| {
            format!(
                "{:.0} / {:.0} msg/s",
                c.messages.achieved_per_s, c.messages.requested_per_s
            )
        }),
        ("due / sent / answered", |c| {
            format!(
                "{} / {} / {}",
                c.messages.due, c.messages.sent, c.messages.answered
            )
        }),
        ("lost (error replies + unanswered) / not sent", |c| {
            format!(
                "{} ({} + {}) / {}",
                c.messages.lost,
                c.messages.error_replies,
                c.messages.unanswered,
                c.messages.not_sent_too_late
            )
        }),
        ("connections with every call answered", |c| {
            c.per_connection.every_call_answered.to_string()
        }),
        ("latency p50 / p99 / p99.9 / max (open-loop)", |c| {
            let l = &c.latency_ns;
            format!(
                "{} / {} / {} / {}",
                ms(l.p50),
                ms(l.p99),
                ms(l.p999),
                ms(l.max)
            )
        }),
        ("latency samples (recorded at the deadline)", |c| {
            format!("{} ({})", c.latency_ns.count, c.latency_ns.censored)
        }),
        (
            "p99 of connect / initialize or discover / tools/list",
            |c| {
                let p = &c.phases_ns;
                format!(
                    "{} / {} / {}",
                    ms(p.connect.p99),
                    ms(p.handshake.p99),
                    ms(p.tools_list.p99)
                )
            },
        ),
        ("sessions deleted / DELETE failed", |c| {
            format!("{} / {}", c.sessions.deleted, c.sessions.delete_failed)
        }),
        (
            "server heap per idle connection (allocation-counted)",
            |c| {
                c.server_memory
                    .as_ref()
                    .and_then(|m| m.bytes_per_idle_connection)
                    .map_or("—".into(), |b| format!("{b:.0} B"))
            },
        ),
        ("sessions left after every connection closed", |c| {
            c.server_memory
                .as_ref()
                .map_or("—".into(), |m| m.sessions_after_close.to_string())
        }),
    ];
    for (label, cell) in rows {
        let _ = write!(o, "| {label}");
        for (_, c) in columns {
            let _ = write!(o, " | {}", cell(c));
        }
        o.push_str(" |\n");
    }
}

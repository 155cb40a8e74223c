//! `servers.svg` (the servers side by side: RSS per connection and p99, each on a
//! log scale), `scaling.svg` (RSS per session and p99 against the concurrent
//! sessions, one line per server, a cross where a server stopped) and
//! `fanout.svg` (delivery latency against the listeners held, one line per
//! server).

use std::fmt::Write;

use mcpbench_files::compare::CompareFile;
use mcpbench_files::lifecycle::ScalingFile;
use mcpbench_files::listen::ListenFile;

const COLORS: [&str; 7] = [
    "#2a7ab0", "#9cc3e0", "#c0504d", "#e0a050", "#6a9f58", "#8064a2", "#777777",
];

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A position on a log axis: `v` in `[lo, hi]` decades mapped to `[a, b]`.
fn log_pos(v: f64, (lo, hi): (f64, f64), (a, b): (f64, f64)) -> f64 {
    let d = v.max(f64::MIN_POSITIVE).log10().clamp(lo, hi);
    a + (d - lo) / (hi - lo) * (b - a)
}

/// The decades that hold every value (at least one).
fn decades(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v.log10().floor());
        hi = hi.max(v.log10().ceil());
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    (lo, if hi <= lo { lo + 1.0 } else { hi })
}

fn bytes(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1} MB", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} KB", v / 1e3)
    } else {
        format!("{v:.0} B")
    }
}

fn ms(ns: f64) -> String {
    format!("{:.2} ms", ns / 1e6)
}

/// Two panels of horizontal bars, one bar per server that ran.
pub fn servers(c: &CompareFile) -> String {
    let rows: Vec<(&str, Option<f64>, Option<f64>, bool)> = c
        .servers
        .iter()
        .map(|s| {
            let r = s.result.as_ref();
            (
                s.name.as_str(),
                r.and_then(|r| r.server_rss.as_ref())
                    .and_then(|m| m.per_connection_idle),
                r.filter(|r| r.latency_ns.count > 0)
                    .map(|r| r.latency_ns.p99 as f64),
                s.outcome == mcpbench_files::compare::Outcome::Passed,
            )
        })
        .collect();
    let (label_w, panel_w, row_h, top) = (150.0, 330.0, 22.0, 50.0);
    let width = label_w + 2.0 * panel_w + 40.0;
    let height = top + row_h * rows.len() as f64 + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{} connections per server, {} calls/s each: RSS per connection and p99 (log scales; hollow = the run failed)</text>"#,
        c.connections, c.rate_per_connection
    );
    let panels = [
        (
            "RSS per idle connection",
            decades(rows.iter().filter_map(|r| r.1)),
            0usize,
        ),
        (
            "p99 (open-loop)",
            decades(rows.iter().filter_map(|r| r.2)),
            1,
        ),
    ];
    for (title, range, k) in panels {
        let x0 = label_w + k as f64 * (panel_w + 20.0);
        let _ = writeln!(
            s,
            r#"<text x="{x0}" y="{}" font-weight="bold">{title}</text>"#,
            top - 10.0
        );
        for (i, (name, rss, p99, passed)) in rows.iter().enumerate() {
            let y = top + row_h * i as f64;
            if k == 0 {
                let _ = writeln!(s, r#"<text x="10" y="{}">{}</text>"#, y + 14.0, xml(name));
            }
            let value = if k == 0 { *rss } else { *p99 };
            let Some(v) = value else {
                let _ = writeln!(
                    s,
                    r##"<text x="{x0}" y="{}" fill="#999">no figure</text>"##,
                    y + 14.0
                );
                continue;
            };
            let w = log_pos(v, range, (0.0, panel_w - 70.0)).max(2.0);
            let color = COLORS[i % COLORS.len()];
            let fill = if *passed { color } else { "none" };
            let text = if k == 0 { bytes(v) } else { ms(v) };
            let _ = writeln!(
                s,
                r#"<rect x="{x0}" y="{}" width="{w:.1}" height="14" fill="{fill}" stroke="{color}"><title>{}: {text}</title></rect><text x="{:.1}" y="{}" font-size="10">{text}</text>"#,
                y + 3.0,
                xml(name),
                x0 + w + 4.0,
                y + 14.0
            );
        }
        let (lo, hi) = range;
        let _ = writeln!(
            s,
            r##"<text x="{x0}" y="{}" fill="#666" font-size="10">log scale, 1e{lo} … 1e{hi}</text>"##,
            height - 15.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// One point of a line: its x (a count), a value per panel, and whether the run
/// there passed (else a cross, titled with `why`).
struct LinePoint {
    x: u64,
    values: Vec<Option<f64>>,
    passed: bool,
    why: String,
}

/// A panel's title and how its values are written.
type Panel<'a> = (&'a str, fn(f64) -> String);

/// Line panels against a count on a log x axis, the values on log y axes; one
/// line per series through its passing points, a cross where one failed.
struct LineChart<'a> {
    title: String,
    x_label: &'a str,
    panels: Vec<Panel<'a>>,
    series: Vec<(String, Vec<LinePoint>)>,
}

fn line_chart(c: &LineChart) -> String {
    let mut counts: Vec<u64> = c
        .series
        .iter()
        .flat_map(|(_, ps)| ps.iter().map(|p| p.x))
        .collect();
    counts.sort_unstable();
    counts.dedup();
    let xs = decades(counts.iter().map(|&c| c as f64));
    let (left, panel_w, panel_h, top) = (70.0, 380.0, 260.0, 50.0);
    let n = c.panels.len() as f64;
    let width = left + n * (panel_w + 60.0) + 200.0;
    let height = top + panel_h + 70.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        xml(&c.title)
    );
    for (k, (title, fmt)) in c.panels.iter().enumerate() {
        let x0 = left + k as f64 * (panel_w + 60.0);
        let pick = |p: &LinePoint| p.values.get(k).copied().flatten();
        let ys = decades(
            c.series
                .iter()
                .flat_map(|(_, ps)| ps.iter().filter_map(pick)),
        );
        let x = |v: f64| log_pos(v, xs, (x0, x0 + panel_w));
        let y = |v: f64| log_pos(v, ys, (top + panel_h, top));
        let _ = writeln!(
            s,
            r##"<text x="{x0}" y="{}" font-weight="bold">{title}</text><rect x="{x0}" y="{top}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#ccc"/>"##,
            top - 10.0
        );
        for &count in &counts {
            let xc = x(count as f64);
            let _ = writeln!(
                s,
                r##"<line x1="{xc:.1}" y1="{top}" x2="{xc:.1}" y2="{}" stroke="#eee"/><text x="{xc:.1}" y="{}" text-anchor="middle" fill="#666" font-size="10">{count}</text>"##,
                top + panel_h,
                top + panel_h + 14.0
            );
        }
        let (lo, hi) = ys;
        for d in (lo as i32)..=(hi as i32) {
            let v = 10f64.powi(d);
            let yv = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" y1="{yv:.1}" x2="{}" y2="{yv:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end" fill="#666" font-size="10">{}</text>"##,
                x0 + panel_w,
                x0 - 4.0,
                yv + 3.0,
                fmt(v)
            );
        }
        for (i, (name, points)) in c.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let path: Vec<String> = points
                .iter()
                .filter(|p| p.passed)
                .filter_map(|p| pick(p).map(|v| format!("{:.1},{:.1}", x(p.x as f64), y(v))))
                .collect();
            if !path.is_empty() {
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"><title>{}</title></polyline>"#,
                    path.join(" "),
                    xml(name)
                );
            }
            for p in points {
                let Some(v) = pick(p) else { continue };
                let (px, py) = (x(p.x as f64), y(v));
                if p.passed {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{color}"><title>{} at {}: {}</title></circle>"#,
                        xml(name),
                        p.x,
                        fmt(v)
                    );
                } else {
                    let _ = writeln!(
                        s,
                        r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="{color}" font-size="14">×<title>{} failed at {} ({}): {}</title></text>"#,
                        py + 5.0,
                        xml(name),
                        p.x,
                        xml(&p.why),
                        fmt(v)
                    );
                }
            }
        }
    }
    for (i, (name, _)) in c.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let ly = top + 16.0 * i as f64;
        let lx = left + n * (panel_w + 60.0);
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{ly}" width="12" height="3" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            lx + 16.0,
            ly + 5.0,
            xml(name)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="{}" fill="#666" font-size="11">{} (log scale)</text>"##,
        height - 12.0,
        xml(c.x_label)
    );
    s.push_str("</svg>\n");
    s
}

/// Two line panels against the session count (log x): RSS per session and p99.
pub fn scaling(f: &ScalingFile) -> String {
    let series = f
        .servers
        .iter()
        .map(|s| {
            let points = s
                .points()
                .into_iter()
                .map(|p| LinePoint {
                    x: p.count,
                    values: vec![p.rss_per_connection, p.p99_ns.map(|v| v as f64)],
                    passed: p.passed,
                    why: format!("{} established", p.established),
                })
                .collect();
            (s.name.clone(), points)
        })
        .collect();
    line_chart(&LineChart {
        title: format!(
            "Concurrent sessions, {} calls/s each: RSS per session and p99 (log scales; × = the server failed there)",
            f.rate_per_connection
        ),
        x_label: "concurrent sessions",
        panels: vec![("RSS per session", bytes), ("p99 (open-loop)", ms)],
        series,
    })
}

/// `fanout.svg`: delivery p50, p99 and max against the listeners held (log
/// scales), one line per server (and bus, and generation) over every `listen`
/// result; a cross where a run missed deliveries or could not open every listener.
pub fn fanout(files: &[ListenFile]) -> String {
    let mut series: Vec<(String, Vec<LinePoint>)> = Vec::new();
    for f in files {
        let name = match &f.bus {
            Some(bus) => format!("{} ({bus} bus), {}", f.name, f.protocol),
            None => format!("{}, {}", f.name, f.protocol),
        };
        let d = &f.delivery_ns;
        let point = LinePoint {
            x: f.listeners,
            values: [d.p50, d.p99, d.max]
                .map(|v| (d.count > 0).then_some(v as f64))
                .to_vec(),
            passed: f.missed == 0 && f.failed == 0,
            why: format!("{} missed, {} not opened", f.missed, f.failed),
        };
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, points)) => points.push(point),
            None => series.push((name, vec![point])),
        }
    }
    for (_, points) in &mut series {
        points.sort_by_key(|p| p.x);
    }
    line_chart(&LineChart {
        title: "Updates fanned out to every listener: delivery latency from the trigger's due time (log scales; × = deliveries missed)".into(),
        x_label: "listeners held",
        panels: vec![("p50", ms), ("p99", ms), ("max", ms)],
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpbench_files::compare::{CompareEntry, Outcome};
    use mcpbench_files::lifecycle::{SCALING_SCHEMA, ScalingEntry};
    use mcpbench_files::{ConnectionsFile, ServerRss};

    fn run(count: u64, per: f64, passed: bool) -> CompareEntry {
        let mut r = ConnectionsFile::example();
        r.requested.connections = count;
        r.connections.established = if passed { count } else { count / 2 };
        r.server_rss = Some(ServerRss {
            pid: 1,
            before: 0,
            idle: (per * count as f64) as u64,
            after: 0,
            per_connection_idle: Some(per),
            per_connection_after: None,
            processes: 1,
        });
        CompareEntry {
            name: "x".into(),
            description: String::new(),
            command: vec![],
            protocol: None,
            outcome: if passed {
                Outcome::Passed
            } else {
                Outcome::Failed
            },
            why: vec![],
            crashed: false,
            result: Some(r),
        }
    }

    #[test]
    fn the_scaling_chart_draws_a_line_per_server_and_a_cross_where_it_failed() {
        let f = ScalingFile {
            schema: SCALING_SCHEMA.into(),
            counts: vec![1000, 10_000, 100_000],
            rate_per_connection: 0.05,
            duration_s: 10.0,
            protocol: "2025-11-25".into(),
            servers: vec![
                ScalingEntry {
                    name: "mcpbench".into(),
                    description: String::new(),
                    points: vec![run(1000, 2600.0, true), run(100_000, 2000.0, true)],
                    stopped: None,
                },
                ScalingEntry {
                    name: "python<sdk>".into(),
                    description: String::new(),
                    points: vec![run(1000, 46_000.0, true), run(10_000, 50_000.0, false)],
                    stopped: Some("at 10000".into()),
                },
            ],
        };
        let svg = scaling(&f);
        assert_eq!(svg.matches("<polyline").count(), 4, "2 servers × 2 panels");
        assert_eq!(svg.matches('×').count(), 3, "title + one cross per panel");
        assert!(svg.contains("python&lt;sdk&gt; failed at 10000 (5000 established)"));
        assert!(svg.contains("mcpbench at 100000: 2.0 KB"));
    }

    #[test]
    fn the_servers_chart_has_a_bar_per_server_and_figure() {
        let mut c = CompareFile {
            schema: mcpbench_files::compare::COMPARE_SCHEMA.into(),
            connections: 1000,
            rate_per_connection: 1.0,
            duration_s: 10.0,
            protocol: "2025-11-25".into(),
            servers: vec![run(1000, 2600.0, true), run(1000, 104_000.0, false)],
        };
        c.servers[1].name = "typescript".into();
        c.servers[1].result = None;
        let svg = servers(&c);
        assert_eq!(
            svg.matches("<rect x=").count(),
            2,
            "one server ran: two bars"
        );
        assert_eq!(svg.matches("no figure").count(), 2);
        assert!(svg.contains("x: 2.6 KB"), "{svg}");
    }
}

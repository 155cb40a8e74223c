//! `throughput.svg`: each headline against its ceiling, the target and the erlmcp
//! report's figure.

use std::fmt::Write;

use crate::evaluate::{Report, TestBlock};
use crate::format::human_rate;
use crate::targets::Targets;

/// ceiling, and the seed's figure, with the target as a line.
pub fn svg(r: &Report, targets: &Targets) -> String {
    let rows: Vec<(&TestBlock, f64, Option<f64>)> = r
        .tests
        .iter()
        .filter_map(|t| {
            let ours = t.ops_per_s?;
            let ceiling = t
                .benches
                .iter()
                .find(|b| Some(&b.id) == t.headline.as_ref())
                .and_then(|b| b.ceiling.as_ref())
                .map(|c| ours / c.ratio);
            Some((t, ours, ceiling))
        })
        .collect();
    let (left, width, row_h, top) = (230.0, 820.0, 54.0, 40.0);
    let (lo, hi) = (3.0f64, 9.0f64); // 1K/s .. 1G/s
    let x =
        |v: f64| left + (v.max(1.0).log10().clamp(lo, hi) - lo) / (hi - lo) * (width - left - 20.0);
    let height = top + row_h * rows.len() as f64 + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Headline throughput, ops/s (log scale)</text>"#
    );
    for p in 3..=9 {
        let xp = x(10f64.powi(p));
        let _ = writeln!(
            s,
            r##"<line x1="{xp}" y1="{top}" x2="{xp}" y2="{}" stroke="#ddd"/><text x="{xp}" y="{}" text-anchor="middle" fill="#666">1e{p}</text>"##,
            height - 30.0,
            height - 15.0
        );
    }
    for (i, (t, ours, ceiling)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}">{}</text>"#,
            y + 22.0,
            xml(&t.title)
        );
        let bars = [
            ("#2a7ab0", Some(*ours), "ours"),
            ("#9cc3e0", *ceiling, "ceiling"),
            ("#e0a050", t.seed_ops_per_s, "erlmcp report"),
        ];
        for (j, (color, value, label)) in bars.iter().enumerate() {
            if let Some(v) = value {
                let yb = y + 6.0 + 14.0 * j as f64;
                let _ = writeln!(
                    s,
                    r#"<rect x="{left}" y="{yb}" width="{:.1}" height="12" fill="{color}"><title>{label}: {}</title></rect><text x="{:.1}" y="{}" font-size="10">{label} {}</text>"#,
                    x(*v) - left,
                    human_rate(*v, None),
                    x(*v) + 4.0,
                    yb + 10.0,
                    human_rate(*v, None)
                );
            }
        }
    }
    let xt = x(targets.min_ops_per_s);
    let _ = writeln!(
        s,
        r##"<line x1="{xt}" y1="{top}" x2="{xt}" y2="{}" stroke="#c00" stroke-dasharray="6,4"/><text x="{xt}" y="{}" fill="#c00" text-anchor="middle">target {}</text>"##,
        height - 30.0,
        top - 6.0,
        human_rate(targets.min_ops_per_s, None)
    );
    s.push_str("</svg>\n");
    s
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

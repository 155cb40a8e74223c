//! The table of `capacity.json`: a row per server.

use std::fmt::Write;

use mcpbench_files::capacity::{CapacityFile, CapacityStatus, VsBare};

/// One row per server: its capacity and the interval the search left it in, the
/// calls answered at that rate in each trial (median and range), its ratio to the
/// bare ceiling, the trials; then the rule.
pub fn capacity(f: &CapacityFile) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nCapacity at the SLO: {} connections, {} s per trial, protocol {}, the servers' trials interleaved. A trial passes when {}.\n",
        f.connections, f.duration_s, f.protocol, f.rule
    );
    if f.servers.iter().any(|s| s.name == "bare") {
        let _ = writeln!(
            o,
            "The bare ceiling (`mcpbench-server --bare`) answers every request with the same bytes, parsing nothing, and enforces none of the MCP server's guards (body limit, connection and session caps, deadlines, origin checks): the ratio to it includes their cost.\n"
        );
    }
    let _ = writeln!(
        o,
        "| server | status | calls/s per connection | interval | calls/s answered at it: median (range, trials) | vs bare ceiling | trials | why none |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    for s in &f.servers {
        let status = match s.status {
            CapacityStatus::Confirmed => "confirmed",
            CapacityStatus::Capped => "capped (lower bound)",
            CapacityStatus::NoPass => "no rate passed",
            CapacityStatus::Withdrawn => "withdrawn (no rate repeated)",
            CapacityStatus::NotRun => "not run",
            CapacityStatus::NotServed => "not served in this generation",
        };
        let rate = match (s.capacity_per_connection, s.lower_bound_per_connection) {
            (Some(r), _) => format!("{r:.4}"),
            (None, Some(r)) => format!("≥ {r:.4}"),
            _ => "—".into(),
        };
        let interval = match (s.capacity_per_connection, s.rejected_per_connection) {
            (Some(lo), Some(hi)) => format!("[{lo:.4}, {hi:.4})"),
            _ => "—".into(),
        };
        let answered = match median(&s.repeats_achieved_per_s) {
            Some(m) => {
                let lo = s
                    .repeats_achieved_per_s
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min);
                let hi = s.repeats_achieved_per_s.iter().copied().fold(0.0, f64::max);
                format!(
                    "{m:.0} ({lo:.0}–{hi:.0}, {} of {} passed)",
                    s.repeats_passed,
                    s.repeats_achieved_per_s.len()
                )
            }
            None => "—".into(),
        };
        let vs = match f.vs_bare(&s.name) {
            _ if s.name == "bare" => "—".into(),
            VsBare::Suspect(r) => {
                format!("{r:.3}× (above its ceiling: the ceiling's search is suspect; rerun)")
            }
            VsBare::Ratio(r) => format!("{r:.3}×"),
            VsBare::Capped => "— (a search was capped)".into(),
            VsBare::Unknown => "—".into(),
        };
        let _ = writeln!(
            o,
            "| {} | {status} | {rate} | {interval} | {answered} | {vs} | {} | {} |",
            s.name,
            s.trials.len(),
            s.why.join("; ")
        );
    }
    o
}

/// The median of `v`, `None` when empty.
fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

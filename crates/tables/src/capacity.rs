//! The table of `capacity.json`: a row per server.

use mcpbench_files::compare::{CapacityFile, VsBare};

/// One row per server: capacity, its spread over the repeats, its ratio to the
/// bare ceiling when that ran too.
pub fn capacity(f: &CapacityFile) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nCapacity at the SLO (every call answered, p99 ≤ {:.1} ms, open-loop): {} connections, {} s per trial, protocol {}.\n",
        f.slo_p99_ns as f64 / 1e6,
        f.connections,
        f.duration_s,
        f.protocol
    );
    let _ = writeln!(
        o,
        "| server | calls/s per connection | calls/s answered (repeats) | repeats passed | vs bare ceiling | trials | why none |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    for s in &f.servers {
        let repeats = s
            .repeats_achieved_per_s
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} of {} | {} | {} | {} |",
            s.name,
            s.capacity_per_connection.map_or("—".into(), |r| format!(
                "{}{r:.4}",
                if s.capped { "≥ " } else { "" }
            )),
            if repeats.is_empty() {
                "—".into()
            } else {
                repeats
            },
            s.repeats_passed,
            s.repeats_achieved_per_s.len(),
            match f.vs_bare(&s.name) {
                _ if s.name == "bare" => "—".into(),
                VsBare::Suspect(r) =>
                    format!("{r:.3}× (above its ceiling: the ceiling's search is suspect; rerun)"),
                VsBare::Ratio(r) => format!("{r:.3}×"),
                VsBare::Capped | VsBare::Unknown => "—".into(),
            },
            s.trials.len(),
            s.why.join("; ")
        );
    }
    o
}

//! The table of `listen.json` (`mcpbench-load listen`): listeners held, updates
//! delivered and missed, the delivery latency, and what each delivery cost.

use mcpbench_files::listen::ListenFile;

/// One row for the run, then its server's counts.
pub fn listen(f: &ListenFile) -> String {
    use std::fmt::Write;
    let ms = |ns: u64| format!("{:.1} ms", ns as f64 / 1e6);
    let us = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.1} us"));
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n{} at {} ({}): {} updates of `{}` at {}/s to every listener; latency from each trigger's due time (open-loop) to each receipt.\n",
        f.name, f.target, f.protocol, f.events, f.uri, f.events_per_s
    );
    let _ = writeln!(
        o,
        "| listeners held / asked | delivered / due | missed | streams ended early | p50 | p99 | max | control call p99 | heap per listener | server CPU per delivery | generator CPU per delivery |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|");
    let heap = f
        .server
        .as_ref()
        .and_then(|s| s.heap_per_listener_bytes)
        .map_or("—".into(), |b| format!("{b:.0} B"));
    let _ = writeln!(
        o,
        "| {} / {} | {} / {} | {} | {} | {} | {} | {} | {} | {heap} | {} | {} |",
        f.listeners,
        f.requested,
        f.delivered,
        f.expected,
        f.missed,
        f.streams_ended,
        ms(f.delivery_ns.p50),
        ms(f.delivery_ns.p99),
        ms(f.delivery_ns.max),
        ms(f.control_ns.p99),
        us(f.cost.server_us_per_delivery),
        us(f.cost.generator_us_per_delivery),
    );
    if let Some(s) = &f.server {
        let _ = writeln!(
            o,
            "\nThe server counted {} streams open with every listener held, {} closed for falling behind, {} updates published.",
            s.listeners, s.lagged, s.events_published
        );
    }
    o
}

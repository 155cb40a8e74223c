//! The table of `listen` results (`mcpbench-load listen`): listeners held,
//! updates delivered and missed, the delivery latency, and what each delivery
//! cost; a row per result.

use std::fmt::Write;

use mcpbench_files::listen::ListenFile;

/// The table of one result (as the load tool writes beside its `listen.json`).
pub fn listen(f: &ListenFile) -> String {
    listens(std::slice::from_ref(f))
}

/// One row per result, then each server's counts.
pub fn listens(files: &[ListenFile]) -> String {
    let ms = |ns: u64| format!("{:.1} ms", ns as f64 / 1e6);
    let us = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.1} us"));
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nUpdates of a resource triggered at a rate (`touch` calls) to every listener; latency from each trigger's due time (open-loop) to each receipt.\n"
    );
    let _ = writeln!(
        o,
        "| server | generation | updates (rate) | listeners held / asked | delivered / due | missed | streams ended early | p50 | p99 | max | control call p99 | heap per listener | server CPU per delivery | generator CPU per delivery |"
    );
    let _ = writeln!(
        o,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for f in files {
        let heap = f
            .server
            .as_ref()
            .and_then(|s| s.heap_per_listener_bytes)
            .map_or("—".into(), |b| format!("{b:.0} B"));
        let _ = writeln!(
            o,
            "| {} | {} | {} ({}/s) | {} / {} | {} / {} | {} | {} | {} | {} | {} | {} | {heap} | {} | {} |",
            server(f),
            f.protocol,
            f.events,
            f.events_per_s,
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
    }
    for f in files {
        if let Some(s) = &f.server {
            let _ = writeln!(
                o,
                "\n{} with {} listeners: the server counted {} streams open with every listener held, {} closed for falling behind, {} updates published.",
                server(f),
                f.listeners,
                s.listeners,
                s.lagged,
                s.events_published
            );
        }
    }
    o
}

/// The server's name, its bus when its processes shared one, and a target's URL.
fn server(f: &ListenFile) -> String {
    let mut name = f.name.clone();
    if let Some(bus) = &f.bus {
        let _ = write!(name, " ({bus} bus)");
    }
    if f.name == "target" {
        let _ = write!(name, " {}", f.target);
    }
    name
}

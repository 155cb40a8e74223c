//! The tests judged from their own result files: memory, sustained, connections.

use super::{Ctx, ExecRow, Out, Status, TestBlock};
use crate::criterion::Unit;
use crate::format::{human_rate, ms};

/// Test 6: leaks by allocation counting, the slope between N and 2N items.
pub(super) fn memory(c: &Ctx, block: &mut TestBlock, out: &mut Out) {
    match &c.run.memory {
        None => out.missing.push("target/mcpbench/memory.json".into()),
        Some(m) => {
            let leaking: Vec<String> = m
                .components
                .iter()
                .filter(|comp| comp.leaks(c.targets.max_leak_per_item_bytes))
                .map(|comp| match comp.leak_per_item {
                    Some(slope) => format!("{} ({slope:.2} B per {})", comp.id, comp.item),
                    None => format!("{} ({} B)", comp.id, comp.leaked_bytes),
                })
                .collect();
            block.status = Status::of(leaking.is_empty() && !m.components.is_empty());
            out.executive.push(ExecRow {
                metric: "Leaks (allocation-counted, after teardown)".into(),
                value: if leaking.is_empty() {
                    format!("none in {} components", m.components.len())
                } else {
                    leaking.join(", ")
                },
                target: format!(
                    "≤ {} B kept per item (N vs 2N items)",
                    c.targets.max_leak_per_item_bytes
                ),
                status: block.status,
            });
        }
    }
}

/// Test 8: the sustained run, its throughput, latency and memory growth.
pub(super) fn sustained(c: &Ctx, block: &mut TestBlock, out: &mut Out) {
    match &c.run.sustained {
        None => out.missing.push("target/mcpbench/sustained.json".into()),
        Some(s) => {
            block.ops_per_s = Some(s.ops_per_s);
            let growth_ok = s.memory.live_bytes_delta <= c.targets.max_sustained_growth_bytes;
            block.status = Status::of(s.ops_per_s >= c.targets.min_ops_per_s && growth_ok)
                .and(c.latency_status(&s.latency));
            out.executive.push(ExecRow {
                metric: format!(
                    "System throughput (sustained {:.0} s, {} workers)",
                    s.seconds, s.workers
                ),
                value: human_rate(s.ops_per_s, Some(Unit::Elements)),
                target: format!("≥ {}", human_rate(c.targets.min_ops_per_s, None)),
                status: Status::of(s.ops_per_s >= c.targets.min_ops_per_s),
            });
            out.executive.push(ExecRow {
                metric: "Sustained memory growth (allocation-counted)".into(),
                value: format!("{} B", s.memory.live_bytes_delta),
                target: format!("≤ {} B", c.targets.max_sustained_growth_bytes),
                status: Status::of(growth_ok),
            });
        }
    }
}

/// The connection load (`scripts/load connections`): every connection opened and answered, p99, heap per idle connection.
pub(super) fn connections(cx: &Ctx, block: &mut TestBlock, out: &mut Out) {
    match &cx.run.connections {
        None => out
            .missing
            .push("target/mcpbench/connections.json (scripts/load connections)".into()),
        Some(c) => {
            let mut status = Status::of(c.all_answered());
            let requested = c.requested.connections;
            let established = c.connections.established;
            let m = &c.messages;
            // The same load against the bare ceiling, when it ran with the same plan.
            let ceiling = cx
                .run
                .connections_bare
                .as_ref()
                .filter(|b| b.requested.connections == requested)
                .map_or(String::new(), |b| {
                    format!(
                        " (bare ceiling, same load: {} msg/s)",
                        b.messages.achieved_per_s.round()
                    )
                });
            out.executive.push(ExecRow {
        metric: "Concurrent MCP connections, actually opened (`scripts/load`)".into(),
        value: format!(
            "{established} of {requested}; {} msg/s answered of {} requested{ceiling}; {} lost, {} not sent; every call answered on {} connections",
            m.achieved_per_s.round(),
            m.requested_per_s.round(),
            m.lost,
            m.not_sent_too_late,
            c.per_connection.every_call_answered
        ),
        target: "all, each answered, none lost".into(),
        status: Status::of(c.all_answered()),
    });
            let (p99, count) = (c.latency_ns.p99, c.latency_ns.count);
            out.executive.push(ExecRow {
                metric: "P99 latency under the connection load (open-loop)".into(),
                value: format!("{} ({count} samples)", ms(p99)),
                target: format!("≤ {}", ms(cx.targets.max_p99_ns)),
                status: if count == 0 {
                    Status::NoData
                } else {
                    Status::of(p99 <= cx.targets.max_p99_ns)
                },
            });
            if let Some(max) = cx.targets.max_bytes_per_idle_connection {
                let per = c
                    .server_memory
                    .as_ref()
                    .and_then(|m| m.bytes_per_idle_connection);
                out.executive.push(ExecRow {
                    metric: "Server heap per idle connection (allocation-counted)".into(),
                    value: per.map_or("—".into(), |b| format!("{b:.0} B")),
                    target: format!("≤ {max:.0} B"),
                    status: per.map_or(Status::NoData, |b| Status::of(b <= max)),
                });
            }

            block.ops_per_s = Some(c.messages.achieved_per_s);
            status = status.and(Status::of(
                c.latency_ns.count > 0 && c.latency_ns.p99 <= cx.targets.max_p99_ns,
            ));
            if let (Some(max), Some(per)) = (
                cx.targets.max_bytes_per_idle_connection,
                c.server_memory
                    .as_ref()
                    .and_then(|m| m.bytes_per_idle_connection),
            ) {
                status = status.and(Status::of(per <= max));
            }
            block.status = status;
        }
    }
}

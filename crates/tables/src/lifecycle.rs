//! The tables of `lifecycle.json`: one per scenario, a row per server.

use mcpbench_files::lifecycle::LifecycleFile;

use crate::{mb, share};

/// One table per scenario, a row per server.
pub fn lifecycle(f: &LifecycleFile) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nSession lifecycle, {} sessions per scenario (protocol 2025-11-25), each scenario on a fresh server process; idle expiry set to {} s where the server has the setting; watched for {} s after the sessions ended. RSS is the kernel's view (allocators keep freed pages, so it is an upper bound of what is held).\n",
        f.sessions, f.idle_s, f.wait_s
    );
    let _ = writeln!(
        o,
        "| server | idle expiry | scenario | established | RSS before → idle → end of wait | added RSS still held | probes with old ids | forgotten after | notes |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
    for s in &f.servers {
        let idle = if s.idle_flags.is_empty() {
            format!("none settable (default: {})", s.default_idle)
        } else {
            s.idle_flags.join(" ")
        };
        for (scenario, w) in [("DELETE", &s.deleted), ("abandon", &s.abandoned)] {
            let Some(w) = w else { continue };
            let r = w.run.result.as_ref();
            let rss = r.and_then(|r| r.server_rss.as_ref());
            let (gone, asked) = w.forgotten();
            let last = w.samples.iter().rev().find_map(|s| s.rss);
            let _ = writeln!(
                o,
                "| {} | {idle} | {scenario} | {} | {} → {} → {} | {} | {gone} of {asked} answered 404 | {} | {} |",
                s.name,
                r.map_or("—".into(), |r| format!(
                    "{} / {}",
                    r.connections.established, r.requested.connections
                )),
                mb(rss.map(|r| r.before)),
                mb(rss.map(|r| r.idle)),
                mb(last),
                share(w.still_held()),
                match w.first_forgotten() {
                    Some(t) => match w.last_known_before(t) {
                        Some(k) => format!("{k:.0}–{t:.0} s"),
                        None if t == 0.0 => "at once".into(),
                        None => format!("≤ {t:.0} s"),
                    },
                    None if asked > 0 => format!("not within {} s", f.wait_s),
                    None => "—".into(),
                },
                w.run.why.join("; ")
            );
        }
    }
    let _ = writeln!(
        o,
        "\nPast the session cap: {} sessions opened against a cap of {} where the server has one.\n",
        f.sessions, f.cap
    );
    let _ = writeln!(
        o,
        "| server | cap | established / failed | what the others got | sessions served meanwhile | crashed |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for s in &f.servers {
        let Some(c) = &s.past_cap else { continue };
        let r = c.run.result.as_ref();
        let errors = r
            .map(|r| {
                r.connections
                    .errors
                    .iter()
                    .map(|(k, n)| format!("{n}× {k}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            s.name,
            c.cap.map_or("no setting".into(), |c| c.to_string()),
            r.map_or("—".into(), |r| format!(
                "{} / {}",
                r.connections.established, r.connections.failed
            )),
            if errors.is_empty() {
                if r.is_some() {
                    "nothing refused".into()
                } else {
                    c.run.why.join("; ")
                }
            } else {
                errors
            },
            r.map_or("—".into(), |r| format!(
                "{} of {} calls answered",
                r.messages.answered, r.messages.due
            )),
            if c.run.crashed { "yes" } else { "no" }
        );
    }
    o
}

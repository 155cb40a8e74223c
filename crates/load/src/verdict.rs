//! The exit policy: a run passes when every connection was established, every due
//! call answered, nothing lost, no session outlived its connection, and every
//! process reported. A function of the result file, so it is tested case by case.

use mcpbench_files::ConnectionsFile;

/// Why a run failed, one reason per broken promise; empty when it passed.
pub fn failures(r: &ConnectionsFile) -> Vec<String> {
    let (c, m) = (&r.connections, &r.messages);
    let mut why = Vec::new();
    if c.established < r.requested.connections {
        why.push(format!(
            "{} of {} connections established ({} failed)",
            c.established, r.requested.connections, c.failed
        ));
    }
    if m.lost > 0 {
        why.push(format!(
            "{} calls lost ({} error replies, {} unanswered)",
            m.lost, m.error_replies, m.unanswered
        ));
    }
    if m.not_sent_too_late > 0 {
        why.push(format!("{} calls due were never sent", m.not_sent_too_late));
    }
    if m.answered < m.sent && m.lost == 0 {
        why.push(format!("{} calls sent, {} answered", m.sent, m.answered));
    }
    if r.per_connection.some_call_not_answered > 0 {
        why.push(format!(
            "{} connections had a call unanswered",
            r.per_connection.some_call_not_answered
        ));
    }
    if r.unfinished_clients > 0 {
        why.push(format!(
            "{} client processes never reported their end",
            r.unfinished_clients
        ));
    }
    if r.sessions.delete_failed > 0 {
        why.push(format!(
            "{} sessions could not be ended with DELETE",
            r.sessions.delete_failed
        ));
    }
    // A server we started must be left with no session, unless they were
    // abandoned on purpose (then what it holds for them is the measurement).
    if let Some(mem) = &r.server_memory {
        if mem.sessions_after_close > 0 && !r.requested.abandon {
            why.push(format!(
                "{} sessions outlived their connections",
                mem.sessions_after_close
            ));
        }
        if mem.servers_unreadable > 0 {
            why.push(format!(
                "{} servers gave no readable stats reply (sessions left unknown)",
                mem.servers_unreadable
            ));
        }
    }
    // A merged run: which shard broke its promise, and whether their loads
    // overlapped (a shard that starts late measures a different load).
    for s in r.shards.iter().flat_map(|m| &m.each) {
        if s.established < s.connections {
            why.push(format!(
                "shard {} ({}): {} of {} connections failed",
                s.index,
                s.host,
                s.connections - s.established,
                s.connections
            ));
        }
        if s.start_offset_ns > LATE_START_NS {
            why.push(format!(
                "shard {} ({}) started {:.1} s after the common start {} (it was still connecting): give the shards more time before --start-at",
                s.index,
                s.host,
                s.start_offset_ns as f64 / 1e9,
                r.shards.as_ref().map_or("", |m| m.start_at.as_str()),
            ));
        }
    }
    why
}

/// How late a shard may start its calls (its offset from the common start).
pub const LATE_START_NS: i64 = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(r: &mut ConnectionsFile) -> &mut mcpbench_files::ServerMemory {
        r.server_memory
            .as_mut()
            .expect("the example has server memory")
    }

    #[test]
    fn a_complete_run_passes() {
        assert!(failures(&ConnectionsFile::example()).is_empty());
    }

    #[test]
    fn abandoned_sessions_and_unread_servers_do_not_fail_a_run() {
        let mut r = ConnectionsFile::example();
        r.requested.abandon = true;
        mem(&mut r).sessions_after_close = 2000;
        assert!(failures(&r).is_empty(), "abandoned on purpose");
        r.server_memory = None;
        assert!(failures(&r).is_empty(), "a server we did not start");
    }

    #[test]
    fn each_broken_promise_fails_the_run_by_name() {
        type Break = fn(&mut ConnectionsFile);
        let cases: [(&str, Break); 9] = [
            ("established", |r| {
                r.connections.established -= 1;
                r.connections.failed += 1;
            }),
            ("lost", |r| {
                r.messages.lost = 1;
                r.messages.unanswered = 1;
            }),
            ("never sent", |r| r.messages.not_sent_too_late = 1),
            ("answered", |r| r.messages.answered -= 1),
            ("a call unanswered", |r| {
                r.per_connection.some_call_not_answered = 1;
            }),
            ("never reported", |r| r.unfinished_clients = 1),
            ("outlived", |r| mem(r).sessions_after_close = 2),
            ("no readable stats", |r| mem(r).servers_unreadable = 1),
            ("DELETE", |r| r.sessions.delete_failed = 1),
        ];
        for (word, break_it) in cases {
            let mut r = ConnectionsFile::example();
            break_it(&mut r);
            let why = failures(&r);
            assert_eq!(why.len(), 1, "{word}: {why:?}");
            assert!(why[0].contains(word), "{word}: {why:?}");
        }
    }
}

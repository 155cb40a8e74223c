//! `mcpbench-load merge SHARD_FILES...`: the shards of one run into one result.
//! The same function merges the local processes of every `connections` run, so
//! this path is exercised by every load, not only by distributed ones.
//!
//! Checks before anything is added: every file is a shard of the same run (the
//! same request, shard count and start), each index 0..N-1 is there exactly once,
//! each slice is the one its index owns. Then the histograms are added (exact:
//! HdrHistogram buckets, never an average of percentiles), the counters summed,
//! and the verdict evaluated once, on the merged result.

use crate::error::LoadError;
use std::path::PathBuf;
use std::process::ExitCode;

use mcpbench_files::shard::{MergedShards, ShardFile, ShardRun, ShardSummary};
use mcpbench_files::{
    CONNECTIONS_SCHEMA, Connections, ConnectionsFile, Messages, OpenLoopLatency, PerConnection,
    Phases, Processes, Sessions,
};

use crate::cli::{MergePlan, ShardSpec};
use crate::counters::{Merged, Step};

/// Runs `merge`; exit 0 when the merged run passed, 1 when it failed, 2 when the
/// shards cannot be merged.
pub fn run(plan: MergePlan) -> ExitCode {
    let shards = match read(&plan.files) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mcpbench-load: merge: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match merge(&shards) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcpbench-load: merge: {e}");
            return ExitCode::from(2);
        }
    };
    let out = plan
        .out
        .unwrap_or_else(|| crate::output::default_dir().join("connections-merged.json"));
    if let Err(e) = crate::output::write_file(&out, &result) {
        eprintln!("mcpbench-load: merge: {e}");
        return ExitCode::from(2);
    }
    println!(
        "merge: {} shards of {} connections → {}",
        shards.len(),
        result.requested.connections,
        out.display()
    );
    println!("{}", crate::output::summary(&result));
    crate::output::verdict(&result)
}

/// Reads every shard file (or pod log), naming the one that cannot be read.
pub fn read(paths: &[PathBuf]) -> Result<Vec<(String, ShardFile)>, LoadError> {
    paths
        .iter()
        .map(|p| {
            ShardFile::load(p)
                .map(|s| (p.display().to_string(), s))
                .map_err(LoadError::File)
        })
        .collect()
}

/// Merges `shards` (each with the name its errors use) into one result, after
/// checking they are all of one run and all there.
pub fn merge(shards: &[(String, ShardFile)]) -> Result<ConnectionsFile, LoadError> {
    let Some((first_name, first)) = shards.first() else {
        return Err(LoadError::Run("no shard file given".into()));
    };
    let run = &first.run;
    for (name, s) in shards {
        if let Some(why) = other_run(run, &s.run) {
            return Err(LoadError::Run(format!(
                "{name} is a shard of another run: {why} where {first_name} has the other"
            )));
        }
    }
    let n = run.shards;
    let mut by_index: Vec<Option<usize>> = vec![None; n as usize];
    for (i, (name, s)) in shards.iter().enumerate() {
        let slot = &mut by_index[s.index as usize];
        if let Some(j) = *slot {
            return Err(LoadError::Run(format!(
                "{} and {name} are both shard {} of {n}",
                shards[j].0, s.index
            )));
        }
        *slot = Some(i);
        let spec = ShardSpec {
            index: s.index,
            of: n,
        };
        let (start, count) = spec.slice(run.requested.connections);
        if (s.first_connection, s.connections) != (start, count) {
            return Err(LoadError::Run(format!(
                "{name}: shard {spec} holds connections {}..{}, not its slice {start}..{}",
                s.first_connection,
                s.first_connection + s.connections,
                start + count
            )));
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|i| by_index[*i as usize].is_none())
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(LoadError::Run(format!(
            "shard {} of {n} missing (no file for it: it failed or never reported); a merge needs every shard",
            missing.join(", ")
        )));
    }
    let ordered: Vec<&(String, ShardFile)> =
        by_index.iter().flatten().map(|&i| &shards[i]).collect();
    let files: Vec<ShardFile> = ordered.iter().map(|(_, s)| s.clone()).collect();
    let merged = Merged::of(&files, |i| ordered[i].0.clone())?;
    Ok(connections_file(run, &merged, &files))
}

/// Why `b` is not of the run `a` describes (the first field that differs).
fn other_run(a: &ShardRun, b: &ShardRun) -> Option<String> {
    if a == b {
        return None;
    }
    if a.start_at != b.start_at {
        return Some(format!("start_at {:?}", b.start_at));
    }
    if a.shards != b.shards {
        return Some(format!("{} shards", b.shards));
    }
    let (ra, rb) = (
        serde_json::to_value(&a.requested).unwrap_or_default(),
        serde_json::to_value(&b.requested).unwrap_or_default(),
    );
    let field = ra
        .as_object()
        .and_then(|o| o.iter().find(|(k, v)| rb.get(k.as_str()) != Some(v)))
        .map(|(k, _)| k.clone())
        .unwrap_or_default();
    Some(format!(
        "requested.{field} {}",
        rb.get(&field).map(|v| v.to_string()).unwrap_or_default()
    ))
}

/// The result of the merged shards of `run`.
fn connections_file(run: &ShardRun, m: &Merged, shards: &[ShardFile]) -> ConnectionsFile {
    let c = &m.counters;
    let r = &run.requested;
    let connect_s = shards.iter().map(|s| s.connect_s).fold(0.0, f64::max);
    let run_s = shards.iter().map(|s| s.run_s).fold(0.0, f64::max);
    ConnectionsFile {
        schema: CONNECTIONS_SCHEMA.to_string(),
        requested: r.clone(),
        processes: Processes {
            servers: 0,
            clients: shards.len() as u64,
            per_process: shards.iter().map(|s| s.connections).max().unwrap_or(0),
            open_file_limit: shards.iter().map(|s| s.open_file_limit).min().unwrap_or(0),
        },
        connections: Connections {
            established: c.connected,
            failed: c.failed,
            errors: m.errors.clone(),
            connect_s,
            connect_per_s: c.connected as f64 / connect_s.max(1e-9),
            reopened: c.reconnects,
        },
        messages: Messages {
            due: c.due,
            sent: c.sent,
            answered: c.answered,
            lost: c.lost(),
            error_replies: c.error_replies,
            unanswered: c.unanswered,
            not_sent_too_late: c.not_sent,
            answered_in_run: c.answered_in_run,
            achieved_per_s: c.answered_in_run as f64 / r.duration_s,
            answered_per_s_with_grace: c.answered as f64 / run_s.max(1e-9),
            requested_per_s: c.connected as f64 * r.rate_per_connection,
            reply_bytes_mean: (c.answered > 0).then(|| c.reply_bytes as f64 / c.answered as f64),
        },
        per_connection: PerConnection {
            every_call_answered: c.fully_answered,
            some_call_not_answered: c.short,
            no_call_due: c.no_calls_due,
        },
        latency_ns: OpenLoopLatency {
            method: "per-op, open-loop (from the intended send time); calls with no reply by the run's end + 10 s, or never sent, counted at that deadline (lower bounds); failed calls (error reply, broken connection) have no latency".into(),
            count: m.latency.len(),
            censored: c.censored,
            p50: m.quantile(0.5),
            p99: m.quantile(0.99),
            p999: m.quantile(0.999),
            max: m.latency.max(),
        },
        latency_windows: m.latency_windows(),
        phases_ns: Phases {
            connect: m.step(Step::Connect),
            handshake: m.step(Step::Handshake),
            tools_list: m.step(Step::ToolsList),
        },
        sessions: Sessions {
            handshake: c.handshake,
            stateless: c.stateless,
            deleted: c.deleted,
            delete_failed: c.delete_failed,
        },
        server_memory: None,
        server_rss: None,
        unfinished_clients: shards.iter().filter(|s| !s.complete).count() as u64,
        shards: Some(MergedShards {
            start_at: run.start_at.clone(),
            each: shards
                .iter()
                .map(|s| ShardSummary {
                    index: s.index,
                    host: s.host.clone(),
                    connections: s.connections,
                    established: s.counters.connected,
                    lost: s.counters.lost(),
                    start_offset_ns: s.start_offset_ns,
                    complete: s.complete,
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use mcpbench_files::shard::{EncodedHistograms, SHARD_SCHEMA, encode_histogram};
    use mcpbench_files::{Requested, ServerKind, Transport};

    use super::*;
    use crate::counters::{Counters, histogram};
    use crate::verdict::failures;
    use mcpbench_files::latency::window_histogram;

    fn run(shards: u64) -> ShardRun {
        ShardRun {
            requested: Requested {
                connections: 10,
                rate_per_connection: 1.0,
                duration_s: 3.0,
                result_bytes: 4096,
                server: ServerKind::External,
                transport: Transport::Http,
                target: "http://10.0.0.1:8000/mcp".into(),
                protocol: "2025-11-25".into(),
                tool: "text".into(),
                arguments: "{}".into(),
                abandon: false,
            },
            shards,
            start_at: "2026-12-03T12:00:00.000000000Z".into(),
        }
    }

    /// Shard `index` of `of` over 10 connections, with these call latencies.
    fn shard(index: u64, of: u64, samples: &[u64]) -> (String, ShardFile) {
        let (first, connections) = ShardSpec { index, of }.slice(10);
        let mut h = histogram();
        // Window 0 holds the calls under 5 ms, window 1 the others (as if the
        // slow ones were due in the second second).
        let mut windows = [window_histogram(), window_histogram()];
        for &v in samples {
            h.record(v).unwrap();
            windows[usize::from(v > 5_000_000)].record(v).unwrap();
        }
        let empty = encode_histogram(&histogram());
        let file = ShardFile {
            schema: SHARD_SCHEMA.into(),
            run: run(of),
            index,
            host: format!("host-{index}"),
            first_connection: first,
            connections,
            open_file_limit: 20_000,
            connect_s: 1.0 + index as f64,
            start_offset_ns: 0,
            run_s: 3.5,
            complete: true,
            counters: Counters {
                connected: connections,
                sent: samples.len() as u64,
                answered: samples.len() as u64,
                due: samples.len() as u64,
                fully_answered: connections,
                ..Counters::default()
            },
            errors: Default::default(),
            histograms: EncodedHistograms {
                calls: encode_histogram(&h),
                connect: empty.clone(),
                handshake: empty.clone(),
                tools_list: empty,
                windows: windows.iter().map(encode_histogram).collect(),
                window_ms: 1_000,
            },
        };
        (format!("shard-{index}.json"), file)
    }

    #[test]
    fn samples_split_over_shards_give_the_percentiles_of_one_histogram() {
        // 10,000 known samples, 1 us .. 10 ms, dealt unevenly over three shards:
        // one has the slow fifth.
        let all: Vec<u64> = (1..=10_000u64).map(|i| i * 1_000).collect();
        let mut one = histogram();
        for &v in &all {
            one.record(v).unwrap();
        }
        let parts = [
            all.iter()
                .copied()
                .filter(|v| *v > 8_000_000)
                .collect::<Vec<_>>(),
            all.iter()
                .copied()
                .filter(|v| *v <= 8_000_000 && v % 2_000 == 0)
                .collect(),
            all.iter()
                .copied()
                .filter(|v| *v <= 8_000_000 && v % 2_000 == 1_000)
                .collect(),
        ];
        let shards: Vec<_> = (0..3).map(|i| shard(i, 3, &parts[i as usize])).collect();
        let merged = merge(&shards).unwrap();
        let l = &merged.latency_ns;
        assert_eq!(l.count, 10_000);
        assert_eq!(l.p50, one.value_at_quantile(0.5));
        assert_eq!(l.p99, one.value_at_quantile(0.99));
        assert_eq!(l.p999, one.value_at_quantile(0.999));
        assert_eq!(l.max, one.max());
        // An average of the shards' p99s is not the p99 of the run.
        let mean_p99 = parts
            .iter()
            .map(|p| {
                let mut h = histogram();
                p.iter().for_each(|&v| h.record(v).unwrap());
                h.value_at_quantile(0.99)
            })
            .sum::<u64>()
            / 3;
        assert_ne!(mean_p99, l.p99);
        // Each window is the sum of the shards' same window.
        let w = &merged.latency_windows;
        assert_eq!(w.window_ms, 1_000);
        let slow: Vec<u64> = all.iter().copied().filter(|v| *v > 5_000_000).collect();
        let mut second = window_histogram();
        slow.iter().for_each(|&v| second.record(v).unwrap());
        assert_eq!(w.windows.len(), 2);
        assert_eq!(w.windows[0].count + w.windows[1].count, 10_000);
        assert_eq!(w.windows[1].count, slow.len() as u64);
        assert_eq!(
            w.windows[1].p99,
            second.median_equivalent(second.value_at_quantile(0.99))
        );
        assert_eq!(
            w.within(6_000_000, 1),
            (1, 2),
            "only the fast window is within 6 ms"
        );
        assert_eq!(merged.connections.established, 10);
        assert_eq!(merged.messages.answered, 10_000);
        assert_eq!(merged.connections.connect_s, 3.0, "the slowest shard");
        let each = &merged.shards.as_ref().unwrap().each;
        assert_eq!(each.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(failures(&merged).is_empty(), "{:?}", failures(&merged));
    }

    #[test]
    fn a_missing_duplicate_or_foreign_shard_is_refused_by_name() {
        let e = merge(&[shard(0, 3, &[]), shard(2, 3, &[])]).unwrap_err();
        assert!(e.to_string().contains("shard 1 of 3 missing"), "{e}");
        let e = merge(&[shard(0, 2, &[]), shard(1, 2, &[]), shard(1, 2, &[])]).unwrap_err();
        assert!(e.to_string().contains("both shard 1 of 2"), "{e}");
        let mut other = shard(1, 2, &[]);
        other.0 = "late.json".into();
        other.1.run.start_at = "2026-12-03T13:00:00.000000000Z".into();
        let e = merge(&[shard(0, 2, &[]), other]).unwrap_err();
        assert!(
            e.to_string()
                .contains("late.json is a shard of another run: start_at"),
            "{e}"
        );
        let mut other = shard(1, 2, &[]);
        other.1.run.requested.rate_per_connection = 2.0;
        let e = merge(&[shard(0, 2, &[]), other]).unwrap_err();
        assert!(
            e.to_string().contains("requested.rate_per_connection 2.0"),
            "{e}"
        );
        let e = merge(&[shard(0, 2, &[]), shard(1, 3, &[])]).unwrap_err();
        assert!(e.to_string().contains("3 shards"), "{e}");
        let mut bent = shard(1, 2, &[]);
        bent.1.first_connection = 4;
        let e = merge(&[shard(0, 2, &[]), bent]).unwrap_err();
        assert!(e.to_string().contains("not its slice 5..10"), "{e}");
        let mut broken = shard(1, 2, &[]);
        broken.1.histograms.calls = "AAAA".into();
        let e = merge(&[shard(0, 2, &[]), broken]).unwrap_err();
        assert!(
            e.to_string().contains("shard-1.json: histograms.calls"),
            "{e}"
        );
        assert!(
            merge(&[])
                .unwrap_err()
                .to_string()
                .contains("no shard file")
        );
    }

    #[test]
    fn the_verdict_names_a_shard_that_failed_or_started_late() {
        let mut failed = shard(1, 2, &[1_000]);
        failed.1.counters.connected = 2;
        failed.1.counters.failed = 3;
        failed.1.counters.fully_answered = 2;
        let mut late = shard(0, 2, &[1_000]);
        late.1.start_offset_ns = 2_500_000_000;
        let merged = merge(&[late, failed]).unwrap();
        let why = failures(&merged).join("\n");
        assert!(why.contains("7 of 10 connections established"), "{why}");
        assert!(
            why.contains("shard 1 (host-1): 3 of 5 connections failed"),
            "{why}"
        );
        assert!(
            why.contains("shard 0 (host-0) started 2.5 s after"),
            "{why}"
        );
    }

    #[test]
    fn a_shard_file_and_a_pod_log_read_back() {
        let dir = std::env::temp_dir().join(format!("mcpbench-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (shard(0, 2, &[5_000]), shard(1, 2, &[7_000]));
        let file = dir.join("shard-0.json");
        std::fs::write(&file, serde_json::to_string(&a.1).unwrap()).unwrap();
        let log = dir.join("pod-1.log");
        let line = serde_json::to_string(&b.1).unwrap();
        std::fs::write(
            &log,
            format!("shard 1/2: connecting\nMCPBENCH-SHARD {line}\n"),
        )
        .unwrap();
        let merged = merge(&read(&[file.clone(), log]).unwrap()).unwrap();
        assert_eq!(merged.latency_ns.count, 2);
        let empty = dir.join("pod-2.log");
        std::fs::write(&empty, "shard 1/2: connecting\n").unwrap();
        let e = read(&[file, empty]).unwrap_err();
        assert!(
            e.to_string().contains("pod-2.log") && e.to_string().contains("did not finish"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

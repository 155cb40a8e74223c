//! The report, baseline and compare logic on a captured real run
//! (`tests/fixtures/run`), including every kind of bad input.

use std::path::{Path, PathBuf};

use mcpbench_files::ConnectionsFile;
use mcpbench_files::env::Environment;
use mcpbench_report::baseline::Baseline;
use mcpbench_report::criterion::read_run;
use mcpbench_report::inputs::Run;
use mcpbench_report::targets::Targets;
use mcpbench_report::{
    CompareOptions, ReportError, ReportPaths, compare_runs, evaluate, save_baseline, write_report,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A scratch copy of the fixture run, free to break.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// The paths of this scratch run, with the fixture's targets edited by `edit`
    /// and written beside it.
    fn paths_with_targets(&self, edit: impl FnOnce(String) -> String) -> ReportPaths {
        let mut paths = self.paths();
        paths.targets = self.dir.path().join("targets.toml");
        let targets = std::fs::read_to_string(fixtures().join("targets.toml")).unwrap();
        std::fs::write(&paths.targets, edit(targets)).unwrap();
        paths
    }

    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixtures().join("run"), dir.path());
        Scratch { dir }
    }
    fn criterion(&self) -> PathBuf {
        self.dir.path().join("criterion")
    }
    fn side(&self) -> PathBuf {
        self.dir.path().join("mcpbench")
    }
    fn baselines(&self) -> PathBuf {
        self.dir.path().join("baselines")
    }
    fn paths(&self) -> ReportPaths {
        ReportPaths {
            criterion: self.criterion(),
            side: self.side(),
            targets: fixtures().join("targets.toml"),
            out: self.dir.path().join("out"),
        }
    }
    /// Saves the scratch run as baseline `name`.
    fn save_baseline(&self, name: &str) {
        save_baseline(name, &self.criterion(), None, &self.baselines()).unwrap();
    }
    /// Compares baseline `base` with baseline `new`, or with the scratch run, at
    /// a 5% threshold and without a noise file.
    fn compare(&self, base: &str, new: Option<&str>) -> Result<(String, bool), ReportError> {
        compare_runs(
            base,
            new,
            &self.criterion(),
            &self.baselines(),
            &CompareOptions::threshold(5.0),
        )
    }
    fn edit_json(&self, rel: &str, f: impl FnOnce(&mut serde_json::Value)) {
        let path = self.dir.path().join(rel);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

#[test]
fn reads_every_bench_of_the_run_with_its_throughput() {
    let run = read_run(&fixtures().join("run/criterion")).unwrap();
    assert_eq!(run.len(), 7);
    let lookup = &run["registry/lookup/100k"];
    assert_eq!(lookup.per_iteration, Some(100_000));
    assert_eq!(
        lookup.estimator, "mean",
        "iter_custom benches have no slope"
    );
    assert!(lookup.ci_lower_ns <= lookup.typical_ns && lookup.typical_ns <= lookup.ci_upper_ns);
    assert_eq!(lookup.samples, 100);
    let rate = lookup.per_second().unwrap();
    assert!((rate - 100_000.0 / (lookup.typical_ns * 1e-9)).abs() < 1e-6 * rate);
}

#[test]
fn report_covers_every_test_and_writes_all_outputs() {
    let s = Scratch::new();
    let (report, md_path) = write_report(&s.paths(), None, 5.0).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    for title in [
        "Registry",
        "Queue",
        "Network I/O",
        "Memory",
        "Sustained",
        "Executive metrics",
        "Bottleneck",
    ] {
        assert!(md.contains(title), "report.md lacks {title}");
    }
    assert!(md.contains("![") && md.contains("throughput.svg"));
    assert_eq!(report.tests.len(), 5);
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let svg = std::fs::read_to_string(s.paths().out.join("throughput.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("target 95.0K/s"));
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.paths().out.join("bench-results.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"registry/lookup/100k") && names.contains(&"sustained/mix/200workers"));
    assert!(
        results
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["value"].as_f64().unwrap() > 0.0 && r["unit"].is_string())
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.paths().out.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["tests"].as_array().unwrap().len(), 5);
}

#[test]
fn targets_are_applied_as_written() {
    let s = Scratch::new();
    let run = Run::read(&s.criterion(), &s.side()).unwrap();
    let mut targets = Targets::load(&fixtures().join("targets.toml")).unwrap();
    let ops = run.benches["queue/push_pop/100k"].per_second().unwrap();
    // Exactly at the measured rate: met. A hair above: missed. No hidden factor.
    targets.min_ops_per_s = ops;
    let at = evaluate::evaluate(&run, &targets, None, 5.0, None, Environment::capture());
    let queue = at.tests.iter().find(|t| t.name == "queue").unwrap();
    assert_eq!(
        at.executive
            .iter()
            .find(|r| r.metric.contains("queue/push_pop"))
            .unwrap()
            .status,
        evaluate::Status::Pass
    );
    targets.min_ops_per_s = ops * 1.0001;
    let above = evaluate::evaluate(&run, &targets, None, 5.0, None, Environment::capture());
    assert_eq!(
        above
            .executive
            .iter()
            .find(|r| r.metric.contains("queue/push_pop"))
            .unwrap()
            .status,
        evaluate::Status::Fail
    );
    assert!(queue.benches.iter().any(|b| b.ceiling.is_some()));
}

#[test]
fn a_run_compared_with_itself_flags_nothing() {
    let s = Scratch::new();
    s.save_baseline("a");
    let (md, regressed) = s.compare("a", None).unwrap();
    assert!(!regressed, "{md}");
    assert!(md.contains("**0 regression(s)**"), "{md}");
    assert_eq!(md.matches("| no change |").count(), 7, "{md}");
}

/// Scales a bench's typical time and interval by `factor`.
fn slow_down(s: &Scratch, id: &str, factor: f64) {
    s.edit_json(&format!("criterion/{id}/new/estimates.json"), |v| {
        for est in ["mean", "median", "slope"] {
            let e = &mut v[est];
            if e.is_null() {
                continue;
            }
            e["point_estimate"] = (e["point_estimate"].as_f64().unwrap() * factor).into();
            for bound in ["lower_bound", "upper_bound"] {
                let b = &mut e["confidence_interval"][bound];
                *b = (b.as_f64().unwrap() * factor).into();
            }
        }
    });
}

#[test]
fn a_bench_made_20_percent_slower_is_the_only_regression() {
    let s = Scratch::new();
    s.save_baseline("base");
    slow_down(&s, "queue/push_pop/100k", 1.2);
    let (md, regressed) = s.compare("base", None).unwrap();
    assert!(regressed);
    assert!(md.contains("**1 regression(s)**"), "{md}");
    let line = md.lines().find(|l| l.contains("REGRESSION")).unwrap();
    assert!(
        line.contains("queue/push_pop/100k") && line.contains("+20.0%"),
        "{line}"
    );
    // The same comparison, baseline to baseline.
    s.save_baseline("slow");
    let (_, regressed) = s.compare("base", Some("slow")).unwrap();
    assert!(regressed);
    // Faster is shown, never failed.
    let (md, regressed) = s.compare("slow", Some("base")).unwrap();
    assert!(!regressed && md.contains("improvement"), "{md}");
}

#[test]
fn a_slowdown_within_the_intervals_is_noise() {
    let s = Scratch::new();
    s.save_baseline("base");
    // 6% slower than the base, but the netio intervals are wider than that.
    let before = read_run(&s.criterion()).unwrap()["netio/pingpong/zero_copy"].clone();
    let width = (before.ci_upper_ns - before.ci_lower_ns) / before.typical_ns;
    assert!(
        width > 0.06,
        "fixture interval too narrow for this test: {width}"
    );
    slow_down(&s, "netio/pingpong/zero_copy", 1.06);
    let (md, regressed) = s.compare("base", None).unwrap();
    assert!(!regressed, "{md}");
}

#[test]
fn a_bench_removed_from_the_new_side_fails_and_is_named() {
    let s = Scratch::new();
    s.save_baseline("base");
    std::fs::remove_dir_all(s.criterion().join("netio/codec_decode")).unwrap();
    let (md, regressed) = s.compare("base", None).unwrap();
    assert!(regressed, "a bench the new side lost fails the gate: {md}");
    assert!(md.contains("#### Missing on one side"), "{md}");
    assert!(
        md.lines()
            .any(|l| l.contains("netio/codec_decode/4KiB") && l.contains("REMOVED (only in base)")),
        "{md}"
    );
    assert!(
        md.contains("- `netio/codec_decode/4KiB`: the bench is in the base only"),
        "{md}"
    );
    // Removed on purpose: --allow-removed.
    let allow = CompareOptions {
        allow_removed: true,
        ..CompareOptions::threshold(5.0)
    };
    let (md, regressed) =
        compare_runs("base", None, &s.criterion(), &s.baselines(), &allow).unwrap();
    assert!(!regressed, "{md}");
    assert!(md.contains("allowed by --allow-removed"), "{md}");
}

fn expect_err(s: &Scratch) -> ReportError {
    match write_report(&s.paths(), None, 5.0) {
        Ok(_) => panic!("the report accepted bad input"),
        Err(e) => e,
    }
}

#[test]
fn truncated_criterion_file_is_named() {
    let s = Scratch::new();
    let path = s.criterion().join("queue/push_pop/100k/new/estimates.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let e = expect_err(&s);
    assert!(matches!(e, ReportError::Corrupt { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("queue/push_pop/100k/new/estimates.json"),
        "{e}"
    );
}

#[test]
fn missing_criterion_file_is_named() {
    let s = Scratch::new();
    std::fs::remove_file(s.criterion().join("registry/lookup/100k/new/sample.json")).unwrap();
    let e = expect_err(&s);
    assert!(matches!(e, ReportError::Missing { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("registry/lookup/100k/new/sample.json"),
        "{e}"
    );
}

#[test]
fn impossible_estimate_is_refused() {
    let s = Scratch::new();
    s.edit_json("criterion/registry/lookup/100k/new/estimates.json", |v| {
        v["mean"]["point_estimate"] = 0.0.into()
    });
    let e = expect_err(&s);
    assert!(
        matches!(e, ReportError::Invalid { .. }) && e.to_string().contains("registry/lookup/100k"),
        "{e}"
    );
}

#[test]
fn percentiles_out_of_order_are_refused() {
    let s = Scratch::new();
    s.edit_json("mcpbench/latency/queue/push_pop/100k.json", |v| {
        let p50 = v["p50"].as_u64().unwrap();
        v["p95"] = (p50 - 1).into();
    });
    let e = expect_err(&s);
    assert!(matches!(e, ReportError::Percentiles { .. }), "{e}");
    assert!(
        e.to_string().contains("p50") && e.to_string().contains("queue/push_pop/100k"),
        "{e}"
    );
}

#[test]
fn unknown_schema_is_refused() {
    let s = Scratch::new();
    s.edit_json("mcpbench/memory.json", |v| {
        v["schema"] = "mcpbench.memory/99".into()
    });
    let e = expect_err(&s);
    assert!(
        matches!(e, ReportError::Schema { .. }) && e.to_string().contains("memory.json"),
        "{e}"
    );
}

#[test]
fn no_run_at_all_says_so() {
    let s = Scratch::new();
    std::fs::remove_dir_all(s.criterion()).unwrap();
    let e = expect_err(&s);
    assert!(matches!(e, ReportError::NoResults(_)), "{e}");
    assert!(e.to_string().contains("scripts/bench"), "{e}");
}

#[test]
fn baseline_from_another_bench_set_is_refused() {
    let s = Scratch::new();
    let other = Baseline {
        schema: mcpbench_report::baseline::BASELINE_SCHEMA.into(),
        environment: mcpbench_files::env::Environment::capture(),
        benches: read_run(&s.criterion())
            .unwrap()
            .into_iter()
            .map(|(id, m)| (format!("elsewhere/{id}"), m))
            .collect(),
        instructions: Default::default(),
        allocations: Default::default(),
        memory: Default::default(),
    };
    std::fs::create_dir_all(s.baselines()).unwrap();
    mcpbench_report::baseline::save(&other, &s.baselines().join("other.json")).unwrap();
    let e = s.compare("other", None).unwrap_err();
    assert!(
        matches!(e, ReportError::ForeignBaseline { .. }) && e.to_string().contains("other.json"),
        "{e}"
    );
    std::fs::write(
        s.baselines().join("junk.json"),
        r#"{"schema":"something/1","benches":{}}"#,
    )
    .unwrap();
    let e = s.compare("junk", None).unwrap_err();
    assert!(matches!(e, ReportError::Schema { .. }), "{e}");
}

#[test]
fn a_missing_or_malformed_baseline_is_named_with_its_field() {
    let s = Scratch::new();
    let e = s.compare("absent", None).unwrap_err();
    assert!(
        matches!(e, ReportError::Missing { .. })
            && e.to_string().contains("absent.json")
            && e.to_string().contains("scripts/baseline save"),
        "{e}"
    );
    s.save_baseline("base");
    s.edit_json("baselines/base.json", |v| {
        v["benches"]["queue/push_pop/100k"]["samples"] = serde_json::json!("many")
    });
    let e = s.compare("base", None).unwrap_err();
    assert!(matches!(e, ReportError::File(_)), "{e}");
    assert!(
        e.to_string().contains("base.json")
            && e.to_string()
                .contains("benches.queue/push_pop/100k.samples"),
        "{e}"
    );
}

#[test]
fn a_bench_the_targets_name_but_the_run_lacks_is_reported_missing() {
    let s = Scratch::new();
    std::fs::remove_dir_all(s.criterion().join("queue")).unwrap();
    let (report, _) = write_report(&s.paths(), None, 5.0).unwrap();
    assert!(
        report.missing.contains(&"queue/push_pop/100k".to_string()),
        "{:?}",
        report.missing
    );
    assert!(!report.all_met(), "--strict must fail on a missing bench");
}

#[test]
fn connection_load_results_enter_the_executive_table() {
    let s = Scratch::new();
    // Built from the type the load tool writes, so the fixture cannot drift from it.
    let mut load = ConnectionsFile::example();
    load.messages.achieved_per_s = 1990.0;
    load.latency_ns.p99 = 20_000_000;
    load.latency_ns.p999 = 30_000_000;
    load.latency_ns.max = 40_000_000;
    if let Some(m) = load.server_memory.as_mut() {
        m.bytes_per_idle_connection = Some(1880.5);
    }
    let write = |name: &str, c: &ConnectionsFile| {
        std::fs::write(s.side().join(name), serde_json::to_string(c).unwrap()).unwrap()
    };
    write("connections.json", &load);
    let mut bare = load.clone();
    bare.requested.server = mcpbench_files::ServerKind::Bare;
    bare.messages.achieved_per_s = 1999.0;
    write("connections-bare.json", &bare);
    let paths = s.paths_with_targets(|t| {
        t.replace(
            "max_leak_per_item_bytes = 0.5\n",
            "max_leak_per_item_bytes = 0.5\nmax_bytes_per_idle_connection = 2048\n",
        ) + "\n[[test]]\nname = \"connections\"\ntitle = \"Concurrent connections\"\nkind = \"connections\"\n"
    });
    let (report, md) = write_report(&paths, None, 5.0).unwrap();
    let row = |m: &str| {
        report
            .executive
            .iter()
            .find(|r| r.metric.contains(m))
            .unwrap()
            .clone()
    };
    assert_eq!(row("actually opened").status, evaluate::Status::Pass);
    let opened = row("actually opened").value;
    assert!(opened.starts_with("2000 of 2000"), "{opened}");
    assert!(
        opened.contains("bare ceiling, same load: 1999 msg/s"),
        "{opened}"
    );
    assert!(
        opened.contains("every call answered on 2000 connections"),
        "{opened}"
    );
    assert_eq!(
        row("connection load").status,
        evaluate::Status::Fail,
        "p99 20 ms > 15 ms"
    );
    assert_eq!(row("idle connection").status, evaluate::Status::Pass);
    assert!(
        std::fs::read_to_string(md)
            .unwrap()
            .contains("## Concurrent connections")
    );
    // Totals can hide a connection that went unanswered: each connection counts.
    let mut one_short = load.clone();
    one_short.per_connection.every_call_answered = 1999;
    one_short.per_connection.some_call_not_answered = 1;
    write("connections.json", &one_short);
    let (report, _) = write_report(&paths, None, 5.0).unwrap();
    let opened = report
        .executive
        .iter()
        .find(|r| r.metric.contains("actually opened"))
        .unwrap();
    assert_eq!(opened.status, evaluate::Status::Fail, "{}", opened.value);
    std::fs::write(
        s.side().join("connections.json"),
        r#"{"schema":"mcpbench.connections/9"}"#,
    )
    .unwrap();
    let e = write_report(&paths, None, 5.0).unwrap_err();
    assert!(
        matches!(e, ReportError::Schema { .. }) && e.to_string().contains("connections.json"),
        "{e}"
    );
    // A renamed or mistyped field is refused with the file and field named, never
    // read as 0 (which would pass the row).
    let mut v = serde_json::to_value(&load).unwrap();
    v["messages"]["lost"] = serde_json::json!(5.0);
    std::fs::write(s.side().join("connections.json"), v.to_string()).unwrap();
    let e = write_report(&paths, None, 5.0).unwrap_err().to_string();
    assert!(
        e.contains("connections.json") && e.contains("messages.lost"),
        "{e}"
    );
    v["messages"].as_object_mut().unwrap().remove("lost");
    std::fs::write(s.side().join("connections.json"), v.to_string()).unwrap();
    let e = write_report(&paths, None, 5.0).unwrap_err().to_string();
    assert!(
        e.contains("connections.json") && e.contains("missing field `lost`"),
        "{e}"
    );
}

/// The executive row of the capacity search.
fn capacity_row(report: &evaluate::Report) -> &evaluate::ExecRow {
    report
        .executive
        .iter()
        .find(|r| r.metric.starts_with("Capacity at the SLO"))
        .expect("a capacity row")
}

#[test]
fn capacity_and_compare_results_enter_the_report_typed() {
    use mcpbench_files::capacity::{CAPACITY_SCHEMA, CapacityEntry, CapacityFile, CapacityStatus};
    use mcpbench_files::compare::{COMPARE_SCHEMA, CompareEntry, CompareFile, Outcome};
    let s = Scratch::new();
    let entry = |name: &str, rate: f64| CapacityEntry {
        name: name.into(),
        description: String::new(),
        status: CapacityStatus::Confirmed,
        capacity_per_connection: Some(rate),
        rejected_per_connection: Some(rate * 1.1),
        lower_bound_per_connection: None,
        repeats_achieved_per_s: vec![rate * 1000.0],
        repeats_p99_ns: vec![5_000_000],
        repeats_passed: 1,
        trials: vec![],
        why: vec![],
    };
    let capacity = CapacityFile {
        schema: CAPACITY_SCHEMA.into(),
        connections: 1000,
        duration_s: 10.0,
        slo_p99_ns: 15_000_000,
        window_share: 0.8,
        min_window_samples: 100,
        max_rate_per_connection: 1000.0,
        rule: "the rule".into(),
        protocol: "2025-11-25".into(),
        servers: vec![entry("mcpbench", 20.0), entry("bare", 25.0)],
    };
    let compare = CompareFile {
        schema: COMPARE_SCHEMA.into(),
        connections: 2000,
        rate_per_connection: 1.0,
        duration_s: 3.0,
        protocol: "2025-11-25".into(),
        servers: vec![CompareEntry {
            name: "python".into(),
            description: String::new(),
            command: vec![],
            protocol: None,
            outcome: Outcome::Passed,
            why: vec![],
            crashed: false,
            result: Some(ConnectionsFile::example()),
        }],
    };
    let write = |name: &str, json: String| std::fs::write(s.side().join(name), json).unwrap();
    write("capacity.json", serde_json::to_string(&capacity).unwrap());
    write("compare.json", serde_json::to_string(&compare).unwrap());
    let paths = s.paths_with_targets(|t| {
        t.replace(
            "max_leak_per_item_bytes = 0.5\n",
            "max_leak_per_item_bytes = 0.5\nmin_capacity_ratio = 0.85\n",
        )
    });
    let (report, md) = write_report(&paths, None, 5.0).unwrap();
    let row = capacity_row(&report);
    assert!(
        row.value.contains("20000 calls/s") && row.value.contains("(0.80×)"),
        "{}",
        row.value
    );
    assert_eq!(row.status, evaluate::Status::Fail, "0.80 < 0.85");
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("## Capacity at the SLO")
            && md.contains("| mcpbench | confirmed | 20.0000 | [20.0000, 22.0000) |"),
        "{md}"
    );
    assert!(
        md.contains("## MCP servers side by side") && md.contains("| python | passed | 2000 / 0 |"),
        "{md}"
    );
    // Ours far above its ceiling: the ceiling was not measured (a stall ended its
    // search, as in a real run here): no verdict, not a pass.
    let stalled = CapacityFile {
        servers: vec![entry("mcpbench", 26.0), entry("bare", 1.375)],
        ..capacity.clone()
    };
    write("capacity.json", serde_json::to_string(&stalled).unwrap());
    let (report, md) = write_report(&paths, None, 5.0).unwrap();
    let row = capacity_row(&report);
    assert!(row.value.contains("above its ceiling"), "{}", row.value);
    assert_eq!(row.status, evaluate::Status::NoData, "18.9x is no pass");
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.contains("18.909× (above its ceiling"), "{md}");
    // No capacity: the row says which server and why.
    let mut none = entry("mcpbench", 1.0);
    none.status = CapacityStatus::NoPass;
    none.capacity_per_connection = None;
    none.why = vec!["no rate passed (lowest tried: 0.0156 calls/s per connection)".into()];
    let failed = CapacityFile {
        servers: vec![none, entry("bare", 25.0)],
        ..capacity.clone()
    };
    write("capacity.json", serde_json::to_string(&failed).unwrap());
    let (report, _) = write_report(&paths, None, 5.0).unwrap();
    let row = capacity_row(&report);
    assert!(
        row.value
            .starts_with("no capacity (mcpbench: no rate passed (lowest tried"),
        "{}",
        row.value
    );
    assert_eq!(row.status, evaluate::Status::NoData);
    // A malformed file is refused with the file and the field named.
    write(
        "compare.json",
        r#"{"schema":"mcpbench.compare/1","connections":1.5}"#.into(),
    );
    let e = write_report(&paths, None, 5.0).unwrap_err().to_string();
    assert!(
        e.contains("compare.json") && e.contains("connections"),
        "{e}"
    );
}

#[test]
fn a_ratio_above_its_ceiling_is_called_weak_unless_the_targets_explain_it() {
    let s = Scratch::new();
    // The bare queue against the mailbox: beyond noise above 1.0 in the fixture run.
    let swapped = "\n[[ratio]]\nbench = \"queue/ceiling_arrayqueue/100k\"\nceiling = \"queue/push_pop/100k\"\nmin = 0.7\n";
    let paths = s.paths_with_targets(|t| t + swapped);
    let (report, _) = write_report(&paths, None, 5.0).unwrap();
    assert!(
        report
            .bottleneck
            .iter()
            .any(|l| l.starts_with("Ceiling too weak: `queue/ceiling_arrayqueue/100k`")),
        "{:?}",
        report.bottleneck
    );
    let explained = format!("{swapped}note = \"measured: a regime, not a weak ceiling\"\n");
    let paths = s.paths_with_targets(|t| t + &explained);
    let (report, md) = write_report(&paths, None, 5.0).unwrap();
    assert!(
        report
            .bottleneck
            .iter()
            .any(|l| l.contains("explained: measured: a regime")),
        "{:?}",
        report.bottleneck
    );
    assert!(
        !report
            .bottleneck
            .iter()
            .any(|l| l.starts_with("Ceiling too weak: `queue/ceiling_arrayqueue/100k`"))
    );
    assert!(
        std::fs::read_to_string(md)
            .unwrap()
            .contains("above its ceiling (explained below)")
    );
}

/// The leak verdict is the slope between runs of N and 2N items: a residue that
/// does not grow with N (a runtime buffer's new high-water mark) passes, one byte
/// kept per item fails and is named; a file without the slope (older) is judged
/// on its residue alone.
#[test]
fn a_leak_is_a_slope_over_n_and_2n_items_not_a_residue() {
    let s = Scratch::new();
    let leak_row = |s: &Scratch| {
        let (report, _) = write_report(&s.paths(), None, 5.0).unwrap();
        report
            .executive
            .iter()
            .find(|r| r.metric.starts_with("Leaks"))
            .unwrap()
            .clone()
    };
    let set = |s: &Scratch, residue: i64, residue_2n: Option<i64>| {
        s.edit_json("mcpbench/memory.json", |v| {
            let c = &mut v["components"][4];
            let items = c["items"].as_i64().unwrap();
            c["leaked_bytes"] = residue.into();
            match residue_2n {
                Some(r2) => {
                    c["leaked_bytes_2n"] = r2.into();
                    c["leak_per_item"] = ((r2 - residue) as f64 / items as f64).into();
                }
                None => {
                    c.as_object_mut().unwrap().remove("leaked_bytes_2n");
                    c.as_object_mut().unwrap().remove("leak_per_item");
                }
            }
        })
    };
    set(&s, 288, Some(-224));
    assert_eq!(leak_row(&s).status, evaluate::Status::Pass);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.side().join("memory.json")).unwrap())
            .unwrap();
    let (id, items) = (
        v["components"][4]["id"].as_str().unwrap(),
        v["components"][4]["items"].as_i64().unwrap(),
    );
    set(&s, 64, Some(64 + items));
    let row = leak_row(&s);
    assert_eq!(row.status, evaluate::Status::Fail);
    assert!(
        row.value.contains(id) && row.value.contains("1.00 B per"),
        "{row:?}"
    );
    set(&s, 64, None);
    assert_eq!(leak_row(&s).status, evaluate::Status::Fail);
    set(&s, 0, None);
    assert_eq!(leak_row(&s).status, evaluate::Status::Pass);
}

#[test]
fn a_listen_result_enters_the_report_as_its_table_and_a_broken_one_is_named() {
    let s = Scratch::new();
    // A real result of `scripts/load listen` (docs/results), copied as the run's.
    let real = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/results/2026-12-06-listen/100k-ours.json");
    let text = std::fs::read_to_string(&real).unwrap();
    std::fs::create_dir_all(s.side().join("listen")).unwrap();
    std::fs::write(s.side().join("listen/listen.json"), &text).unwrap();
    let paths = s.paths_with_targets(|t| t.to_string());
    let (_, md_path) = write_report(&paths, None, 5.0).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(
        md.contains("## Server-to-client streams (`scripts/load listen`)"),
        "{md}"
    );
    assert!(
        md.contains("| 100000 / 100000 | 1000000 / 1000000 | 0 |"),
        "{md}"
    );
    // Another run written beside it (`--out listen/...`): a row and a line each.
    let bare = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/results/2026-12-06-listen/10k-1ev-bare-1.json");
    std::fs::copy(&bare, s.side().join("listen/bare-10k.json")).unwrap();
    let (_, md_path) = write_report(&paths, None, 5.0).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.contains("| bare | 2026-07-28 |"), "{md}");
    assert!(md.contains("| mcpbench | 2026-07-28 |"), "{md}");
    assert!(md.contains("(fanout.svg)"), "{md}");
    let svg = std::fs::read_to_string(paths.out.join("fanout.svg")).unwrap();
    assert_eq!(svg.matches("<circle").count(), 6, "2 runs x p50/p99/max");
    assert!(svg.contains("bare, 2026-07-28 at 10000"), "{svg}");
    assert!(svg.contains("mcpbench, 2026-07-28 at 100000"), "{svg}");
    // Fewer delivered and missed than due cannot be: refused, the file named.
    let mut broken: serde_json::Value = serde_json::from_str(&text).unwrap();
    broken["delivered"] = serde_json::json!(5);
    std::fs::write(s.side().join("listen/listen.json"), broken.to_string()).unwrap();
    let e = write_report(&paths, None, 5.0).unwrap_err().to_string();
    assert!(e.contains("listen.json") && e.contains("missed"), "{e}");
}

#[test]
fn a_scenario_result_enters_the_report_as_a_table_per_operation_and_a_broken_one_is_named() {
    let s = Scratch::new();
    // A real result of `scripts/load run` (docs/results), copied as the run's.
    let real = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/results/2026-12-05-scenarios/mix-1000-mcpbench.json");
    let text = std::fs::read_to_string(&real).unwrap();
    std::fs::write(s.side().join("scenario.json"), &text).unwrap();
    let paths = s.paths_with_targets(|t| t.to_string());
    let (_, md_path) = write_report(&paths, None, 5.0).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(
        md.contains("## Scenario (`scripts/load run`), per operation"),
        "{md}"
    );
    for label in ["tools/call:text", "tools/call:echo", "tools/list", "ping"] {
        assert!(md.contains(&format!("| {label} |")), "{label}");
    }
    // Answered above sent cannot be: refused, the file and the operation named.
    let mut broken: serde_json::Value = serde_json::from_str(&text).unwrap();
    let op = &mut broken["operations"][0];
    assert_eq!(op["label"], "tools/call:text");
    op["answered"] = serde_json::json!(op["sent"].as_u64().unwrap() + 1);
    std::fs::write(s.side().join("scenario.json"), broken.to_string()).unwrap();
    let e = write_report(&paths, None, 5.0).unwrap_err().to_string();
    assert!(
        e.contains("scenario.json") && e.contains("tools/call:text"),
        "{e}"
    );
}

use super::*;
use crate::baseline::{Baseline, Measured, Unit};
use crate::env::Environment;
use crate::instructions::Count;
use crate::noise::{BenchNoise, NOISE_SCHEMA, NoiseFile};

fn write(dir: &Path, text: &str) -> PathBuf {
    write_as(dir, "connections.json", text)
}

fn write_as(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn scratch(name: &str) -> crate::scratch::Scratch {
    crate::scratch::Scratch::dir(name)
}

#[test]
fn a_written_file_reads_back_equal() {
    let dir = scratch("roundtrip");
    let path = write(
        &dir,
        &serde_json::to_string_pretty(&ConnectionsFile::example()).unwrap(),
    );
    assert_eq!(
        ConnectionsFile::load(&path).unwrap(),
        ConnectionsFile::example()
    );
    assert!(ConnectionsFile::example().all_answered());
}

#[test]
fn a_missing_field_is_refused_with_the_file_and_field_named() {
    let dir = scratch("missing");
    let mut v = serde_json::to_value(ConnectionsFile::example()).unwrap();
    v["messages"].as_object_mut().unwrap().remove("lost");
    let path = write(&dir, &v.to_string());
    let e = ConnectionsFile::load(&path).unwrap_err().to_string();
    assert!(e.contains("connections.json"), "{e}");
    assert!(
        e.contains("messages") && e.contains("missing field `lost`"),
        "{e}"
    );
}

#[test]
fn a_float_where_an_integer_belongs_is_refused_with_the_field_named() {
    let dir = scratch("float");
    let mut v = serde_json::to_value(ConnectionsFile::example()).unwrap();
    v["messages"]["lost"] = serde_json::json!(5.0);
    let path = write(&dir, &v.to_string());
    let e = ConnectionsFile::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("connections.json") && e.contains("messages.lost"),
        "{e}"
    );
}

#[test]
fn another_schema_and_impossible_figures_are_refused() {
    let dir = scratch("schema");
    let path = write(&dir, r#"{"schema":"mcpbench.connections/9"}"#);
    let e = ConnectionsFile::load(&path).unwrap_err();
    assert!(matches!(e, FileError::Schema { .. }), "{e}");
    let mut bad = ConnectionsFile::example();
    bad.latency_ns.p99 = bad.latency_ns.max + 1;
    let path = write(&dir, &serde_json::to_string(&bad).unwrap());
    let e = ConnectionsFile::load(&path).unwrap_err().to_string();
    assert!(e.contains("out of order"), "{e}");
}

#[test]
fn a_stats_reply_with_a_wrong_type_names_the_field() {
    let e = parse::<ServerStats>(
        r#"{"sessions":1.5,"allocatorCounted":true,"liveBytes":1,"rssBytes":1}"#,
        "server 3's stats",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("server 3's stats") && e.contains("sessions"),
        "{e}"
    );
}

/// A baseline of one bench with its instruction count.
fn baseline() -> Baseline {
    let measured = Measured {
        typical_ns: 100.0,
        ci_lower_ns: 99.0,
        ci_upper_ns: 101.0,
        estimator: "slope".into(),
        per_iteration: Some(1000),
        unit: Some(Unit::Elements),
        samples: 100,
    };
    let count = Count {
        instructions: 5000,
        per_iteration: 1000,
        note: String::new(),
    };
    Baseline {
        instructions: [("g/f/p".to_string(), count)].into(),
        ..Baseline::new([("g/f/p".to_string(), measured)].into(), Default::default())
    }
}

/// A noise file of one bench.
fn noise() -> NoiseFile {
    let bench = BenchNoise {
        runs: 3,
        median_ns: 100.0,
        spread_pct: 12.5,
        instructions_spread_pct: Some(0.1),
    };
    NoiseFile {
        schema: NOISE_SCHEMA.into(),
        machine: "test-cpu-2c".into(),
        environment: Environment::capture(),
        runs: vec!["a".into(), "b".into(), "c".into()],
        unstable_above_pct: 25.0,
        benches: [("g/f/p".to_string(), bench)].into(),
    }
}

/// `value` edited by `edit`, written as `name` in a folder of its own.
fn edited<T: Serialize>(
    name: &str,
    value: &T,
    edit: impl FnOnce(&mut serde_json::Value),
) -> crate::scratch::Scratch {
    static CASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let case = CASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut v = serde_json::to_value(value).unwrap();
    edit(&mut v);
    crate::scratch::Scratch::file(
        &format!("case-{case}"),
        name,
        &serde_json::to_string_pretty(&v).unwrap(),
    )
}

/// The value at `path` (`benches.g/f/p.samples`, the form errors name fields in).
fn at<'a>(v: &'a mut serde_json::Value, path: &str) -> &'a mut serde_json::Value {
    path.split('.').fold(v, |v, key| &mut v[key])
}

/// A file loader of `mcpbench-files`.
type Loader<T> = fn(&Path) -> Result<T, FileError>;

/// `value` without field `parent.field`, written as `name`, is refused by `load`
/// with the file, the path of `parent` and the field named.
fn missing_is_named<T: Serialize, U: std::fmt::Debug>(
    load: Loader<U>,
    name: &str,
    value: &T,
    (parent, field): (&str, &str),
) {
    let path = edited(name, value, |v| {
        at(v, parent).as_object_mut().unwrap().remove(field);
    });
    let e = load(&path).unwrap_err();
    assert!(matches!(e, FileError::Shape { .. }), "{e}");
    let e = e.to_string();
    assert!(
        e.contains(name)
            && e.contains(&format!("field `{parent}`"))
            && e.contains(&format!("missing field `{field}`")),
        "{e}"
    );
}

/// `value` with `bad` at `field`, written as `name`, is refused by `load` with
/// the file and the field's path named.
fn mistyped_is_named<T: Serialize, U: std::fmt::Debug>(
    load: Loader<U>,
    name: &str,
    value: &T,
    (field, bad): (&str, serde_json::Value),
) {
    let path = edited(name, value, |v| *at(v, field) = bad);
    let e = load(&path).unwrap_err();
    assert!(matches!(e, FileError::Shape { .. }), "{e}");
    let e = e.to_string();
    assert!(
        e.contains(name) && e.contains(&format!("field `{field}`")),
        "{e}"
    );
}

#[test]
fn a_baseline_reads_back_equal_with_or_without_counts() {
    let written = baseline();
    let path = edited("main.json", &written, |_| ());
    assert_eq!(Baseline::load(&path).unwrap(), written);
    // Baselines saved before instruction counts existed have no such field, and
    // an empty map is not written.
    let path = edited("old.json", &baseline(), |v| {
        v.as_object_mut().unwrap().remove("instructions");
    });
    assert!(Baseline::load(&path).unwrap().instructions.is_empty());
    let mut none = baseline();
    none.instructions.clear();
    let text = serde_json::to_string(&none).unwrap();
    assert!(!text.contains("instructions"), "{text}");
}

#[test]
fn a_baseline_missing_a_field_is_refused_with_the_file_and_field_named() {
    for missing in [
        ("benches.g/f/p", "samples"),
        ("environment", "git_commit"),
        ("instructions.g/f/p", "per_iteration"),
    ] {
        missing_is_named(Baseline::load, "main.json", &baseline(), missing);
    }
}

#[test]
fn a_baseline_with_a_mistyped_field_is_refused_with_the_field_named() {
    for mistyped in [
        ("benches.g/f/p.samples", serde_json::json!(99.5)),
        ("benches.g/f/p.typical_ns", serde_json::json!("100")),
        ("instructions.g/f/p.instructions", serde_json::json!(5000.5)),
        ("environment.cores", serde_json::json!("2")),
    ] {
        mistyped_is_named(Baseline::load, "main.json", &baseline(), mistyped);
    }
}

#[test]
fn a_baseline_of_another_schema_or_impossible_times_is_refused() {
    for schema in [
        serde_json::json!("mcpbench.baseline/9"),
        serde_json::Value::Null,
    ] {
        let path = edited("main.json", &baseline(), |v| v["schema"] = schema);
        let e = Baseline::load(&path).unwrap_err();
        assert!(matches!(e, FileError::Schema { .. }), "{e}");
    }
    let path = edited("main.json", &baseline(), |v| {
        v["benches"]["g/f/p"]["typical_ns"] = 0.0.into()
    });
    let e = Baseline::load(&path).unwrap_err();
    assert!(matches!(e, FileError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("g/f/p: typical_ns 0"), "{e}");
}

#[test]
fn a_noise_file_reads_back_equal_and_names_unstable_benches() {
    // One value: `noise()` dates its environment now, and two calls can straddle
    // a second.
    let written = noise();
    let path = edited("noise-test.json", &written, |_| ());
    let n = NoiseFile::load(&path).unwrap();
    assert_eq!(n, written);
    assert!(!n.unstable("g/f/p"), "12.5% is below 25%");
    assert!(!n.unstable("not/measured/here"));
}

#[test]
fn a_noise_file_missing_a_field_is_refused_with_the_file_and_field_named() {
    for missing in [
        ("benches.g/f/p", "spread_pct"),
        ("environment", "cpu_model"),
    ] {
        missing_is_named(NoiseFile::load, "noise-test.json", &noise(), missing);
    }
}

#[test]
fn a_noise_file_with_a_mistyped_field_is_refused_with_the_field_named() {
    for mistyped in [
        ("benches.g/f/p.runs", serde_json::json!(2.5)),
        ("benches.g/f/p.median_ns", serde_json::json!("100")),
        ("unstable_above_pct", serde_json::json!("25")),
    ] {
        mistyped_is_named(NoiseFile::load, "noise-test.json", &noise(), mistyped);
    }
}

#[test]
fn a_noise_file_of_another_schema_or_impossible_spreads_is_refused() {
    let path = edited("noise-test.json", &noise(), |v| {
        v["schema"] = "mcpbench.noise/9".into()
    });
    let e = NoiseFile::load(&path).unwrap_err();
    assert!(matches!(e, FileError::Schema { .. }), "{e}");
    let path = edited("noise-test.json", &noise(), |v| {
        v["benches"]["g/f/p"]["spread_pct"] = (-1.0).into()
    });
    let e = NoiseFile::load(&path).unwrap_err();
    assert!(
        matches!(e, FileError::Invalid { .. }) && e.to_string().contains("g/f/p: spread"),
        "{e}"
    );
}

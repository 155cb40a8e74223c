//! Bad input files and flags are refused with the file (or flag) and the field
//! named: times out of range in Criterion's estimates and in baselines, intervals
//! that miss their estimate, thresholds that are not positive percentages,
//! baseline names that are paths, and symlink loops under target/criterion.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use mcpbench_report::criterion::read_run;
use mcpbench_report::{CompareOptions, ReportError, compare_runs, save_baseline, save_noise};

fn fixture_run() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// A scratch copy of the fixture run: `criterion/`, `mcpbench/`, and an empty
/// `baselines/`.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture_run(), dir.path());
    std::fs::create_dir_all(dir.path().join("baselines")).unwrap();
    dir
}

/// Edits the JSON file at `path`.
fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

/// This bench has both a slope and a mean estimate.
const SLOPED: &str = "criterion/queue/push_pop/100k/new/estimates.json";

#[test]
fn criterion_times_out_of_range_are_refused_with_the_file_and_field_named() {
    for (estimate, field, value) in [
        ("slope", "point_estimate", serde_json::json!(-1)),
        ("slope", "point_estimate", serde_json::json!(0)),
        ("slope", "point_estimate", serde_json::json!(1e308)),
        // The mean is checked too, even where the slope is the estimate used.
        ("mean", "point_estimate", serde_json::json!(-1)),
        (
            "slope",
            "confidence_interval.lower_bound",
            serde_json::json!(-1),
        ),
        (
            "mean",
            "confidence_interval.upper_bound",
            serde_json::json!(1e308),
        ),
    ] {
        let s = scratch();
        let path = s.path().join(SLOPED);
        edit_json(&path, |v| match field.split_once('.') {
            Some((a, b)) => v[estimate][a][b] = value.clone(),
            None => v[estimate][field] = value.clone(),
        });
        let e = read_run(&s.path().join("criterion")).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, ReportError::Invalid { .. }), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(
            text.contains(&format!("field `{estimate}.{field}`"))
                && text.contains("at most 3.6e12 ns (one hour)"),
            "{estimate}.{field} = {value}: {text}"
        );
    }
}

#[test]
fn a_criterion_interval_that_misses_its_estimate_is_refused_naming_the_bound() {
    for (bound, shift, says) in [
        ("lower_bound", 1.0, "is above point_estimate"),
        ("upper_bound", -1.0, "is below point_estimate"),
    ] {
        let s = scratch();
        let path = s.path().join(SLOPED);
        edit_json(&path, |v| {
            let point = v["slope"]["point_estimate"].as_f64().unwrap();
            v["slope"]["confidence_interval"][bound] = (point + shift).into();
        });
        let e = read_run(&s.path().join("criterion"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(
            e.contains(&format!("slope: confidence_interval.{bound} "))
                && e.contains(says)
                && e.contains(&format!("field `slope.confidence_interval.{bound}`")),
            "{e}"
        );
    }
}

#[test]
fn a_baseline_with_an_impossible_time_is_refused_by_compare_naming_file_and_field() {
    let s = scratch();
    let baselines = s.path().join("baselines");
    let criterion = s.path().join("criterion");
    save_baseline("base", &criterion, None, &baselines).unwrap();
    let path = baselines.join("base.json");
    edit_json(&path, |v| {
        v["benches"]["queue/push_pop/100k"]["typical_ns"] = (-1).into()
    });
    let e = compare_runs(
        "base",
        None,
        &criterion,
        &baselines,
        &CompareOptions::threshold(5.0),
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ReportError::Invalid { .. }), "{text}");
    assert!(
        text.contains(&path.display().to_string())
            && text.contains("queue/push_pop/100k: typical_ns -1.0 is out of range")
            && text.contains("field `benches.queue/push_pop/100k.typical_ns`"),
        "{text}"
    );
}

#[test]
fn the_criterion_walk_ends_on_symlink_loops_and_still_finds_the_real_benches() {
    let s = scratch();
    let criterion = s.path().join("criterion");
    let expected: Vec<String> = read_run(&criterion).unwrap().into_keys().collect();
    // Two loops at the top (each a link to the folder it is in) and one deeper
    // (to the top): a walk that follows them recurses until the path is too long,
    // 2^40 ways.
    std::os::unix::fs::symlink(&criterion, criterion.join("loop-a")).unwrap();
    std::os::unix::fs::symlink(".", criterion.join("loop-b")).unwrap();
    std::os::unix::fs::symlink("../..", criterion.join("queue/push_pop/up")).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read_run(&criterion).map(|r| r.into_keys().collect::<Vec<_>>()));
    });
    let found = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the walk of target/criterion did not end within 20 s")
        .unwrap();
    assert_eq!(found, expected);
}

#[test]
fn a_baseline_name_that_is_a_path_is_refused_and_nothing_is_written() {
    let s = scratch();
    let baselines = s.path().join("baselines");
    let criterion = s.path().join("criterion");
    let inside = format!("{}/inside", baselines.display());
    for name in ["../outside", inside.as_str(), "a\\b", ".hidden", "a..b", ""] {
        let e = save_baseline(name, &criterion, None, &baselines).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("baseline name {name:?}"))
                && text.contains("baselines/NAME.json"),
            "{name}: {text}"
        );
    }
    assert!(!s.path().join("outside.json").exists());
    assert_eq!(std::fs::read_dir(&baselines).unwrap().count(), 0);
    let path = save_baseline("gate-base-1.v2", &criterion, None, &baselines).unwrap();
    assert_eq!(path, baselines.join("gate-base-1.v2.json"));
}

#[test]
fn compare_and_noise_refuse_thresholds_that_are_not_positive_percentages() {
    let s = scratch();
    let baselines = s.path().join("baselines");
    let criterion = s.path().join("criterion");
    for bad in [f64::NAN, -1.0, 0.0, f64::INFINITY, 1e308] {
        let options = CompareOptions::threshold(bad);
        let e = compare_runs("absent", None, &criterion, &baselines, &options).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("--threshold {bad:?}: not a finite percentage above 0 and at most 1000"),
        );
        let mut options = CompareOptions::threshold(5.0);
        options.instructions_threshold_pct = bad;
        let e = compare_runs("absent", None, &criterion, &baselines, &options).unwrap_err();
        assert!(
            e.to_string().starts_with("--instructions-threshold "),
            "{e}"
        );
        let names = ["a", "b", "c"].map(String::from);
        let e = save_noise(&names, &baselines, bad, None).unwrap_err();
        assert!(e.to_string().starts_with("--unstable-above "), "{e}");
    }
}

/// Runs the `mcpbench` binary with `args`; returns its exit code and stderr.
fn mcpbench(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcpbench"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_gate_refuses_threshold_flags_that_are_not_positive_percentages() {
    for flag in ["--threshold", "--instructions-threshold"] {
        for value in ["nan", "NaN", "-1", "0", "inf", "-inf", "1e308", "five"] {
            let (code, stderr) = mcpbench(&["compare", "absent-a", "absent-b", flag, value]);
            assert_eq!(code, Some(2), "{flag} {value}: {stderr}");
            assert!(
                stderr.contains(&format!("invalid value '{value}' for '{flag} <")),
                "{flag} {value}: {stderr}"
            );
            assert!(
                stderr.contains("a finite percentage above 0 and at most 1000"),
                "{flag} {value}: {stderr}"
            );
        }
    }
    for value in ["nan", "-1", "0", "inf"] {
        let (code, stderr) = mcpbench(&["noise", "a", "b", "c", "--unstable-above", value]);
        assert_eq!(code, Some(2), "{value}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '{value}' for '--unstable-above <")),
            "{value}: {stderr}"
        );
    }
}

#[test]
fn baseline_save_refuses_a_name_that_is_a_path() {
    for name in ["../x", "a/b", "x.json", ".x", "a..b", "a\\b"] {
        let (code, stderr) = mcpbench(&["baseline", "save", name, "--criterion", "/nonexistent"]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: baseline name {name:?}")),
            "{name}: {stderr}"
        );
    }
}

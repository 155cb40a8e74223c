//! Golden files: `report.md` and `throughput.svg` rendered from the captured run
//! (`tests/fixtures/run`) with a fixed environment, compared byte for byte with
//! `tests/golden/`. A rendering change shows as a diff here; when it is intended,
//! rerun with `MCPBENCH_UPDATE_GOLDEN=1` and commit the new files.

use std::path::{Path, PathBuf};

use mcpbench_files::env::Environment;
use mcpbench_report::evaluate::evaluate;
use mcpbench_report::inputs::Run;
use mcpbench_report::render;
use mcpbench_report::targets::Targets;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// The same environment on every machine, so the rendering alone decides the bytes.
fn fixed_environment() -> Environment {
    Environment {
        cpu_model: "Golden CPU".into(),
        cores: 2,
        os: "Golden OS".into(),
        rustc: "rustc 1.95.0".into(),
        crate_version: "0.1.0".into(),
        git_commit: "0000000000000000000000000000000000000000".into(),
        date: "2026-11-27T00:00:00Z".into(),
    }
}

fn check(name: &str, rendered: &str) {
    let path = dir().join("golden").join(name);
    if std::env::var_os("MCPBENCH_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (MCPBENCH_UPDATE_GOLDEN=1 cargo test -p mcpbench-report --test golden writes it)",
            path.display()
        )
    });
    if expected != rendered {
        let line = expected
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(rendered.lines().count()));
        panic!(
            "{} differs from the rendering, first at line {}:\n  golden:   {:?}\n  rendered: {:?}\n(MCPBENCH_UPDATE_GOLDEN=1 to accept an intended change)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            rendered.lines().nth(line)
        );
    }
}

#[test]
fn the_report_and_its_chart_render_as_recorded() {
    let fixtures = dir().join("fixtures");
    let run = Run::read(
        &fixtures.join("run/criterion"),
        &fixtures.join("run/mcpbench"),
    )
    .unwrap();
    let targets = Targets::load(&fixtures.join("targets.toml")).unwrap();
    let report = evaluate(&run, &targets, None, 5.0, None, fixed_environment());
    check(
        "report.md",
        &render::markdown(&report, &run, Some("throughput.svg")),
    );
    check("throughput.svg", &render::svg(&report, &targets));
}

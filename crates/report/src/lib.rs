#![forbid(unsafe_code)]
//! The report, baseline, compare and noise commands (`scripts/report`,
//! `scripts/baseline`, `scripts/compare`, `scripts/noise`; the binary is
//! `src/bin/mcpbench.rs`), apart from the bench support: reading a few JSON files
//! builds no bench stack (no criterion, pprof or tokio). Tested on a captured real
//! run (`tests/fixtures/run`) and on recorded gate rounds (`tests/fixtures/gate`).

pub mod baseline;
pub mod compare;
pub mod criterion;
pub mod error;
pub mod evaluate;
pub mod format;
pub mod inputs;
pub mod noise;
pub mod paired;
pub mod render;
pub mod targets;

use std::path::{Path, PathBuf};

pub use error::ReportError;

use baseline::Baseline;
use noise::NoiseFile;

use inputs::Run;
use mcpbench_files::allocations::{ALLOCATIONS_SCHEMA, AllocationsFile};
use mcpbench_files::bench::{MEMORY_SCHEMA, MemoryFile};
use mcpbench_files::env::Environment;
use mcpbench_files::instructions::{INSTRUCTIONS_SCHEMA, InstructionsFile};
use targets::Targets;

/// Default least wall-clock change `compare` counts, percent (the noise file and
/// the rounds can only raise it). Two builds of one commit differ by more than
/// their rounds' spread: the full same-commit gate of 2026-12-05 read
/// `netio/pingpong_1thread/naive` +8.8% with all three rounds of each side apart
/// (spread 5.5%), so 5% flagged a change that was not there; 10% is above every
/// such difference measured in two full same-commit gates.
pub const DEFAULT_THRESHOLD_PCT: f64 = 10.0;
/// The report's least wall-clock change (its baseline column) and its margin for
/// a component beating its ceiling when no noise file says otherwise, percent:
/// within one run, not between two builds, so the gate's build-to-build minimum
/// does not apply.
pub const REPORT_THRESHOLD_PCT: f64 = 5.0;
/// Default least instruction-count change `compare` counts, percent. Counts of one
/// binary repeat to within ~0.1% here (hash seeds differ per process); 2% leaves
/// room and still catches a 10% slowdown of a component path.
pub const DEFAULT_INSTRUCTIONS_THRESHOLD_PCT: f64 = 2.0;
/// Default least allocation-count increase `compare` counts, percent of the base
/// (and at least [`compare::MIN_EXTRA_ALLOCATIONS`] per iteration). Counts of a
/// single-threaded workload repeat exactly here; 1% leaves room for a table
/// that grows at another point when hash seeds differ.
pub const DEFAULT_ALLOCATIONS_THRESHOLD_PCT: f64 = 1.0;

/// What a percentage setting must be: finite, above 0 (a threshold of 0 would
/// call every change a regression) and at most 1000.
const PERCENT_RANGE: &str = "not a finite percentage above 0 and at most 1000";

/// Checks a percentage setting (a threshold): `Ok(pct)` when it is finite, above
/// 0 and at most 1000, else why not.
pub fn check_percent(pct: f64) -> Result<f64, &'static str> {
    if pct.is_finite() && pct > 0.0 && pct <= 1000.0 {
        Ok(pct)
    } else {
        Err(PERCENT_RANGE)
    }
}

/// [`check_percent`] of the setting of `flag`, in the report's errors.
fn check_setting(flag: &'static str, pct: f64) -> Result<f64, ReportError> {
    check_percent(pct).map_err(|reason| ReportError::Setting {
        flag,
        value: format!("{pct:?}"),
        reason: reason.to_string(),
    })
}

/// The workspace root (where `baselines/` is).
pub fn workspace_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Inputs and outputs of one report.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    /// Criterion's output folder (`target/criterion`).
    pub criterion: PathBuf,
    /// This project's side files (`target/mcpbench`).
    pub side: PathBuf,
    /// The targets file.
    pub targets: PathBuf,
    /// Where to write `report.md`, `report.json`, `throughput.svg`, `bench-results.json`.
    pub out: PathBuf,
}

impl Default for ReportPaths {
    fn default() -> Self {
        let target = mcpbench_files::target_dir(&workspace_root());
        ReportPaths {
            criterion: target.join("criterion"),
            side: target.join("mcpbench"),
            targets: workspace_root().join("baselines").join("targets.toml"),
            out: target.join("mcpbench"),
        }
    }
}

/// Writes the report; returns it (so the caller can apply `--strict`) and the
/// path of `report.md`.
pub fn write_report(
    paths: &ReportPaths,
    baseline: Option<&str>,
    threshold_pct: f64,
) -> Result<(evaluate::Report, PathBuf), ReportError> {
    check_setting("--threshold", threshold_pct)?;
    let targets = Targets::load(&paths.targets)?;
    let run = Run::read(&paths.criterion, &paths.side)?;
    let loaded = match baseline {
        Some(name) => {
            let path = baseline::resolve(name, &workspace_root().join("baselines"));
            Some((name, baseline::load(&path)?))
        }
        None => None,
    };
    // This machine's noise file, if measured: names unstable benches and tells a
    // ceiling beaten by noise from one beaten for real.
    let noise_path = noise::default_path(&workspace_root().join("baselines"));
    let noise = if noise_path.exists() {
        Some(noise::load(&noise_path)?)
    } else {
        None
    };
    let report = evaluate::evaluate(
        &run,
        &targets,
        loaded.as_ref().map(|(n, b)| (*n, b)),
        threshold_pct,
        noise.as_ref(),
        Environment::capture(),
    );
    let md_path = paths.out.join("report.md");
    error::write(
        &paths.out.join("throughput.svg"),
        &render::svg(&report, &targets),
    )?;
    if let Some(c) = &run.compare {
        error::write(&paths.out.join("servers.svg"), &render::charts::servers(c))?;
    }
    if let Some(s) = &run.scaling {
        error::write(&paths.out.join("scaling.svg"), &render::charts::scaling(s))?;
    }
    if !run.listen.is_empty() {
        error::write(
            &paths.out.join("fanout.svg"),
            &render::charts::fanout(&run.listen),
        )?;
    }
    error::write(
        &md_path,
        &render::markdown(&report, &run, Some("throughput.svg")),
    )?;
    error::write(
        &paths.out.join("report.json"),
        &pretty(&render::report_json(&report, &run)),
    )?;
    error::write(
        &paths.out.join("bench-results.json"),
        &pretty(&render::bench_results(&run)),
    )?;
    Ok((report, md_path))
}

/// Pretty JSON. Serializing these plain structs cannot fail; an empty file would
/// show it if it ever did.
fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// Saves the Criterion run in `criterion_dir` as baseline `name` under
/// `baselines_dir` (`NAME.json`; a name that is not a plain name is refused,
/// [`baseline::check_name`]), with the instruction counts of `instructions` when given (a
/// missing or malformed file is an error then); returns the file written.
pub fn save_baseline(
    name: &str,
    criterion_dir: &Path,
    instructions: Option<&Path>,
    baselines_dir: &Path,
) -> Result<PathBuf, ReportError> {
    save_baseline_of(name, criterion_dir, instructions, None, baselines_dir)
}

/// [`save_baseline`] of a run measured in another checkout: `commit` is recorded
/// as the run's commit instead of this checkout's.
pub fn save_baseline_of(
    name: &str,
    criterion_dir: &Path,
    instructions: Option<&Path>,
    commit: Option<&str>,
    baselines_dir: &Path,
) -> Result<PathBuf, ReportError> {
    save_baseline_with(
        name,
        &SaveInputs {
            criterion_dir,
            instructions,
            allocations: None,
            memory: None,
            commit,
        },
        baselines_dir,
    )
}

/// What `baseline save` stores: the Criterion run, and counts when given.
#[derive(Debug, Clone, Copy)]
pub struct SaveInputs<'a> {
    /// Criterion's output folder.
    pub criterion_dir: &'a Path,
    /// An instructions file (`benches/instructions.rs`).
    pub instructions: Option<&'a Path>,
    /// An allocations file (`benches/allocations.rs`).
    pub allocations: Option<&'a Path>,
    /// A memory file (`benches/memory.rs`).
    pub memory: Option<&'a Path>,
    /// The commit the run was measured at, when not this checkout's.
    pub commit: Option<&'a str>,
}

/// Refuses counts measured at another commit than the baseline's: a baseline
/// holds one version's figures, never another's.
fn check_counted_at(path: &Path, counted: &str, baseline: &str) -> Result<(), ReportError> {
    if counted == baseline {
        Ok(())
    } else {
        Err(ReportError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "counted at commit {counted}, but the baseline is of commit {baseline}: counts of another version are not saved with it"
            ),
        })
    }
}

/// Saves the run of `inputs` as baseline `name`, with its counts, each refused
/// unless counted at the baseline's commit ([`check_counted_at`]).
pub fn save_baseline_with(
    name: &str,
    inputs: &SaveInputs,
    baselines_dir: &Path,
) -> Result<PathBuf, ReportError> {
    let path = baseline::save_path(name, baselines_dir)?;
    let run = criterion::read_run(inputs.criterion_dir)?;
    let mut baseline = Baseline::new(run, Default::default());
    if let Some(commit) = inputs.commit {
        baseline.environment.git_commit = commit.to_string();
    }
    // Each file is read, then refused unless counted at the baseline's commit.
    let at = baseline.environment.git_commit.clone();
    let counted = |file: &Path, env: &mcpbench_files::env::Environment| {
        check_counted_at(file, &env.git_commit, &at)
    };
    if let Some(file) = inputs.instructions {
        let f = load_instructions(file)?;
        counted(file, &f.environment)?;
        baseline.instructions = f.counts;
    }
    if let Some(file) = inputs.allocations {
        let f = load_allocations(file)?;
        counted(file, &f.environment)?;
        baseline.allocations = f.counts;
    }
    if let Some(file) = inputs.memory {
        let f = load_memory(file)?;
        counted(file, &f.environment)?;
        baseline.memory = f
            .components
            .iter()
            .map(|c| (c.id.clone(), c.into()))
            .collect();
    }
    baseline::save(&baseline, &path)?;
    Ok(path)
}

/// Reads `path` as a `T` (`what` it should hold, for the error when it is
/// missing) and refuses a `schema` other than `expected`.
fn load_tagged<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
    expected: &'static str,
    schema: impl Fn(&T) -> &str,
) -> Result<T, ReportError> {
    let file: T = error::load_json(path, what)?;
    if schema(&file) != expected {
        return Err(ReportError::Schema {
            path: path.to_path_buf(),
            found: schema(&file).to_string(),
            expected,
        });
    }
    Ok(file)
}

/// Reads and checks `target/mcpbench/allocations.json` (or another such file).
pub fn load_allocations(path: &Path) -> Result<AllocationsFile, ReportError> {
    let file: AllocationsFile = load_tagged(
        path,
        "allocation counts written by `cargo bench --bench allocations`",
        ALLOCATIONS_SCHEMA,
        |f: &AllocationsFile| &f.schema,
    )?;
    if let Some((id, _)) = file.counts.iter().find(|(_, c)| c.per_iteration == 0) {
        return Err(ReportError::Invalid {
            path: path.to_path_buf(),
            reason: format!("{id}: per_iteration 0: an iteration performs at least one operation"),
        });
    }
    Ok(file)
}

/// Reads and checks `target/mcpbench/memory.json` (or another such file).
pub fn load_memory(path: &Path) -> Result<MemoryFile, ReportError> {
    load_tagged(
        path,
        "the memory test's results written by `cargo bench --bench memory`",
        MEMORY_SCHEMA,
        |f: &MemoryFile| &f.schema,
    )
}

/// Reads and checks `target/mcpbench/paired.json` (or another such file).
pub fn load_paired(path: &Path) -> Result<paired::PairedFile, ReportError> {
    load_tagged(
        path,
        "a paired run written by `mcpbench paired`",
        paired::PAIRED_SCHEMA,
        |f: &paired::PairedFile| &f.schema,
    )
}

/// Reads and checks `target/mcpbench/instructions.json` (or another such file).
pub fn load_instructions(path: &Path) -> Result<InstructionsFile, ReportError> {
    let file: InstructionsFile = load_tagged(
        path,
        "instruction counts written by `cargo bench --bench instructions`",
        INSTRUCTIONS_SCHEMA,
        |f: &InstructionsFile| &f.schema,
    )?;
    if let Some((id, _)) = file
        .counts
        .iter()
        .find(|(_, c)| c.instructions == 0 || c.per_iteration == 0)
    {
        return Err(ReportError::Invalid {
            path: path.to_path_buf(),
            reason: format!("{id}: an instruction count of 0 cannot be right"),
        });
    }
    Ok(file)
}

/// Which noise file a comparison uses.
#[derive(Debug, Clone, PartialEq)]
pub enum NoiseChoice {
    /// `baselines/noise-<this machine>.json` if it exists.
    ThisMachine,
    /// This file (an error if it cannot be read).
    File(PathBuf),
    /// None: thresholds from the flags and the rounds only.
    Off,
}

/// The settings of `compare`.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Least wall-clock change that counts, percent.
    pub threshold_pct: f64,
    /// Least instruction-count change that counts, percent.
    pub instructions_threshold_pct: f64,
    /// Least allocation-count increase that counts, percent.
    pub allocations_threshold_pct: f64,
    /// The noise file.
    pub noise: NoiseChoice,
    /// The paired run of the two sides (`mcpbench paired`), if any.
    pub paired: Option<PathBuf>,
    /// Benches or channel data in the base only do not fail the gate.
    pub allow_removed: bool,
}

impl CompareOptions {
    /// The defaults, with wall-clock threshold `pct` and no noise file.
    pub fn threshold(pct: f64) -> CompareOptions {
        CompareOptions {
            threshold_pct: pct,
            instructions_threshold_pct: DEFAULT_INSTRUCTIONS_THRESHOLD_PCT,
            allocations_threshold_pct: DEFAULT_ALLOCATIONS_THRESHOLD_PCT,
            noise: NoiseChoice::Off,
            paired: None,
            allow_removed: false,
        }
    }
}

/// Loads a comma-separated list of baselines (the rounds of one side).
fn load_side(list: &str, baselines_dir: &Path) -> Result<Vec<Baseline>, ReportError> {
    list.split(',')
        .filter(|n| !n.is_empty())
        .map(|n| baseline::load(&baseline::resolve(n, baselines_dir)))
        .collect()
}

/// Compares the rounds of `base` (baseline names or paths, comma-separated) with
/// those of `new`, or with the run in `criterion_dir` when `new` is `None`.
/// Returns the Markdown table and whether anything regressed.
pub fn compare_runs(
    base: &str,
    new: Option<&str>,
    criterion_dir: &Path,
    baselines_dir: &Path,
    options: &CompareOptions,
) -> Result<(String, bool), ReportError> {
    check_setting("--threshold", options.threshold_pct)?;
    check_setting(
        "--instructions-threshold",
        options.instructions_threshold_pct,
    )?;
    check_setting("--allocations-threshold", options.allocations_threshold_pct)?;
    let paired = options.paired.as_deref().map(load_paired).transpose()?;
    let mut base_rounds = load_side(base, baselines_dir)?;
    let (new_rounds, new_name) = match new {
        Some(n) => (load_side(n, baselines_dir)?, format!("`{n}`")),
        None => {
            // The latest Criterion run has times only: the base's counts and
            // memory figures have nothing to meet (every one would read "missing
            // on one side"). Times are compared; `scripts/gate` compares counts.
            for b in &mut base_rounds {
                b.instructions.clear();
                b.allocations.clear();
                b.memory.clear();
            }
            (
                vec![Baseline::new(
                    criterion::read_run(criterion_dir)?,
                    Default::default(),
                )],
                format!(
                    "the run in {} (times only: counts are compared by scripts/gate)",
                    criterion_dir.display()
                ),
            )
        }
    };
    let shares = |a: &Baseline| {
        new_rounds
            .iter()
            .any(|b| a.benches.keys().any(|k| b.benches.contains_key(k)))
    };
    if !base_rounds.iter().any(shares) {
        let name = base.split(',').next().unwrap_or(base);
        return Err(ReportError::ForeignBaseline {
            path: baseline::resolve(name, baselines_dir),
        });
    }
    let noise = match &options.noise {
        NoiseChoice::Off => None,
        NoiseChoice::File(p) => Some(noise::load(p)?),
        NoiseChoice::ThisMachine => {
            let p = noise::default_path(baselines_dir);
            if p.exists() {
                Some(noise::load(&p)?)
            } else {
                None
            }
        }
    };
    let gate = compare::Gate {
        threshold_pct: options.threshold_pct,
        instructions_threshold_pct: options.instructions_threshold_pct,
        allocations_threshold_pct: options.allocations_threshold_pct,
        noise: noise.as_ref(),
        paired: paired.as_ref(),
        allow_removed: options.allow_removed,
    };
    let rows =
        compare::compare(&base_rounds, &new_rounds, &gate).map_err(|e| ReportError::Invalid {
            path: baseline::resolve(base.split(',').next().unwrap_or(base), baselines_dir),
            reason: e.0,
        })?;
    let mut md = format!("### Benchmark comparison: `{base}` → {new_name}\n\n");
    md.push_str(&compare::markdown(
        &rows,
        &gate,
        (base_rounds.len(), new_rounds.len()),
    ));
    Ok((md, compare::regressed(&rows, options.allow_removed)))
}

/// Computes the noise of the runs `names` (baselines of one commit) and writes it
/// to `out`; returns the file.
pub fn save_noise(
    names: &[String],
    baselines_dir: &Path,
    unstable_above_pct: f64,
    out: Option<&Path>,
) -> Result<(PathBuf, NoiseFile), ReportError> {
    check_setting("--unstable-above", unstable_above_pct)?;
    let runs: Vec<Baseline> = names
        .iter()
        .map(|n| baseline::load(&baseline::resolve(n, baselines_dir)))
        .collect::<Result<_, _>>()?;
    let file =
        noise::from_runs(names, &runs, unstable_above_pct).map_err(|e| ReportError::Invalid {
            path: baselines_dir.to_path_buf(),
            reason: e.0,
        })?;
    let path = out.map_or_else(
        || baselines_dir.join(format!("noise-{}.json", file.machine)),
        Path::to_path_buf,
    );
    noise::save(&file, &path)?;
    Ok((path, file))
}

//! `mcpbench`: the report, baseline and compare commands behind `scripts/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcpbench_report::noise::DEFAULT_UNSTABLE_ABOVE_PCT;
use mcpbench_report::{
    self as report, CompareOptions, DEFAULT_ALLOCATIONS_THRESHOLD_PCT,
    DEFAULT_INSTRUCTIONS_THRESHOLD_PCT, DEFAULT_THRESHOLD_PCT, NoiseChoice, ReportPaths,
    workspace_root,
};

#[derive(Parser)]
#[command(
    name = "mcpbench",
    about = "Reports, baselines and regression checks for the mcpbench benches"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Turn the latest bench run into report.md, report.json, throughput.svg and
    /// bench-results.json.
    Report {
        /// Criterion's output folder.
        #[arg(long)]
        criterion: Option<PathBuf>,
        /// The targets file.
        #[arg(long)]
        targets: Option<PathBuf>,
        /// A stored baseline (name under baselines/, or a path) to show changes against.
        #[arg(long)]
        baseline: Option<String>,
        /// Output folder (default target/mcpbench).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exit 1 when a target is missed or a bench the targets name has no result.
        #[arg(long)]
        strict: bool,
    },
    /// Manage stored baselines.
    Baseline {
        #[command(subcommand)]
        action: BaselineAction,
    },
    /// Compare two versions; exit 1 on a regression. Each side is one baseline or
    /// several rounds of one version, comma-separated (`scripts/gate` makes them
    /// by running the two versions alternately). CPU-bound benches are judged on
    /// instruction counts when both sides have them, the others on the median of
    /// their wall-clock rounds.
    Compare {
        /// The base: baseline names (baselines/NAME.json) or paths, comma-separated.
        base: String,
        /// The new side, the same way; default: the latest run in target/criterion.
        new: Option<String>,
        /// Least wall-clock change, percent, that counts (the bench's measured
        /// noise and the spread of the rounds can only raise it).
        #[arg(long, default_value_t = DEFAULT_THRESHOLD_PCT, value_parser = percent, allow_hyphen_values = true)]
        threshold: f64,
        /// Least instruction-count change, percent, that counts.
        #[arg(long, default_value_t = DEFAULT_INSTRUCTIONS_THRESHOLD_PCT, value_parser = percent, allow_hyphen_values = true)]
        instructions_threshold: f64,
        /// Least allocation-count increase, percent of the base, that counts (and
        /// always more than 2 allocations per iteration).
        #[arg(long, default_value_t = DEFAULT_ALLOCATIONS_THRESHOLD_PCT, value_parser = percent, allow_hyphen_values = true)]
        allocations_threshold: f64,
        /// A paired run of the two sides (`mcpbench paired`): its benches are
        /// judged on it instead of the wall-clock rounds.
        #[arg(long)]
        paired: Option<PathBuf>,
        /// A bench, or a channel's data, present in the base only does not fail
        /// the comparison (a bench removed or renamed on purpose).
        #[arg(long)]
        allow_removed: bool,
        /// The noise file; default: baselines/noise-<this machine>.json if it exists.
        #[arg(long, conflicts_with = "no_noise")]
        noise: Option<PathBuf>,
        /// Use no noise file.
        #[arg(long)]
        no_noise: bool,
        /// Criterion's output folder, for the latest run.
        #[arg(long)]
        criterion: Option<PathBuf>,
    },
    /// Time the registry's workloads of two checkouts sample by sample (ABBA) in
    /// one run, and measure by injection what that detects; writes
    /// target/mcpbench/paired.json for `compare --paired`. Each checkout's
    /// `benches/paired.rs` runs as a worker (built with `cargo bench` there).
    Paired {
        /// The base checkout.
        base: PathBuf,
        /// The new side's checkout.
        new: PathBuf,
        /// Only workloads whose id matches this regex.
        filter: Option<String>,
        /// Time budget per comparison, seconds.
        #[arg(long, default_value_t = 1.5)]
        seconds_per_bench: f64,
        /// Where to write (default target/mcpbench/paired.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Measure run-to-run noise: from baselines of one commit (at least 3, run one
    /// after another on this machine; `scripts/noise` makes them), write each
    /// bench's spread to baselines/noise-<machine>.json.
    Noise {
        /// The baselines, names or paths.
        #[arg(required = true, num_args = 3..)]
        runs: Vec<String>,
        /// Spread, percent, above which a bench is named unstable.
        #[arg(long, default_value_t = DEFAULT_UNSTABLE_ABOVE_PCT, value_parser = percent, allow_hyphen_values = true)]
        unstable_above: f64,
        /// Where to write (default baselines/noise-<machine>.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// A percentage flag: a finite number above 0 and at most 1000
/// ([`report::check_percent`]); clap names the flag and the value in the error.
fn percent(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| {
        format!("{s:?} is not a number; a finite percentage above 0 and at most 1000 is expected")
    })?;
    report::check_percent(v).map_err(|reason| format!("{s} is {reason}"))
}

#[derive(Subcommand)]
enum BaselineAction {
    /// Save the latest run as baselines/NAME.json.
    Save {
        /// Baseline name.
        name: String,
        /// Criterion's output folder.
        #[arg(long)]
        criterion: Option<PathBuf>,
        /// Instruction counts to store beside the times (a file written by `cargo
        /// bench --bench instructions`). Default: target/mcpbench/instructions.json
        /// when it was written at this commit.
        #[arg(long)]
        instructions: Option<PathBuf>,
        /// Allocation counts to store beside the times (a file written by `cargo
        /// bench --bench allocations`). Default as for --instructions.
        #[arg(long)]
        allocations: Option<PathBuf>,
        /// Memory figures (live bytes and leak per item) to store beside the
        /// times (a file written by `cargo bench --bench memory`). Default as for
        /// --instructions.
        #[arg(long)]
        memory: Option<PathBuf>,
        /// The commit the run was measured at, when it is not this checkout's
        /// (`scripts/round --dir` measures another checkout). With it, counts are
        /// saved only from the files given, and only if counted at that commit.
        #[arg(long)]
        commit: Option<String>,
    },
}

/// The default counts of `baseline save` of this checkout: `name`
/// (target/mcpbench/instructions.json, allocations.json or memory.json) when it was counted
/// at this checkout's commit (a file left by another commit would give the
/// baseline another version's counts). Every such file records where it was
/// made in `environment`; a file that does not is not taken.
fn current_counts(name: &str) -> Option<PathBuf> {
    /// What every counts file records of where it was made.
    #[derive(serde::Deserialize)]
    struct Made {
        environment: mcpbench_files::env::Environment,
    }
    let path = mcpbench_files::results_dir(&workspace_root()).join(name);
    if !path.exists() {
        return None;
    }
    let counted = mcpbench_files::load::<Made>(&path)
        .ok()?
        .environment
        .git_commit;
    let here = mcpbench_files::env::Environment::capture().git_commit;
    if counted == here {
        Some(path)
    } else {
        eprintln!(
            "note: {} was counted at {counted}, not at {here}: saved without its counts",
            path.display()
        );
        None
    }
}

/// `mcpbench paired`: runs [`report::paired::run`] and writes its file.
fn paired(
    base: &std::path::Path,
    new: &std::path::Path,
    filter: Option<&str>,
    seconds_per_bench: f64,
    out: Option<PathBuf>,
) -> Result<bool, report::ReportError> {
    if !(seconds_per_bench.is_finite() && (0.05..=600.0).contains(&seconds_per_bench)) {
        return Err(report::ReportError::Setting {
            flag: "--seconds-per-bench",
            value: format!("{seconds_per_bench}"),
            reason: "a number of seconds from 0.05 to 600".into(),
        });
    }
    let filter =
        filter
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| report::ReportError::Setting {
                flag: "FILTER",
                value: filter.unwrap_or_default().to_string(),
                reason: format!("not a regex: {e}"),
            })?;
    let selected = |id: &str| filter.as_ref().is_none_or(|f| f.is_match(id));
    let settings = report::paired::PairedSettings {
        seconds_per_bench,
        ..report::paired::default_settings()
    };
    let file = report::paired::run(base, new, &selected, &settings, &mut |line| {
        eprintln!("{line}")
    })
    .map_err(|e| report::ReportError::Invalid {
        path: base.to_path_buf(),
        reason: e.to_string(),
    })?;
    let path =
        out.unwrap_or_else(|| mcpbench_files::results_dir(&workspace_root()).join("paired.json"));
    report::error::write_json(&path, &file)?;
    println!(
        "paired: wrote {} ({} benches)",
        path.display(),
        file.benches.len()
    );
    Ok(true)
}

fn main() -> ExitCode {
    let defaults = ReportPaths::default();
    let baselines = workspace_root().join("baselines");
    let result = match Cli::parse().command {
        Command::Report {
            criterion,
            targets,
            baseline,
            out,
            strict,
        } => {
            let paths = ReportPaths {
                criterion: criterion.unwrap_or(defaults.criterion),
                targets: targets.unwrap_or(defaults.targets),
                out: out.unwrap_or(defaults.out),
                side: defaults.side,
            };
            report::write_report(&paths, baseline.as_deref(), report::REPORT_THRESHOLD_PCT).map(
                |(r, md)| {
                    println!("report: {}", md.display());
                    for row in &r.executive {
                        println!("  {:<60} {:<40} {:?}", row.metric, row.value, row.status);
                    }
                    if !r.missing.is_empty() {
                        println!("  missing from this run: {}", r.missing.join(", "));
                    }
                    !strict || r.all_met()
                },
            )
        }
        Command::Baseline {
            action:
                BaselineAction::Save {
                    name,
                    criterion,
                    instructions,
                    allocations,
                    memory,
                    commit,
                },
        } => match report::baseline::check_name(&name) {
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            Ok(()) => {
                // Counts of this checkout by default; of another checkout
                // (--commit) only from the files given.
                let this_checkout = commit.is_none();
                let default = |given: Option<PathBuf>, name: &str| {
                    given.or_else(|| this_checkout.then(|| current_counts(name)).flatten())
                };
                let instructions = default(instructions, "instructions.json");
                let allocations = default(allocations, "allocations.json");
                let memory = default(memory, "memory.json");
                let criterion = criterion.unwrap_or(defaults.criterion);
                report::save_baseline_with(
                    &name,
                    &report::SaveInputs {
                        criterion_dir: &criterion,
                        instructions: instructions.as_deref(),
                        allocations: allocations.as_deref(),
                        memory: memory.as_deref(),
                        commit: commit.as_deref(),
                    },
                    &baselines,
                )
                .map(|path| {
                    println!("baseline: wrote {}", path.display());
                    true
                })
            }
        },
        Command::Compare {
            base,
            new,
            threshold,
            instructions_threshold,
            allocations_threshold,
            paired,
            allow_removed,
            noise,
            no_noise,
            criterion,
        } => {
            let options = CompareOptions {
                threshold_pct: threshold,
                instructions_threshold_pct: instructions_threshold,
                allocations_threshold_pct: allocations_threshold,
                paired,
                allow_removed,
                noise: match (noise, no_noise) {
                    (Some(p), _) => NoiseChoice::File(p),
                    (None, true) => NoiseChoice::Off,
                    (None, false) => NoiseChoice::ThisMachine,
                },
            };
            report::compare_runs(
                &base,
                new.as_deref(),
                &criterion.unwrap_or(defaults.criterion),
                &baselines,
                &options,
            )
            .map(|(md, regressed)| {
                println!("{md}");
                !regressed
            })
        }
        Command::Paired {
            base,
            new,
            filter,
            seconds_per_bench,
            out,
        } => paired(&base, &new, filter.as_deref(), seconds_per_bench, out),
        Command::Noise {
            runs,
            unstable_above,
            out,
        } => report::save_noise(&runs, &baselines, unstable_above, out.as_deref()).map(
            |(path, file)| {
                println!(
                    "noise: wrote {} ({} benches)",
                    path.display(),
                    file.benches.len()
                );
                let mut unstable: Vec<_> = file
                    .benches
                    .iter()
                    .filter(|(_, n)| n.spread_pct > file.unstable_above_pct)
                    .collect();
                unstable.sort_by(|a, b| b.1.spread_pct.total_cmp(&a.1.spread_pct));
                for (id, n) in unstable {
                    println!("  unstable: {id} (spread {:.1}%)", n.spread_pct);
                }
                true
            },
        ),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

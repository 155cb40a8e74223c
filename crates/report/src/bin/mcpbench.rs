//! `mcpbench`: the report, baseline and compare commands behind `scripts/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcpbench_report::noise::DEFAULT_UNSTABLE_ABOVE_PCT;
use mcpbench_report::{
    self as report, CompareOptions, DEFAULT_INSTRUCTIONS_THRESHOLD_PCT, DEFAULT_THRESHOLD_PCT,
    NoiseChoice, ReportPaths, workspace_root,
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
        /// The commit the run was measured at, when it is not this checkout's
        /// (`scripts/round --dir` measures another checkout).
        #[arg(long)]
        commit: Option<String>,
    },
}

/// The default instruction counts of `baseline save`: target/mcpbench/instructions.json,
/// only when it was counted at the commit being saved (a file left by another
/// commit would give the baseline another version's counts).
fn current_instructions() -> Option<PathBuf> {
    let path = mcpbench_files::results_dir(&workspace_root()).join("instructions.json");
    let file = report::load_instructions(&path).ok()?;
    let here = mcpbench_files::env::Environment::capture().git_commit;
    if file.environment.git_commit == here {
        Some(path)
    } else {
        eprintln!(
            "note: {} was counted at {}, not at {here}: saved without instruction counts",
            path.display(),
            file.environment.git_commit
        );
        None
    }
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
            report::write_report(&paths, baseline.as_deref(), DEFAULT_THRESHOLD_PCT).map(
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
                    commit,
                },
        } => match report::baseline::check_name(&name) {
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            Ok(()) => {
                let counts = instructions.or_else(current_instructions);
                report::save_baseline_of(
                    &name,
                    &criterion.unwrap_or(defaults.criterion),
                    counts.as_deref(),
                    commit.as_deref(),
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
            noise,
            no_noise,
            criterion,
        } => {
            let options = CompareOptions {
                threshold_pct: threshold,
                instructions_threshold_pct: instructions_threshold,
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

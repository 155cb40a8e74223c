//! `mcpbench`: the report, baseline and compare commands behind `scripts/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcpbench::report::{self, DEFAULT_THRESHOLD_PCT, ReportPaths, workspace_root};

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
    /// Compare two baselines, or a baseline with the latest run; exit 1 on a regression.
    Compare {
        /// The base: a baseline name (baselines/NAME.json) or a path.
        base: String,
        /// The new side; default: the latest run in target/criterion.
        new: Option<String>,
        /// Least slowdown, percent, that counts as a regression (when the 95%
        /// intervals are also apart).
        #[arg(long, default_value_t = DEFAULT_THRESHOLD_PCT)]
        threshold: f64,
        /// Criterion's output folder, for the latest run.
        #[arg(long)]
        criterion: Option<PathBuf>,
    },
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
    },
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
            action: BaselineAction::Save { name, criterion },
        } => match report::baseline::check_name(&name) {
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            Ok(()) => {
                report::save_baseline(&name, &criterion.unwrap_or(defaults.criterion), &baselines)
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
            criterion,
        } => report::compare_runs(
            &base,
            new.as_deref(),
            &criterion.unwrap_or(defaults.criterion),
            &baselines,
            threshold,
        )
        .map(|(md, regressed)| {
            println!("{md}");
            !regressed
        }),
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

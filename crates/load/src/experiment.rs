//! What every experiment built on `connections` shares (`compare`, `capacity`,
//! `lifecycle`, `scaling`): each is a plan implementing [`Experiment`], whose
//! [`Experiment::run`] returns its result file and decides nothing about output;
//! [`run`] checks the plan, prepares the [`Setup`], writes the file and its
//! table and maps the file to the exit code.
//!
//! Exit codes: 0 as the experiment defines success; 1 a server failed (or has no
//! capacity); 3 ([`EXIT_NOT_RUN`]) a server could not be started; 4 a capacity
//! search was capped; 2 a bad plan or a file that cannot be written.

use std::path::Path;
use std::process::ExitCode;

use crate::error::LoadError;
use crate::output::write_with_table;
use crate::peers::PeerName;
use crate::procs::Binaries;
use crate::runner::Setup;

pub use crate::output::EXIT_NOT_RUN;

/// One experiment's plan.
pub trait Experiment {
    /// Its result file.
    type File: serde::Serialize;
    /// Its name: the subcommand, the scratch folder under `target/mcpbench/` and
    /// the default result file `target/mcpbench/<NAME>.json`.
    const NAME: &'static str;
    /// A refused plan, by flag.
    fn check(&self) -> Result<(), LoadError>;
    /// The servers, in order.
    fn servers(&self) -> &[PeerName];
    /// Where the result goes when not the default.
    fn out(&self) -> Option<&Path>;
    /// Runs it (the plan checked); the file, not yet written.
    fn run(&self, setup: &Setup) -> impl Future<Output = Result<Self::File, LoadError>>;
    /// Its Markdown table.
    fn table(file: &Self::File) -> String;
    /// The exit code the file calls for, and the lines that say why when not 0.
    fn verdict(file: &Self::File) -> (u8, Vec<String>);
}

/// Checks `plan`, runs it, writes its file and table, prints why it did not
/// pass (if it did not) and returns the exit code.
pub async fn run<E: Experiment>(plan: E, bins: Binaries) -> ExitCode {
    let ran = async {
        plan.check()?;
        let setup = Setup::new(plan.servers(), E::NAME, bins)?;
        let file = plan.run(&setup).await?;
        let out = plan.out().map_or_else(
            || mcpbench_files::results_dir(&setup.root).join(format!("{}.json", E::NAME)),
            Path::to_path_buf,
        );
        write_with_table(&out, &file, &E::table(&file), E::NAME)?;
        Ok::<_, LoadError>(file)
    };
    match ran.await {
        Ok(file) => {
            let (code, why) = E::verdict(&file);
            for line in why {
                eprintln!("mcpbench-load: {}: {line}", E::NAME);
            }
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("mcpbench-load: {e}");
            ExitCode::from(2)
        }
    }
}

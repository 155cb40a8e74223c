//! What the benches that are not Criterion benches (memory accounting, the
//! sustained run) share: Criterion's command line (`--list`, `--test`, filters,
//! `--profile-time`), so `cargo bench` treats all eight alike.

use std::path::PathBuf;

use crate::args::BenchArgs;

/// A custom bench harness.
pub struct Harness {
    /// The parsed command line.
    pub args: BenchArgs,
}

impl Harness {
    /// Reads the command line.
    pub fn from_env() -> Harness {
        Harness {
            args: BenchArgs::from_env(),
        }
    }

    /// In `--list` mode prints the ids as Criterion does (`id: benchmark`) and
    /// returns true: the caller should then exit.
    pub fn list(&self, ids: &[&str]) -> bool {
        if self.args.list {
            for id in ids.iter().filter(|id| self.args.selects(id)) {
                println!("{id}: benchmark");
            }
        }
        self.args.list
    }

    /// True when bench `id` should run (it passes the filter).
    pub fn selected(&self, id: &str) -> bool {
        self.args.selects(id)
    }

    /// `--test`: run once at a reduced size, to prove the bench works.
    pub fn quick(&self) -> bool {
        self.args.test
    }

    /// With `--profile-time`, where the flamegraph of `id` goes: the same place
    /// Criterion puts them, `target/criterion/<id>/profile/flamegraph.svg`. An
    /// explicit `--flamegraph FILE` wins.
    pub fn flamegraph_path(&self, id: &str) -> Option<PathBuf> {
        if let Some(file) = self.args.option("flamegraph").filter(|f| !f.is_empty()) {
            return Some(PathBuf::from(file));
        }
        self.args.profile_time.map(|_| {
            crate::results::target_dir()
                .join("criterion")
                .join(id)
                .join("profile")
                .join("flamegraph.svg")
        })
    }
}

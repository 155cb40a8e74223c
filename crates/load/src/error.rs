//! What can go wrong in a load run, naming the input or the process concerned.

use std::path::PathBuf;

/// An error of the load library. Each names what it is about: the flag, the
/// file, the program or the server.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A plan that cannot run: the flag and why.
    #[error("{0}")]
    Plan(String),
    /// A server `--servers` named is not installed here.
    #[error("{name} is not installed ({} missing): {hint}", missing.display())]
    NotInstalled {
        /// The server.
        name: &'static str,
        /// The file that is not there.
        missing: PathBuf,
        /// How to install it.
        hint: &'static str,
    },
    /// A file or folder could not be made, read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `create`, `write`, `read`.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A child process could not be started.
    #[error("cannot start {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A child process misbehaved: it exited at once, printed no URL, ...
    #[error("{program}: {why}")]
    Child {
        /// The program, as the error names it.
        program: String,
        /// What happened.
        why: String,
    },
    /// A result or shard file that cannot be used.
    #[error(transparent)]
    File(#[from] mcpbench_files::FileError),
    /// A run that could not be made (the harness's own phases; their messages
    /// name the phase and the process).
    #[error("{0}")]
    Run(String),
    /// The server to load could not be reached or gave nothing to call
    /// (`run --discover`): exit 3, as "not run", not 2 (a bad plan).
    #[error("{0}")]
    Unreachable(String),
}

impl LoadError {
    /// An [`LoadError::Io`] error.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> LoadError {
        LoadError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<String> for LoadError {
    fn from(s: String) -> LoadError {
        LoadError::Run(s)
    }
}

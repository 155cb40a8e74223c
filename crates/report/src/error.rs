//! What can be wrong with the input of the report, baseline and compare commands.
//! Every error names the file (or directory) it is about.

use std::io;
use std::path::{Path, PathBuf};

use mcpbench_files::FileError;
use serde::de::DeserializeOwned;

/// A report input that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file the input needs is not there.
    #[error("{}: missing ({what})", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// What it should have held.
        what: &'static str,
    },
    /// A file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file is not valid JSON/TOML of the expected shape (truncated, edited...).
    #[error("{}: corrupt or truncated: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A file declares a schema this version does not know.
    #[error("{}: unknown schema {found:?} (expected {expected:?})", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// The schema it declares.
        found: String,
        /// The schema this version reads.
        expected: &'static str,
    },
    /// Percentiles that cannot come from one distribution (p95 below p50...).
    #[error("{}: percentiles of {id} are out of order: {detail}", path.display())]
    Percentiles {
        /// The file.
        path: PathBuf,
        /// The bench id.
        id: String,
        /// Which pair is out of order.
        detail: String,
    },
    /// A value that cannot be right (a zero time, a negative count...).
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A setting out of its range (a threshold that is not a positive
    /// percentage); `flag` is the command-line flag that sets it.
    #[error("{flag} {value}: {reason}")]
    Setting {
        /// The flag (`--threshold`).
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is expected.
        reason: String,
    },
    /// A baseline name that is not a plain name (a path, a `.json` ending...):
    /// saving it would write outside `baselines/` or as `NAME.json.json`.
    #[error(
        "baseline name {name:?} {reason}: names are letters, digits, '-', '_' and '.', not starting with '.', saved as baselines/NAME.json"
    )]
    Name {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No Criterion result at all.
    #[error("{}: no Criterion results here (run `scripts/bench` first)", .0.display())]
    NoResults(PathBuf),
    /// A baseline with no bench in common with the run it is compared to.
    #[error("{}: shares no bench with the other side: it comes from another bench set", path.display())]
    ForeignBaseline {
        /// The baseline file.
        path: PathBuf,
    },
    /// A file read through its type in `mcpbench-files` (`connections.json`, a
    /// baseline, a noise file) with a field missing or mistyped, or not JSON; the
    /// message names the file and the field.
    #[error("{0}")]
    File(FileError),
    /// An output could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl ReportError {
    /// An error of a file read through its type in `mcpbench-files`, in the
    /// report's terms: a file not there is [`ReportError::Missing`] (with `what` it
    /// should hold), an unknown schema and impossible figures keep their kinds, and
    /// a malformed field stays as that crate names it (file and field path).
    pub fn from_file(e: FileError, what: &'static str) -> ReportError {
        match e {
            FileError::Read { path, source } if source.kind() == io::ErrorKind::NotFound => {
                ReportError::Missing { path, what }
            }
            FileError::Read { path, source } => ReportError::Io { path, source },
            FileError::Write { path, source } => ReportError::Write { path, source },
            FileError::Schema {
                source_name,
                found,
                expected,
            } => ReportError::Schema {
                path: source_name.into(),
                found,
                expected,
            },
            FileError::Invalid {
                source_name,
                reason,
            } => ReportError::Invalid {
                path: source_name.into(),
                reason,
            },
            shape @ FileError::Shape { .. } => ReportError::File(shape),
        }
    }
}

/// Reads `path` as JSON of type `T`; `what` says what the file should hold.
pub fn load_json<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<T, ReportError> {
    let text = read(path, what)?;
    serde_json::from_str(&text).map_err(|e| ReportError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads `path` as text.
pub fn read(path: &Path, what: &'static str) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ReportError::Missing {
            path: path.to_path_buf(),
            what,
        },
        _ => ReportError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })
}

/// Writes `text` to `path`, creating folders.
pub fn write(path: &Path, text: &str) -> Result<(), ReportError> {
    let fail = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}

/// Writes `value` as pretty JSON (and a newline) to `path`, creating folders.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ReportError> {
    mcpbench_files::write_json(path, value, false)
        .map(|_| ())
        .map_err(|e| ReportError::from_file(e, "a file the report writes"))
}

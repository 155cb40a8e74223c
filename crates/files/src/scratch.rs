//! The unit tests' scratch directories: unique per test and process, removed
//! when dropped (a test's files never outlive it in the system's temp folder).

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A scratch directory, or a file path inside one; derefs to that path.
pub(crate) struct Scratch {
    dir: PathBuf,
    path: PathBuf,
}

impl Scratch {
    /// A new empty directory named after `name`.
    pub(crate) fn dir(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("mcpbench-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch {
            path: dir.clone(),
            dir,
        }
    }

    /// `file_name` in a new directory named after `name`, holding `text`.
    pub(crate) fn file(name: &str, file_name: &str, text: &str) -> Scratch {
        let mut s = Scratch::dir(name);
        s.path = s.dir.join(file_name);
        std::fs::write(&s.path, text).unwrap();
        s
    }
}

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

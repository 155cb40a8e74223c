//! The environment every result is recorded with (docs/method.md: CPU model, core count,
//! OS, rustc version, crate version, git commit, date).

use serde::{Deserialize, Serialize};

/// Where and when a result was measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// CPU model name, from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// CPUs available to this process.
    pub cores: usize,
    /// OS name and kernel release.
    pub os: String,
    /// `rustc --version` of the compiler that built the bench.
    pub rustc: String,
    /// Version of the `mcpbench` crate.
    pub crate_version: String,
    /// `git rev-parse HEAD` of the working tree, with `-dirty` when it has changes.
    pub git_commit: String,
    /// When the environment was captured (UTC, RFC 3339).
    pub date: String,
}

impl Environment {
    /// Reads the environment of this process now. Fields that cannot be read are
    /// `"unknown"`, never an error: a result without its CPU model is still a result.
    pub fn capture() -> Environment {
        Environment {
            cpu_model: cpu_model().unwrap_or_else(unknown),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: os().unwrap_or_else(unknown),
            rustc: env!("MCPBENCH_RUSTC_VERSION").to_string(),
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: git_commit().unwrap_or_else(unknown),
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }
}

fn unknown() -> String {
    "unknown".to_string()
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn os() -> Option<String> {
    let release = std::fs::read_to_string("/etc/os-release").ok()?;
    let name = release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())?;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Some(format!("{name}, Linux {}", kernel.trim()))
}

fn git_commit() -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = run(&["rev-parse", "HEAD"])?;
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_fills_every_field() {
        let e = Environment::capture();
        assert!(e.cores >= 1);
        assert!(e.rustc.starts_with("rustc "), "{}", e.rustc);
        assert_eq!(e.crate_version, env!("CARGO_PKG_VERSION"));
        assert!(e.date.ends_with('Z') && e.date.len() == 20, "{}", e.date);
        for field in [&e.cpu_model, &e.os, &e.git_commit] {
            assert!(!field.is_empty());
        }
    }
}

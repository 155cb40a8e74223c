//! Everything one report reads: the Criterion run and the side files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::criterion::{Measured, read_run};
use crate::error::{ReportError, load_json};
use mcpbench_files::ConnectionsFile;
use mcpbench_files::bench::{MEMORY_SCHEMA, MemoryFile, SUSTAINED_SCHEMA, SustainedFile};
use mcpbench_files::capacity::CapacityFile;
use mcpbench_files::compare::CompareFile;
use mcpbench_files::latency::{LATENCY_SCHEMA, LatencyFile};
use mcpbench_files::lifecycle::{LifecycleFile, ScalingFile};
use mcpbench_files::listen::ListenFile;
use mcpbench_files::scenario::ScenarioFile;

/// A run's results.
#[derive(Debug, Clone)]
pub struct Run {
    /// Criterion results by bench id.
    pub benches: BTreeMap<String, Measured>,
    /// Latency side files by bench id.
    pub latency: BTreeMap<String, LatencyFile>,
    /// The memory test's file, if it ran.
    pub memory: Option<MemoryFile>,
    /// The sustained test's file, if it ran.
    pub sustained: Option<SustainedFile>,
    /// `scripts/load connections`' result ([`mcpbench_files::CONNECTIONS_SCHEMA`]), if it ran.
    pub connections: Option<ConnectionsFile>,
    /// The same load against the bare ceiling (`--server bare`), if it ran.
    pub connections_bare: Option<ConnectionsFile>,
    /// The load over Streamable HTTP (`--transport http`), if it ran.
    pub connections_http: Option<ConnectionsFile>,
    /// The same against the bare hyper ceiling, if it ran.
    pub connections_http_bare: Option<ConnectionsFile>,
    /// `scripts/load compare`'s result (the same load on several MCP servers).
    pub compare: Option<CompareFile>,
    /// `scripts/load capacity`'s result (each server's capacity at the SLO).
    pub capacity: Option<CapacityFile>,
    /// `scripts/load lifecycle`'s result (sessions ended, abandoned, past the cap).
    pub lifecycle: Option<LifecycleFile>,
    /// `scripts/load scaling`'s result (growing session counts).
    pub scaling: Option<ScalingFile>,
    /// `scripts/load run`'s result (a scenario: a row per operation).
    pub scenario: Option<ScenarioFile>,
    /// `scripts/load listen`'s results (every `listen/*.json`: `listen.json`
    /// and any other run written there with `--out`), by file name.
    pub listen: Vec<ListenFile>,
}

/// Reads `compare.json` / `capacity.json` if there, through their writer's types.
fn load_side<T>(
    path: &Path,
    what: &'static str,
    load: fn(&Path) -> Result<T, mcpbench_files::FileError>,
) -> Result<Option<T>, ReportError> {
    if !path.exists() {
        return Ok(None);
    }
    load(path)
        .map(Some)
        .map_err(|e| ReportError::from_file(e, what))
}

/// Every `*.json` in `dir` (none when it is missing), by file name, each a
/// `listen` result: one that is not is an error naming it.
fn load_listens(dir: &Path) -> Result<Vec<ListenFile>, ReportError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            ListenFile::load(p)
                .map_err(|e| ReportError::from_file(e, "a result of `scripts/load listen`"))
        })
        .collect()
}

/// Reads `connections.json` if it is there, through the type its writer
/// (`mcpbench-load`) uses: a missing or mistyped field is an error naming it.
fn load_connections(path: &Path) -> Result<Option<ConnectionsFile>, ReportError> {
    if !path.exists() {
        return Ok(None);
    }
    ConnectionsFile::load(path)
        .map(Some)
        .map_err(|e| ReportError::from_file(e, "the result of `scripts/load connections`"))
}

/// Checks a latency file: known schema, values present, percentiles in order.
pub fn check_latency(path: &Path, l: &LatencyFile) -> Result<(), ReportError> {
    if l.schema != LATENCY_SCHEMA {
        return Err(ReportError::Schema {
            path: path.to_path_buf(),
            found: l.schema.clone(),
            expected: LATENCY_SCHEMA,
        });
    }
    if l.count == 0 {
        return Err(ReportError::Invalid {
            path: path.to_path_buf(),
            reason: format!("{}: zero samples", l.id),
        });
    }
    let order = [
        ("min", l.min),
        ("p50", l.p50),
        ("p95", l.p95),
        ("p99", l.p99),
        ("p99.9", l.p999),
        ("max", l.max),
    ];
    for pair in order.windows(2) {
        let ((a, va), (b, vb)) = (pair[0], pair[1]);
        if va > vb {
            return Err(ReportError::Percentiles {
                path: path.to_path_buf(),
                id: l.id.clone(),
                detail: format!("{a} = {va} ns > {b} = {vb} ns"),
            });
        }
    }
    Ok(())
}

fn schema_of(path: &Path, what: &'static str) -> Result<String, ReportError> {
    #[derive(serde::Deserialize)]
    struct Tag {
        schema: Option<String>,
    }
    Ok(load_json::<Tag>(path, what)?.schema.unwrap_or_default())
}

fn optional<T: serde::de::DeserializeOwned>(
    path: &Path,
    schema: &'static str,
    what: &'static str,
) -> Result<Option<T>, ReportError> {
    if !path.exists() {
        return Ok(None);
    }
    let found = schema_of(path, what)?;
    if found != schema {
        return Err(ReportError::Schema {
            path: path.to_path_buf(),
            found,
            expected: schema,
        });
    }
    load_json(path, what).map(Some)
}

fn latency_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReportError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            latency_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

impl Run {
    /// Reads Criterion's folder and this project's side-file folder.
    pub fn read(criterion_dir: &Path, side_dir: &Path) -> Result<Run, ReportError> {
        let benches = read_run(criterion_dir)?;
        let mut paths = Vec::new();
        latency_files(&side_dir.join("latency"), &mut paths)?;
        paths.sort();
        let mut latency = BTreeMap::new();
        for path in paths {
            let found = schema_of(&path, "a latency side file")?;
            if found != LATENCY_SCHEMA {
                return Err(ReportError::Schema {
                    path,
                    found,
                    expected: LATENCY_SCHEMA,
                });
            }
            let l: LatencyFile = load_json(&path, "a latency side file")?;
            check_latency(&path, &l)?;
            latency.insert(l.id.clone(), l);
        }
        let memory_path = side_dir.join("memory.json");
        let memory: Option<MemoryFile> =
            optional(&memory_path, MEMORY_SCHEMA, "the memory test's results")?;
        let sustained_path = side_dir.join("sustained.json");
        let sustained: Option<SustainedFile> = optional(
            &sustained_path,
            SUSTAINED_SCHEMA,
            "the sustained test's results",
        )?;
        if let Some(s) = &sustained {
            check_latency(&sustained_path, &s.latency)?;
        }
        let connections = load_connections(&side_dir.join("connections.json"))?;
        let connections_bare = load_connections(&side_dir.join("connections-bare.json"))?;
        let connections_http = load_connections(&side_dir.join("connections-http.json"))?;
        let connections_http_bare = load_connections(&side_dir.join("connections-http-bare.json"))?;
        let compare = load_side(
            &side_dir.join("compare.json"),
            "the result of `scripts/load compare`",
            CompareFile::load,
        )?;
        let capacity = load_side(
            &side_dir.join("capacity.json"),
            "the result of `scripts/load capacity`",
            CapacityFile::load,
        )?;
        let lifecycle = load_side(
            &side_dir.join("lifecycle.json"),
            "the result of `scripts/load lifecycle`",
            LifecycleFile::load,
        )?;
        let scaling = load_side(
            &side_dir.join("scaling.json"),
            "the result of `scripts/load scaling`",
            ScalingFile::load,
        )?;
        let scenario = load_side(
            &side_dir.join("scenario.json"),
            "the result of `scripts/load run`",
            ScenarioFile::load,
        )?;
        let listen = load_listens(&side_dir.join("listen"))?;
        Ok(Run {
            listen,
            benches,
            latency,
            memory,
            sustained,
            connections,
            connections_bare,
            connections_http,
            connections_http_bare,
            compare,
            capacity,
            lifecycle,
            scaling,
            scenario,
        })
    }
}

//! `generations.json`, written by `mcpbench-load generations`: which protocol
//! generation each server answers (2025-11-25: `initialize` and a session;
//! 2026-07-28: stateless, `server/discover`), found by asking it, and the tools it
//! lists in each (a server with `touch` can be driven by `listen`).

use serde::{Deserialize, Serialize};

use crate::{Invalid, invalid};

/// The schema tag of [`GenerationsFile`].
pub const GENERATIONS_SCHEMA: &str = "mcpbench-generations/1";

/// Every server asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationsFile {
    /// [`GENERATIONS_SCHEMA`].
    pub schema: String,
    /// One entry per server, in the order asked.
    pub servers: Vec<GenerationsEntry>,
}

/// One server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationsEntry {
    /// `mcpbench`, `rmcp`, `typescript-v2`, ..., or `target`.
    pub name: String,
    /// What it is (SDK and version), or its URL.
    pub description: String,
    /// Why it could not be asked (not installed, did not start); `None` when it was.
    pub not_run: Option<String>,
    /// Each generation asked, 2025-11-25 first.
    pub generations: Vec<GenerationProbe>,
}

/// One generation of one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationProbe {
    /// `2025-11-25` or `2026-07-28`.
    pub protocol: String,
    /// The conversation opened and `tools/list` answered with a result.
    pub served: bool,
    /// Why not, when not served.
    pub why: Option<String>,
    /// The tools `tools/list` named.
    pub tools: Vec<String>,
}

impl GenerationProbe {
    /// Served, with the `touch` tool `listen` triggers updates with.
    pub fn can_listen(&self) -> bool {
        self.served && self.tools.iter().any(|t| t == "touch")
    }
}

impl GenerationsFile {
    /// Reads `path`: its schema tag, its fields, and [`GenerationsFile::check`].
    pub fn load(path: &std::path::Path) -> Result<GenerationsFile, crate::FileError> {
        crate::load_checked(path, GENERATIONS_SCHEMA, GenerationsFile::check)
    }

    /// Refuses a file that contradicts itself.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.schema != GENERATIONS_SCHEMA {
            return Err(invalid!(
                "schema: {:?}, not {GENERATIONS_SCHEMA}",
                self.schema
            ));
        }
        for s in &self.servers {
            if s.not_run.is_some() && !s.generations.is_empty() {
                return Err(invalid!(
                    "servers.{}: not run, yet generations were asked",
                    s.name
                ));
            }
            for g in &s.generations {
                if g.served == g.why.is_some() {
                    return Err(invalid!(
                        "servers.{}.{}: served is {} and why is {:?}",
                        s.name,
                        g.protocol,
                        g.served,
                        g.why
                    ));
                }
            }
        }
        Ok(())
    }

    /// The table: a row per server, a column per generation (and whether
    /// `listen` can drive it there).
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "| server | 2025-11-25 (initialize, session) | 2026-07-28 (stateless) | `listen` (a `touch` tool) |"
        );
        let _ = writeln!(o, "|---|---|---|---|");
        for s in &self.servers {
            if let Some(why) = &s.not_run {
                let _ = writeln!(o, "| {} | not run: {why} | | |", s.name);
                continue;
            }
            let cell = |protocol: &str| {
                s.generations
                    .iter()
                    .find(|g| g.protocol == protocol)
                    .map_or("not asked".to_string(), |g| match &g.why {
                        None => "served".into(),
                        Some(why) => format!("no: {why}"),
                    })
            };
            let listen: Vec<&str> = s
                .generations
                .iter()
                .filter(|g| g.can_listen())
                .map(|g| g.protocol.as_str())
                .collect();
            let listen = if listen.is_empty() {
                "no".to_string()
            } else {
                listen.join(", ")
            };
            let _ = writeln!(
                o,
                "| {} ({}) | {} | {} | {listen} |",
                s.name,
                s.description,
                cell("2025-11-25"),
                cell("2026-07-28")
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(protocol: &str, why: Option<&str>, tools: &[&str]) -> GenerationProbe {
        GenerationProbe {
            protocol: protocol.into(),
            served: why.is_none(),
            why: why.map(String::from),
            tools: tools.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn the_table_says_what_each_serves_and_a_contradiction_is_refused() {
        let mut f = GenerationsFile {
            schema: GENERATIONS_SCHEMA.into(),
            servers: vec![GenerationsEntry {
                name: "old".into(),
                description: "an SDK".into(),
                not_run: None,
                generations: vec![
                    probe("2025-11-25", None, &["echo", "touch"]),
                    probe("2026-07-28", Some("server/discover refused"), &[]),
                ],
            }],
        };
        f.check().expect("consistent");
        let t = f.table();
        assert!(
            t.contains("| old (an SDK) | served | no: server/discover refused | 2025-11-25 |"),
            "{t}"
        );
        f.servers[0].generations[1].served = true;
        let e = f.check().expect_err("served with a reason").0;
        assert!(e.contains("servers.old.2026-07-28"), "{e}");
    }
}

//! What crosses a child's stdin: one JSON object per line, typed here and read
//! by the same type. The harness sends a shard its plan, then the common start;
//! an experiment sends its load child the plan. (Out of a shard come
//! [`crate::counters::ClientReport`] lines; out of an experiment's load, its
//! result file.) Closing stdin ends a shard, whatever it is doing.

use crate::error::LoadError;
use serde::{Deserialize, Serialize};

use crate::cli::{Plan, StartAt};

/// One line to a child's stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToChild {
    /// What to run (the first line, for `mcpbench-load child`).
    Plan {
        /// The whole plan.
        plan: Box<Plan>,
    },
    /// Start the calls at this instant (to a shard of the local harness).
    Go {
        /// An RFC 3339 instant.
        #[serde(with = "start_at")]
        at: StartAt,
    },
}

impl ToChild {
    /// The message as one line, newline included; an error names what could not
    /// be written (a path that is not UTF-8, say).
    pub fn line(&self) -> Result<String, LoadError> {
        serde_json::to_string(self)
            .map(|text| text + "\n")
            .map_err(|e| {
                LoadError::Run(format!(
                    "the message to a child cannot be written as JSON: {e}"
                ))
            })
    }

    /// Reads one line, naming what was expected when it is something else.
    pub fn parse(line: &str) -> Result<ToChild, LoadError> {
        serde_json::from_str(line.trim()).map_err(|e| {
            LoadError::Run(format!("a JSON message on stdin ({{\"kind\":\"plan\"|\"go\",...}}) is expected, got {line:?}: {e}"))
        })
    }
}

mod start_at {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::cli::StartAt;

    pub fn serialize<S: Serializer>(at: &StartAt, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StartAt, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Cmd};

    fn parsed(args: &[&str]) -> Plan {
        let cli = Cli::try_parse_from(["mcpbench-load", "connections"].iter().chain(args)).unwrap();
        match cli.command {
            Cmd::Connections(p) => p,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_plan_crosses_stdin_whole() {
        let mut plan = parsed(&[
            "--target",
            "http://127.0.0.1:8000/mcp",
            "--count",
            "300",
            "--rate",
            "2.5",
            "--protocol",
            "2026-07-28",
            "--tool",
            "echo",
            "--arguments",
            r#"{"text":"hi"}"#,
            "--shard",
            "1/3",
            "--start-at",
            "2026-12-03T12:00:00Z",
            "--source",
            "127.0.0.3",
            "--abandon",
            "--give-up-after",
            "7",
        ]);
        plan.go_on_stdin = true;
        let line = ToChild::Plan {
            plan: Box::new(plan.clone()),
        }
        .line()
        .unwrap();
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        assert!(line.contains(r#""protocol":"2026-07-28""#), "{line}");
        assert!(line.contains(r#""shard":"1/3""#), "{line}");
        assert_eq!(
            ToChild::parse(&line).unwrap(),
            ToChild::Plan {
                plan: Box::new(plan)
            }
        );
        let go = ToChild::Go {
            at: "2026-12-03T12:00:00.5Z".parse().unwrap(),
        };
        assert_eq!(ToChild::parse(&go.line().unwrap()).unwrap(), go);
    }

    #[test]
    fn anything_else_on_stdin_is_refused_saying_what_was_expected() {
        for bad in ["go 2026-12-03T12:00:00Z", "", r#"{"kind":"stop"}"#] {
            let e = ToChild::parse(bad).unwrap_err();
            assert!(e.to_string().contains("is expected"), "{e}");
        }
        let e = ToChild::parse(r#"{"kind":"go","at":"yesterday"}"#).unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
    }
}

//! A scenario as users write it (TOML, `mcpbench-load run SCENARIO.toml`) or as
//! the one-liner flags make it: the target, stages, churn, a weighted mix of
//! operations and thresholds. Unknown keys are refused, and every refusal names
//! the file and the key.

use std::path::Path;

use serde::Deserialize;

pub use crate::cli::Arrivals;
use crate::cli::Protocol;
use crate::error::LoadError;

/// A scenario file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// `http://HOST:PORT/PATH` or `tcp://HOST:PORT` (`--target` overrides it).
    pub target: Option<String>,
    /// `2025-11-25`, `2026-07-28` or `auto` (default `2025-11-25`).
    pub protocol: Option<Protocol>,
    /// Connections open at the start, before the first stage ramps them (default
    /// 0: the first stage ramps up from none).
    #[serde(default)]
    pub start_connections: u64,
    /// Run in order.
    #[serde(default, rename = "stage")]
    pub stages: Vec<Stage>,
    /// Session churn (absent: one session per connection while it is active).
    pub churn: Option<Churn>,
    /// The mix.
    #[serde(default, rename = "operation")]
    pub operations: Vec<Operation>,
    /// Assertions on the result.
    #[serde(default, rename = "threshold")]
    pub thresholds: Vec<ThresholdSpec>,
    /// Call every tool the target lists, with arguments made from its schema.
    #[serde(default)]
    pub discover: bool,
}

/// One stage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Seconds.
    pub duration_s: f64,
    /// Connections at the stage's end, ramped to linearly from the previous
    /// stage's (0 before the first).
    pub connections: u64,
    /// Calls per second per connection during the stage.
    pub rate_per_connection: f64,
    /// How calls arrive.
    #[serde(default)]
    pub arrivals: Arrivals,
}

/// Session churn.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    /// A new session (a new connection, `initialize` or `server/discover`, and
    /// DELETE of the old one) every this many calls; 1: one per call.
    pub session_calls: u64,
}

/// One operation of the mix.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// The JSON-RPC method: `tools/call`, `tools/list`, `resources/list`,
    /// `resources/read`, `prompts/list`, `prompts/get`, `ping`, ... any method.
    pub method: String,
    /// `tools/call`: the tool.
    pub tool: Option<String>,
    /// `tools/call`, `prompts/get`: the arguments (a table).
    pub arguments: Option<serde_json::Value>,
    /// `resources/read`: the resource's URI.
    pub uri: Option<String>,
    /// `prompts/get`: the prompt.
    pub prompt: Option<String>,
    /// Any other method's params (a table), sent as written.
    pub params: Option<serde_json::Value>,
    /// Its share of the calls: weight / the sum of weights (default 1).
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// `[[threshold]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// `p99<15ms`, `errors<0.1%`, `rate>=900`, `tools/call:search p95<50ms`.
    pub expr: String,
}

impl Scenario {
    /// Reads the scenario file at `path`.
    pub fn load(path: &Path) -> Result<Scenario, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::io("read", path, e))?;
        Scenario::parse(&text, &path.display().to_string())
    }

    /// Parses `text`, read from `source` (named in errors).
    pub fn parse(text: &str, source: &str) -> Result<Scenario, LoadError> {
        toml::from_str(text).map_err(|e| LoadError::Plan(format!("{source}: {e}")))
    }
}

impl Operation {
    /// A `tools/call` of `tool` with `arguments`, weight 1.
    pub fn call(tool: &str, arguments: serde_json::Value) -> Operation {
        Operation {
            method: "tools/call".into(),
            tool: Some(tool.into()),
            arguments: Some(arguments),
            uri: None,
            prompt: None,
            params: None,
            weight: 1,
        }
    }

    /// How results and thresholds name it: the method, and the tool, prompt or
    /// resource (`tools/call:search`).
    pub fn label(&self) -> String {
        match [&self.tool, &self.prompt, &self.uri]
            .into_iter()
            .flatten()
            .next()
        {
            Some(what) => format!("{}:{what}", self.method),
            None => self.method.clone(),
        }
    }

    /// The members of its `params` object, as JSON text without the braces, and
    /// the name for the `Mcp-Name` header; or why the operation is incomplete,
    /// naming it as `operation N` (from 1).
    pub fn params(&self, n: usize) -> Result<(String, Option<String>), LoadError> {
        let bad = |why: String| LoadError::Plan(format!("operation {n} ({}): {why}", self.method));
        if self.method.is_empty() || self.method.contains(['"', '\\']) {
            return Err(bad(
                "a method name without quotes or backslashes is expected".into(),
            ));
        }
        if self.weight == 0 {
            return Err(bad("weight 0: a weight of at least 1 is expected".into()));
        }
        let object = |v: &serde_json::Value, key: &str| -> Result<(), LoadError> {
            if v.is_object() {
                Ok(())
            } else {
                Err(bad(format!("{key} {v}: a table (JSON object) is expected")))
            }
        };
        let members = |map: serde_json::Map<String, serde_json::Value>| {
            let text = serde_json::Value::Object(map).to_string();
            text[1..text.len() - 1].to_string()
        };
        let mut map = match &self.params {
            Some(p) => {
                object(p, "params")?;
                p.as_object().cloned().unwrap_or_default()
            }
            None => serde_json::Map::new(),
        };
        let mut name = None;
        let mut set = |key: &str, v: serde_json::Value| -> Result<(), LoadError> {
            if map.insert(key.into(), v).is_some() {
                return Err(bad(format!("params.{key} is also given by its own key")));
            }
            Ok(())
        };
        match self.method.as_str() {
            "tools/call" => {
                let Some(tool) = &self.tool else {
                    return Err(bad("`tool` is required".into()));
                };
                set("name", tool.as_str().into())?;
                let args = self.arguments.clone().unwrap_or(serde_json::json!({}));
                object(&args, "arguments")?;
                set("arguments", args)?;
                name = Some(tool.clone());
            }
            "prompts/get" => {
                let Some(prompt) = &self.prompt else {
                    return Err(bad("`prompt` is required".into()));
                };
                set("name", prompt.as_str().into())?;
                if let Some(args) = &self.arguments {
                    object(args, "arguments")?;
                    set("arguments", args.clone())?;
                }
                name = Some(prompt.clone());
            }
            "resources/read" => {
                let Some(uri) = &self.uri else {
                    return Err(bad("`uri` is required".into()));
                };
                set("uri", uri.as_str().into())?;
                name = Some(uri.clone());
            }
            _ => {
                for (key, given) in [
                    ("tool", self.tool.is_some()),
                    ("prompt", self.prompt.is_some()),
                    ("uri", self.uri.is_some()),
                    ("arguments", self.arguments.is_some()),
                ] {
                    if given {
                        return Err(bad(format!(
                            "`{key}` belongs to another method; put it in `params`"
                        )));
                    }
                }
            }
        }
        Ok((members(map), name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_s_example_parses() {
        let s = Scenario::parse(
            r#"
target = "http://127.0.0.1:8000/mcp"
protocol = "2025-11-25"
[[stage]]
duration_s = 30
connections = 1000
rate_per_connection = 2
[[stage]]
duration_s = 10
connections = 0
rate_per_connection = 2
arrivals = "poisson"
[churn]
session_calls = 10
[[operation]]
method = "tools/call"
tool = "search"
arguments = { query = "rust" }
weight = 3
[[operation]]
method = "tools/list"
weight = 1
[[threshold]]
expr = "p99<15ms"
"#,
            "s.toml",
        )
        .unwrap();
        assert_eq!(s.protocol, Some(Protocol::Handshake));
        assert_eq!(s.stages.len(), 2);
        assert_eq!(s.stages[1].arrivals, Arrivals::Poisson);
        assert_eq!(s.churn, Some(Churn { session_calls: 10 }));
        assert_eq!(s.operations[0].label(), "tools/call:search");
        assert_eq!(
            s.operations[0].params(1).unwrap(),
            (
                r#""arguments":{"query":"rust"},"name":"search""#.to_string(),
                Some("search".to_string())
            )
        );
        assert_eq!(s.operations[1].params(2).unwrap(), (String::new(), None));
        assert_eq!(s.thresholds[0].expr, "p99<15ms");
    }

    #[test]
    fn bad_files_are_refused_with_the_file_and_the_key_named() {
        for (text, expected) in [
            (
                "[[stage]]\nduration_s = 1\nconnections = 1\nrate = 2\n",
                "unknown field `rate`",
            ),
            (
                "[[stage]]\nduration_s = 1\nconnections = 1\n",
                "missing field `rate_per_connection`",
            ),
            ("protocol = \"2024\"\n", "protocol"),
            (
                "[[stage]]\nduration_s = 1\nconnections = -1\nrate_per_connection = 1\n",
                "connections",
            ),
            (
                "[[operation]]\nmethod = \"ping\"\nweight = \"3\"\n",
                "weight",
            ),
            (
                "[[stage]]\nduration_s = 1\nconnections = 1\nrate_per_connection = 1\narrivals = \"burst\"\n",
                "arrivals",
            ),
            ("targt = \"x\"\n", "unknown field `targt`"),
        ] {
            let e = Scenario::parse(text, "bad.toml").unwrap_err().to_string();
            assert!(
                e.contains("bad.toml") && e.contains(expected),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn incomplete_operations_are_refused_by_number() {
        let op = |toml: &str| {
            Scenario::parse(&format!("[[operation]]\n{toml}\n"), "s.toml")
                .unwrap()
                .operations[0]
                .clone()
        };
        for (toml, expected) in [
            (
                "method = \"tools/call\"",
                "operation 1 (tools/call): `tool` is required",
            ),
            ("method = \"resources/read\"", "`uri` is required"),
            ("method = \"prompts/get\"", "`prompt` is required"),
            (
                "method = \"ping\"\ntool = \"x\"",
                "`tool` belongs to another method",
            ),
            (
                "method = \"tools/call\"\ntool = \"x\"\narguments = 3",
                "arguments 3: a table",
            ),
            ("method = \"ping\"\nweight = 0", "weight 0"),
            (
                "method = \"tools/call\"\ntool = \"x\"\nparams = { name = \"y\" }",
                "params.name is also given",
            ),
        ] {
            let e = op(toml).params(1).unwrap_err().to_string();
            assert!(e.contains(expected), "{toml}: {e}");
        }
        let read = op("method = \"resources/read\"\nuri = \"mem://a\"");
        assert_eq!(read.params(1).unwrap().0, r#""uri":"mem://a""#);
        assert_eq!(read.label(), "resources/read:mem://a");
    }
}

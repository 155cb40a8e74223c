//! `pipeline.json`, written by `mcpbench-load pipeline`: `tools/call` requests
//! pipelined over one TCP connection (`--depth` written at once, then their
//! replies read, as `redis-benchmark -P` does), rounds alternating with
//! `redis-benchmark -P DEPTH` against a `redis-server` on the same machine when
//! asked (`SET` of SIZE bytes, the reference; `GETSET` of SIZE bytes, which
//! like `echo` carries SIZE bytes each way), so both are measured in one run.

use serde::{Deserialize, Serialize};

use crate::{Invalid, invalid};

/// The schema tag of [`PipelineFile`].
pub const PIPELINE_SCHEMA: &str = "mcpbench-pipeline/1";

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineFile {
    /// [`PIPELINE_SCHEMA`].
    pub schema: String,
    /// `tcp://HOST:PORT` of the MCP server.
    pub target: String,
    /// What served it (`mcpbench-server ...`, or `target` for one given).
    pub server: String,
    /// Requests written at once before their replies are read.
    pub depth: u64,
    /// Calls per round (a whole number of batches).
    pub calls: u64,
    /// The tool called and its arguments as JSON (requested).
    pub tool: String,
    /// Bytes of one request line, newline included (measured).
    pub request_bytes: u64,
    /// The Redis side, when asked: `redis-benchmark`'s command and the
    /// `redis-server` version.
    pub redis: Option<RedisSide>,
    /// The rounds, in the order run.
    pub rounds: Vec<PipelineRound>,
}

/// What ran on the Redis side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisSide {
    /// `redis-server --version`'s line.
    pub version: String,
    /// The `redis-benchmark` command of the SET run of each round.
    pub command: Vec<String>,
    /// The `redis-benchmark` command of the GETSET run of each round (its
    /// value, SIZE bytes, written `<SIZE bytes>` here).
    pub getset_command: Vec<String>,
}

/// One round: ours, then Redis (when asked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineRound {
    /// Calls answered with a result.
    pub answered: u64,
    /// Calls answered with an error (or a reply that is not a result).
    pub errors: u64,
    /// The first error reply, cut to 200 bytes, when there was one.
    pub first_error: Option<String>,
    /// Bytes of replies read, newlines included.
    pub reply_bytes: u64,
    /// Seconds from the first request written to the last reply read.
    pub seconds: f64,
    /// `answered / seconds`.
    pub calls_per_s: f64,
    /// `redis-benchmark`'s SET requests/s right after (its `rps`).
    pub redis_per_s: Option<f64>,
    /// `redis-benchmark`'s GETSET requests/s right after that.
    pub redis_getset_per_s: Option<f64>,
}

impl PipelineRound {
    /// Ours against Redis's SET in this round, when Redis ran.
    pub fn ratio(&self) -> Option<f64> {
        self.redis_per_s
            .filter(|r| *r > 0.0)
            .map(|r| self.calls_per_s / r)
    }

    /// Ours against Redis's GETSET in this round, when Redis ran.
    pub fn getset_ratio(&self) -> Option<f64> {
        self.redis_getset_per_s
            .filter(|r| *r > 0.0)
            .map(|r| self.calls_per_s / r)
    }
}

/// The median of `v` (the mean of the middle two for an even count); `None`
/// when empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl PipelineFile {
    /// Reads `path`: its schema tag, its fields, and [`PipelineFile::check`].
    pub fn load(path: &std::path::Path) -> Result<PipelineFile, crate::FileError> {
        crate::load_checked(path, PIPELINE_SCHEMA, PipelineFile::check)
    }

    /// Refuses a file that contradicts itself.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.schema != PIPELINE_SCHEMA {
            return Err(invalid!("schema: {:?}, not {PIPELINE_SCHEMA}", self.schema));
        }
        if self.depth == 0 || self.calls % self.depth != 0 {
            return Err(invalid!(
                "calls {} is not a whole number of batches of depth {}",
                self.calls,
                self.depth
            ));
        }
        for (i, r) in self.rounds.iter().enumerate() {
            if r.answered + r.errors > self.calls {
                return Err(invalid!(
                    "rounds.{i}: {} answered and {} errors of {} calls",
                    r.answered,
                    r.errors,
                    self.calls
                ));
            }
            if r.redis_per_s.is_some() != self.redis.is_some()
                || r.redis_getset_per_s.is_some() != self.redis.is_some()
            {
                return Err(invalid!(
                    "rounds.{i}: a Redis figure without a Redis side, or none with one"
                ));
            }
        }
        Ok(())
    }

    /// Every call of every round answered with a result.
    pub fn all_answered(&self) -> bool {
        !self.rounds.is_empty() && self.rounds.iter().all(|r| r.answered == self.calls)
    }

    /// The median over rounds of ours/Redis SET.
    pub fn median_ratio(&self) -> Option<f64> {
        median(
            self.rounds
                .iter()
                .filter_map(PipelineRound::ratio)
                .collect(),
        )
    }

    /// The median over rounds of ours/Redis GETSET.
    pub fn median_getset_ratio(&self) -> Option<f64> {
        median(
            self.rounds
                .iter()
                .filter_map(PipelineRound::getset_ratio)
                .collect(),
        )
    }

    /// The table: a row per round, then the medians.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "`tools/call` {} over one TCP connection, {} calls a round in batches of {} ({} B a request){}.\n",
            self.tool,
            self.calls,
            self.depth,
            self.request_bytes,
            match &self.redis {
                Some(r) => format!(
                    "; each round followed by `{}` and `{}` ({})",
                    r.command.join(" "),
                    r.getset_command.join(" "),
                    r.version
                ),
                None => String::new(),
            }
        );
        let _ = writeln!(
            o,
            "| round | answered / errors | reply bytes | calls/s | Redis SET/s | ours / SET | Redis GETSET/s | ours / GETSET |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|");
        let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("—".to_string(), f);
        for (i, r) in self.rounds.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} / {} | {} | {:.0} | {} | {} | {} | {} |",
                i + 1,
                r.answered,
                r.errors,
                r.reply_bytes,
                r.calls_per_s,
                opt(r.redis_per_s, &|v| format!("{v:.0}")),
                opt(r.ratio(), &|v| format!("{v:.2}x")),
                opt(r.redis_getset_per_s, &|v| format!("{v:.0}")),
                opt(r.getset_ratio(), &|v| format!("{v:.2}x")),
            );
        }
        let _ = writeln!(
            o,
            "| median | | | {} | {} | {} | {} | {} |",
            opt(
                median(self.rounds.iter().map(|r| r.calls_per_s).collect()),
                &|v| format!("{v:.0}")
            ),
            opt(
                median(self.rounds.iter().filter_map(|r| r.redis_per_s).collect()),
                &|v| format!("{v:.0}")
            ),
            opt(self.median_ratio(), &|v| format!("{v:.2}x")),
            opt(
                median(
                    self.rounds
                        .iter()
                        .filter_map(|r| r.redis_getset_per_s)
                        .collect()
                ),
                &|v| format!("{v:.0}")
            ),
            opt(self.median_getset_ratio(), &|v| format!("{v:.2}x")),
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(calls_per_s: f64, redis: Option<f64>) -> PipelineRound {
        PipelineRound {
            answered: 128,
            errors: 0,
            first_error: None,
            reply_bytes: 1,
            seconds: 1.0,
            calls_per_s,
            redis_per_s: redis,
            redis_getset_per_s: redis.map(|r| r / 2.0),
        }
    }

    fn file(rounds: Vec<PipelineRound>, redis: bool) -> PipelineFile {
        PipelineFile {
            schema: PIPELINE_SCHEMA.into(),
            target: "tcp://127.0.0.1:1".into(),
            server: "x".into(),
            depth: 64,
            calls: 128,
            tool: "echo".into(),
            request_bytes: 4200,
            redis: redis.then(|| RedisSide {
                version: "v".into(),
                command: vec!["redis-benchmark".into()],
                getset_command: vec!["redis-benchmark".into()],
            }),
            rounds,
        }
    }

    #[test]
    fn the_ratio_is_the_median_of_each_rounds_own() {
        // Round by round 2.0, 1.0, 3.0: the median of the ratios (2.0), not the
        // ratio of the medians (400/300).
        let f = file(
            vec![
                round(400.0, Some(200.0)),
                round(300.0, Some(300.0)),
                round(900.0, Some(300.0)),
            ],
            true,
        );
        f.check().expect("consistent");
        assert_eq!(f.median_ratio(), Some(2.0));
        assert!(
            f.table()
                .contains("| median | | | 400 | 300 | 2.00x | 150 | 4.00x |"),
            "{}",
            f.table()
        );
        assert_eq!(f.median_getset_ratio(), Some(4.0));
        assert!(f.all_answered());
    }

    #[test]
    fn contradictions_are_refused() {
        let mut f = file(vec![round(1.0, Some(1.0))], false);
        assert!(f.check().unwrap_err().0.contains("Redis"));
        f.redis = file(vec![], true).redis;
        f.check().expect("consistent");
        f.calls = 100;
        assert!(f.check().unwrap_err().0.contains("whole number"));
        f.calls = 128;
        f.rounds[0].answered = 129;
        assert!(f.check().unwrap_err().0.contains("129 answered"));
        assert!(!f.all_answered());
    }
}

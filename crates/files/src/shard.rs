//! A shard's result: one `mcpbench-load connections --shard I/N` process (a pod of
//! a Kubernetes Indexed Job, or one of the local processes of a run), written by
//! the shard and read by `mcpbench-load merge`.
//!
//! The latency histograms are in HdrHistogram's standard serialized form (V2,
//! DEFLATE-compressed, base64: what HdrHistogram's Java, C, Go and Rust
//! implementations read and what its interval logs hold), so the merge adds the
//! recorded counts exactly; percentiles are never averaged.

use crate::{Invalid, invalid};
use std::collections::BTreeMap;
use std::ops::AddAssign;
use std::path::Path;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::{FileError, Requested};

/// Schema tag of [`ShardFile`].
pub const SHARD_SCHEMA: &str = "mcpbench.shard/1";

/// The line prefix a shard prints its file after (compact JSON on one line), so
/// a result can be collected from a pod's log.
pub const SHARD_LINE_PREFIX: &str = "MCPBENCH-SHARD ";

/// The counts of one shard (or one client process), or of several merged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Connections opened and initialized.
    pub connected: u64,
    /// Connections that failed to open or initialize.
    pub failed: u64,
    /// Calls scheduled during the run (over every connection).
    pub due: u64,
    /// Calls sent.
    pub sent: u64,
    /// Calls answered with a result (by the deadline).
    pub answered: u64,
    /// Answered before the run's end (the achieved rate counts these).
    pub answered_in_run: u64,
    /// The server answered with a JSON-RPC error.
    pub error_replies: u64,
    /// No reply by the run's end + the grace, or the connection broke.
    pub unanswered: u64,
    /// Calls never sent: due so late that the client stopped, or after the
    /// connection broke.
    pub not_sent: u64,
    /// Latency samples recorded at the deadline, as lower bounds.
    pub censored: u64,
    /// Connections whose every due call was answered with a result.
    pub fully_answered: u64,
    /// Connections with calls due and at least one not answered with a result.
    pub short: u64,
    /// Connections with no call due (a run shorter than one interval).
    pub no_calls_due: u64,
    /// Connections that spoke the handshake generation (HTTP) or initialized (TCP).
    pub handshake: u64,
    /// Connections that spoke the stateless generation (HTTP).
    pub stateless: u64,
    /// Sessions ended with DELETE.
    pub deleted: u64,
    /// DELETEs refused or unanswered.
    pub delete_failed: u64,
    /// Connections the server closed between requests that were opened again.
    pub reconnects: u64,
    /// Bytes of the JSON-RPC replies of the calls answered with a result, as
    /// received (the whole message: the HTTP body, or the SSE event's data).
    #[serde(default)]
    pub reply_bytes: u64,
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.connected += o.connected;
        self.failed += o.failed;
        self.due += o.due;
        self.sent += o.sent;
        self.answered += o.answered;
        self.answered_in_run += o.answered_in_run;
        self.error_replies += o.error_replies;
        self.unanswered += o.unanswered;
        self.not_sent += o.not_sent;
        self.censored += o.censored;
        self.fully_answered += o.fully_answered;
        self.short += o.short;
        self.no_calls_due += o.no_calls_due;
        self.handshake += o.handshake;
        self.stateless += o.stateless;
        self.deleted += o.deleted;
        self.delete_failed += o.delete_failed;
        self.reconnects += o.reconnects;
        self.reply_bytes += o.reply_bytes;
    }
}

impl Counters {
    /// Calls lost: answered with an error, or never answered.
    pub fn lost(&self) -> u64 {
        self.error_replies + self.unanswered
    }
}

/// What every shard of one run was given; equal in all of them, which is how the
/// merge knows they belong together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRun {
    /// The whole run's request: `connections` is the total over every shard.
    pub requested: Requested,
    /// Shards in the run (N of `--shard I/N`).
    pub shards: u64,
    /// The common start, RFC 3339 UTC with nanoseconds.
    pub start_at: String,
}

/// Latency histograms, HdrHistogram V2 + DEFLATE + base64 each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedHistograms {
    /// The calls (open-loop, from each call's due time).
    pub calls: String,
    /// TCP connect, per connection.
    pub connect: String,
    /// `initialize` (+ `notifications/initialized`) or `server/discover`.
    pub handshake: String,
    /// `tools/list`.
    pub tools_list: String,
    /// The calls by when they were due: window `k` holds those due in `[k, k + 1)
    /// × window_ms` after the start, in [`crate::latency::window_histogram`]'s
    /// configuration (absent from files written before windows existed).
    #[serde(default)]
    pub windows: Vec<String>,
    /// The window length (0 in files without windows).
    #[serde(default)]
    pub window_ms: u64,
}

/// `shard-I.json`: one shard's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    /// Always [`SHARD_SCHEMA`].
    pub schema: String,
    /// The run it belongs to.
    pub run: ShardRun,
    /// I of `--shard I/N`.
    pub index: u64,
    /// Where it ran (the host name), for the messages that name it.
    pub host: String,
    /// Its slice: connections `first_connection..first_connection + connections`
    /// of the run.
    pub first_connection: u64,
    /// How many connections its slice holds.
    pub connections: u64,
    /// Its open-file limit.
    pub open_file_limit: u64,
    /// Seconds it took to open its slice.
    pub connect_s: f64,
    /// When its schedule started, minus `run.start_at`, by its clock: positive
    /// when it was still connecting at the start (its load then overlaps the
    /// others' less).
    pub start_offset_ns: i64,
    /// Seconds from its start to its last reply or deadline.
    pub run_s: f64,
    /// Its sessions were ended (or abandoned, as asked) and its counts are final.
    /// False in the file it writes before ending them, which is what is left when
    /// it is stopped meanwhile.
    pub complete: bool,
    /// Its counts.
    pub counters: Counters,
    /// Failures by reason.
    pub errors: BTreeMap<String, u64>,
    /// Its latency histograms.
    pub histograms: EncodedHistograms,
}

impl ShardFile {
    /// Reads `path`, checks its schema and that its figures can all be true.
    /// `path` is a shard file, or a log (a pod's) whose last line starting with
    /// [`SHARD_LINE_PREFIX`] holds one.
    pub fn load(path: &Path) -> Result<ShardFile, FileError> {
        let text = crate::read(path)?;
        let line = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(SHARD_LINE_PREFIX));
        let json = match line {
            Some(json) => json,
            None if text.trim_start().starts_with('{') => &text,
            None => {
                return Err(FileError::Invalid {
                    source_name: path.display().to_string(),
                    reason: format!(
                        "neither a shard file nor a log with a `{}` line (the shard did not finish?)",
                        SHARD_LINE_PREFIX.trim()
                    ),
                });
            }
        };
        crate::check_text(
            json,
            path.display().to_string(),
            SHARD_SCHEMA,
            ShardFile::check,
        )
    }

    /// Figures that cannot all be true are refused.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.run.shards == 0 || self.index >= self.run.shards {
            return Err(invalid!(
                "index {} is not one of 0..{} (run.shards)",
                self.index,
                self.run.shards
            ));
        }
        if self.first_connection + self.connections > self.run.requested.connections {
            return Err(invalid!(
                "connections {}..{} lie outside the run's {}",
                self.first_connection,
                self.first_connection + self.connections,
                self.run.requested.connections
            ));
        }
        let c = &self.counters;
        if c.connected + c.failed > self.connections {
            return Err(invalid!(
                "counters: {} connected + {} failed > its {} connections",
                c.connected,
                c.failed,
                self.connections
            ));
        }
        if !(self.connect_s.is_finite() && self.connect_s >= 0.0) {
            return Err(invalid!("connect_s {}: not a duration", self.connect_s));
        }
        if !(self.run_s.is_finite() && self.run_s >= 0.0) {
            return Err(invalid!("run_s {}: not a duration", self.run_s));
        }
        humantime::parse_rfc3339(&self.run.start_at)
            .map_err(|e| invalid!("run.start_at {:?}: {e}", self.run.start_at))?;
        Ok(())
    }
}

/// The shards of a merged run, in `connections.json` (`shards`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedShards {
    /// The common start they were given.
    pub start_at: String,
    /// Each shard, by index.
    pub each: Vec<ShardSummary>,
}

/// One shard of a merged run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardSummary {
    /// I of `--shard I/N`.
    pub index: u64,
    /// Where it ran.
    pub host: String,
    /// Connections in its slice.
    pub connections: u64,
    /// Of them, established.
    pub established: u64,
    /// Calls it lost.
    pub lost: u64,
    /// Its schedule's start minus the common start.
    pub start_offset_ns: i64,
    /// It finished (see [`ShardFile::complete`]).
    pub complete: bool,
}

/// `h` in HdrHistogram's V2 + DEFLATE form, base64.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Writing to a Vec fails only on a histogram too large to count in u32.
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// The histogram `text` encodes (see [`encode_histogram`]); `what` names it in the
/// error.
pub fn decode_histogram(text: &str, what: &str) -> Result<Histogram<u64>, Invalid> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| invalid!("{what}: not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| invalid!("{what}: not an HdrHistogram V2 histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_encoding_and_a_broken_one_is_named() {
        let mut h = crate::latency::histogram();
        for v in [1_000, 2_000, 2_000, 5_000_000] {
            h.record(v).unwrap();
        }
        let back = decode_histogram(&encode_histogram(&h), "calls").unwrap();
        assert_eq!(back, h);
        let e = decode_histogram("!!", "calls").unwrap_err();
        assert!(e.0.starts_with("calls: not base64"), "{e}");
        let e = decode_histogram("AAAA", "connect").unwrap_err();
        assert!(e.0.starts_with("connect: not an HdrHistogram"), "{e}");
    }
}

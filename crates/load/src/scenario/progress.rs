//! While a scenario runs: a progress line every 5 s, and the per-second
//! HdrHistogram interval log of every operation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::exec::{Exec, OpStats};
use crate::error::LoadError;

/// The per-second HdrHistogram interval log of every operation (tag: its label).
pub(super) struct IntervalLog {
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    last: Instant,
}

impl IntervalLog {
    pub(super) fn create(
        path: Option<&Path>,
        exec: &Exec,
    ) -> Result<Option<IntervalLog>, LoadError> {
        let Some(path) = path else { return Ok(None) };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| LoadError::io("create", dir, e))?;
        }
        let file = std::fs::File::create(path).map_err(|e| LoadError::io("create", path, e))?;
        let mut out = std::io::BufWriter::new(file);
        let labels: Vec<&str> = exec.ops.iter().map(|o| o.label.as_str()).collect();
        writeln!(
            out,
            "#mcpbench-load run: latency in ns from each call's due time (the max column too), one interval per operation per second; tags: {}",
            labels
                .iter()
                .map(|l| log_tag(l))
                .collect::<Vec<_>>()
                .join(" ")
        )
        .map_err(|e| LoadError::io("write", path, e))?;
        Ok(Some(IntervalLog {
            out,
            path: path.to_path_buf(),
            last: Instant::now(),
        }))
    }

    /// Writes each operation's histogram since the last call and starts new ones.
    fn take(&mut self, exec: &Exec, t0: Instant) {
        let now = Instant::now();
        let intervals: Vec<_> = {
            let mut s = exec.stats();
            s.ops
                .iter_mut()
                .map(|o: &mut OpStats| {
                    let h = o.interval.clone();
                    o.interval.reset();
                    h
                })
                .collect()
        };
        let start = self.last.saturating_duration_since(t0);
        let span = now.saturating_duration_since(self.last);
        self.last = now;
        let mut serializer = hdrhistogram::serialization::V2DeflateSerializer::new();
        // No header options: each call writes only its intervals (the header
        // line was written once by `create`); the max column is in ns.
        let written = hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut serializer)
            .and_then(|mut w| {
                for (op, h) in exec.ops.iter().zip(&intervals) {
                    let tag = log_tag(&op.label);
                    let tag = hdrhistogram::serialization::interval_log::Tag::new(&tag);
                    w.write_histogram(h, start, span, tag)
                        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
                }
                Ok(())
            })
            .and_then(|()| self.out.flush());
        if let Err(e) = written {
            eprintln!("mcpbench-load: {}: {e}", self.path.display());
        }
    }
}

/// An operation's label as an interval log's tag (which cannot hold a comma,
/// a space or a line break: each becomes `_`).
fn log_tag(label: &str) -> String {
    label.replace([',', ' ', '\r', '\n'], "_")
}

/// Prints a progress line every 5 s and writes the interval log every second,
/// until `stop` fires (then the last partial interval).
pub(super) async fn progress(
    exec: Arc<Exec>,
    t0: Instant,
    mut log: Option<IntervalLog>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let total = exec.timeline.total_s();
    let mut tick = tokio::time::interval_at(t0 + Duration::from_secs(1), Duration::from_secs(1));
    for second in 1u64.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        if let Some(log) = log.as_mut() {
            log.take(&exec, t0);
        }
        if second % 5 != 0 {
            continue;
        }
        let (stage, _) = exec.timeline.stage_at(second as f64);
        let s = exec.stats();
        let sum = |f: fn(&OpStats) -> u64| s.ops.iter().map(f).sum::<u64>();
        let when = if (second as f64) < total {
            format!("stage {}/{}", stage + 1, exec.timeline.stages.len())
        } else {
            format!(
                "stages over, waiting up to {} s for the last replies",
                crate::schedule::GRACE.as_secs()
            )
        };
        println!(
            "run: {second} s of {total} s, {when}, {} sessions open ({} opened, {} failed), {} answered, {} errors, {} lost",
            exec.open.load(std::sync::atomic::Ordering::Relaxed),
            s.sessions.opened,
            s.sessions.failed,
            sum(|o| o.answered),
            sum(|o| o.error_replies),
            sum(|o| o.lost),
        );
    }
    if let Some(log) = log.as_mut() {
        log.take(&exec, t0);
    }
}

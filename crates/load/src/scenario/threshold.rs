//! Thresholds, k6-style: `[OPERATION ]METRIC OP VALUE[UNIT]`, judged once on the
//! whole run's result; any that fails makes the exit code 1.
//!
//! - METRIC: a latency percentile `p50`, `p90`, `p95`, `p99`, `p99.9` (any
//!   `pN`), `max` (VALUE in `ns`, `us`, `ms` (default), `s`), open-loop from each
//!   call's due time; `errors` (error replies, lost and unsent calls as a share
//!   of those due: VALUE with `%`, or a fraction); `rate` (calls answered
//!   before the last stage ended, per second of the stages, `/s` optional).
//! - OP: `<`, `<=`, `>`, `>=`.
//! - OPERATION: an operation's label (`tools/call:search`, `tools/list`); absent:
//!   every operation together.

use hdrhistogram::Histogram;
use mcpbench_files::scenario::ThresholdRun;

use crate::error::LoadError;

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A quantile of the latency (0.99 for `p99`), ns.
    Quantile(f64),
    /// The largest latency, ns.
    Max,
    /// Failed calls as a share of those due (0..1).
    Errors,
    /// Calls answered within the stages, per second of them.
    Rate,
}

/// `<`, `<=`, `>`, `>=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As written.
    pub expr: String,
    /// The operation's label, or every operation.
    pub operation: Option<String>,
    /// What is measured.
    pub metric: Metric,
    /// How it is compared.
    pub cmp: Cmp,
    /// The bound, in the metric's base unit (ns, a share, calls/s).
    pub bound: f64,
}

/// What a threshold is judged on: one operation's (or all operations') figures.
pub struct Observed<'a> {
    /// The answered calls' latency, ns.
    pub histogram: &'a Histogram<u64>,
    /// Calls due (sent and unsent).
    pub due: u64,
    /// Error replies, lost and unsent calls.
    pub failed: u64,
    /// Calls answered before the last stage ended.
    pub answered: u64,
    /// Seconds of the stages.
    pub duration_s: f64,
}

impl Threshold {
    /// Parses `expr`; the error names it and says what is expected.
    pub fn parse(expr: &str) -> Result<Threshold, LoadError> {
        let bad = |why: &str| {
            LoadError::Plan(format!(
                "threshold {expr:?}: {why} (expected `[OPERATION ]METRIC OP VALUE`, e.g. `p99<15ms`, `errors<0.1%`, `rate>=900`, `tools/call:search p95<50ms`)"
            ))
        };
        let at = expr
            .find(['<', '>'])
            .ok_or_else(|| bad("no comparison (<, <=, >, >=)"))?;
        let (left, rest) = expr.split_at(at);
        let (cmp, right) = if let Some(r) = rest.strip_prefix("<=") {
            (Cmp::Le, r)
        } else if let Some(r) = rest.strip_prefix(">=") {
            (Cmp::Ge, r)
        } else if let Some(r) = rest.strip_prefix('<') {
            (Cmp::Lt, r)
        } else {
            (Cmp::Gt, &rest[1..])
        };
        let mut words: Vec<&str> = left.split_whitespace().collect();
        let metric_text = words.pop().ok_or_else(|| bad("no metric"))?;
        let operation = match words.as_slice() {
            [] => None,
            [op] => Some((*op).to_string()),
            _ => return Err(bad("an operation label has no spaces")),
        };
        let metric = match metric_text {
            "max" => Metric::Max,
            "errors" => Metric::Errors,
            "rate" => Metric::Rate,
            p if p.starts_with('p') => {
                let q: f64 = p[1..]
                    .parse()
                    .map_err(|_| bad(&format!("metric {p:?} is not pN")))?;
                if !(q > 0.0 && q < 100.0) {
                    return Err(bad(&format!("percentile {q}: above 0 and below 100")));
                }
                Metric::Quantile(q / 100.0)
            }
            other => {
                return Err(bad(&format!(
                    "unknown metric {other:?} (pN, max, errors, rate)"
                )));
            }
        };
        let value = right.trim();
        let number = |text: &str| -> Result<f64, LoadError> {
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| bad(&format!("{text:?} is not a non-negative number")))
        };
        let bound = match metric {
            Metric::Quantile(_) | Metric::Max => {
                let (digits, scale) = [
                    ("ns", 1.0),
                    ("us", 1e3),
                    ("µs", 1e3),
                    ("ms", 1e6),
                    ("s", 1e9),
                ]
                .into_iter()
                .find_map(|(unit, scale)| value.strip_suffix(unit).map(|d| (d, scale)))
                .unwrap_or((value, 1e6));
                number(digits)? * scale
            }
            Metric::Errors => match value.strip_suffix('%') {
                Some(digits) => number(digits)? / 100.0,
                None => {
                    let share = number(value)?;
                    if share > 1.0 {
                        return Err(bad(&format!(
                            "errors {share}: a share is at most 1 (write {share}% for a percentage)"
                        )));
                    }
                    share
                }
            },
            Metric::Rate => number(value.strip_suffix("/s").unwrap_or(value))?,
        };
        Ok(Threshold {
            expr: expr.to_string(),
            operation,
            metric,
            cmp,
            bound,
        })
    }

    /// Judges `o`: the figure in the threshold's unit, and whether it holds.
    /// A latency threshold with no answered call has nothing to judge: it fails.
    pub fn judge(&self, o: &Observed<'_>) -> ThresholdRun {
        let (base, unit, scale) = match self.metric {
            Metric::Quantile(q) => (
                (!o.histogram.is_empty()).then(|| o.histogram.value_at_quantile(q) as f64),
                "ms",
                1e-6,
            ),
            Metric::Max => (
                (!o.histogram.is_empty()).then(|| o.histogram.max() as f64),
                "ms",
                1e-6,
            ),
            Metric::Errors => (
                Some(if o.due == 0 {
                    0.0
                } else {
                    o.failed as f64 / o.due as f64
                }),
                "%",
                100.0,
            ),
            Metric::Rate => (
                Some(o.answered as f64 / o.duration_s.max(f64::MIN_POSITIVE)),
                "calls/s",
                1.0,
            ),
        };
        let passed = base.is_some_and(|v| match self.cmp {
            Cmp::Lt => v < self.bound,
            Cmp::Le => v <= self.bound,
            Cmp::Gt => v > self.bound,
            Cmp::Ge => v >= self.bound,
        });
        ThresholdRun {
            expr: self.expr.clone(),
            observed: base.map(|v| v * scale),
            unit: unit.into(),
            passed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(expr: &str) -> Threshold {
        Threshold::parse(expr).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn k6_style_expressions_parse_to_their_base_units() {
        let p99 = t("p99<15ms");
        assert_eq!(
            (p99.operation, p99.metric, p99.cmp, p99.bound),
            (None, Metric::Quantile(0.99), Cmp::Lt, 15e6)
        );
        assert_eq!(t("p95 <= 200").bound, 200e6, "ms by default");
        let Metric::Quantile(q) = t("p99.9<2s").metric else {
            panic!("a quantile")
        };
        assert!((q - 0.999).abs() < 1e-12, "{q}");
        assert_eq!(t("p99.9<2s").bound, 2e9);
        assert_eq!(t("max<500us").bound, 500e3);
        assert_eq!(t("errors<0.1%").bound, 0.001);
        assert_eq!(t("errors<=0.01").bound, 0.01);
        let rate = t("rate>=900/s");
        assert_eq!(
            (rate.metric, rate.cmp, rate.bound),
            (Metric::Rate, Cmp::Ge, 900.0)
        );
        let op = t("tools/call:search p95<50ms");
        assert_eq!(op.operation.as_deref(), Some("tools/call:search"));
        assert_eq!(op.bound, 50e6);
    }

    #[test]
    fn bad_expressions_are_refused_with_the_reason() {
        for (expr, why) in [
            ("p99", "no comparison"),
            ("<15ms", "no metric"),
            ("p99<fast", "is not a non-negative number"),
            ("p100<1ms", "percentile 100"),
            ("latency<1ms", "unknown metric"),
            ("a b p99<1ms", "no spaces"),
            ("errors<-1%", "non-negative"),
            ("errors<5", "a share is at most 1"),
        ] {
            let e = Threshold::parse(expr).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(expr), "{expr}: {e}");
        }
    }

    #[test]
    fn a_threshold_holds_or_fails_on_the_figures_both_ways() {
        let mut h = mcpbench_files::latency::histogram();
        for ms in 1..=100u64 {
            h.record(ms * 1_000_000).unwrap();
        }
        let o = Observed {
            histogram: &h,
            due: 1000,
            failed: 2,
            answered: 100,
            duration_s: 10.0,
        };
        let judge = |e: &str| t(e).judge(&o);
        // p99 of 1..=100 ms is 99 ms (within the histogram's 3 digits).
        let r = judge("p99<100ms");
        assert!(r.passed, "{r:?}");
        assert!((r.observed.unwrap() - 99.0).abs() < 0.1, "{r:?}");
        assert!(!judge("p99<98ms").passed);
        assert!(judge("max<=100.1ms").passed);
        assert!(!judge("max<100ms").passed);
        // 2 of 1000 failed: 0.2%.
        let r = judge("errors<0.5%");
        assert!(
            r.passed && r.observed == Some(0.2) && r.unit == "%",
            "{r:?}"
        );
        assert!(!judge("errors<0.1%").passed);
        assert!(judge("rate>=10").passed);
        assert!(!judge("rate>10").passed);
        // Nothing answered: a latency threshold has nothing to judge and fails.
        let empty = mcpbench_files::latency::histogram();
        let none = Observed {
            histogram: &empty,
            due: 10,
            failed: 10,
            answered: 0,
            duration_s: 1.0,
        };
        let r = t("p99<1s").judge(&none);
        assert!(!r.passed && r.observed.is_none(), "{r:?}");
    }
}

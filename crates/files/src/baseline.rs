//! `baselines/NAME.json`: a saved run's typical times with their confidence
//! intervals, throughput, sample counts and environment, written by the report's
//! `baseline save` and read back by `compare`, `noise` and the report. Sorted keys
//! (every map is a `BTreeMap`), so two baselines diff line by line.

use crate::{Invalid, invalid};
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::FileError;
use crate::allocations::AllocCount;
use crate::bench::MemoryCount;
use crate::env::Environment;
use crate::instructions::Count;

/// Schema tag of [`Baseline`].
pub const BASELINE_SCHEMA: &str = "mcpbench.baseline/1";

/// The longest time per iteration a file may hold: one hour, 3.6e12 ns. The
/// slowest bench here takes milliseconds per iteration, and Criterion needs at
/// least ten samples of at least one iteration each, so a run holding a longer
/// iteration would have taken more than ten hours: a value above it is a corrupt
/// file or a unit mistake (seconds written as nanoseconds, `1e308`), never a
/// measurement.
pub const MAX_TIME_NS: f64 = 3.6e12;

/// What one iteration of a bench processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Operations (Criterion's `Throughput::Elements`).
    Elements,
    /// Bytes (Criterion's `Throughput::Bytes`).
    Bytes,
}

/// One bench's result: typical time per iteration with its 95% confidence
/// interval, and what an iteration processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Typical nanoseconds per iteration: Criterion's slope estimate where it has
    /// one, else the mean (docs/method.md).
    pub typical_ns: f64,
    /// Lower bound of the typical time's confidence interval.
    pub ci_lower_ns: f64,
    /// Upper bound.
    pub ci_upper_ns: f64,
    /// `slope` or `mean`.
    pub estimator: String,
    /// Units one iteration processes, if the bench declared a throughput.
    pub per_iteration: Option<u64>,
    /// What those units are.
    pub unit: Option<Unit>,
    /// Samples Criterion took.
    pub samples: u64,
}

impl Measured {
    /// Units per second at the typical time (`per_iteration / typical`).
    pub fn per_second(&self) -> Option<f64> {
        self.per_iteration
            .map(|n| n as f64 / (self.typical_ns * 1e-9))
    }

    /// The same, at the ends of the confidence interval (slow end first).
    pub fn per_second_ci(&self) -> Option<(f64, f64)> {
        self.per_iteration.map(|n| {
            (
                n as f64 / (self.ci_upper_ns * 1e-9),
                n as f64 / (self.ci_lower_ns * 1e-9),
            )
        })
    }
}

/// `baselines/NAME.json`: a saved run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`BASELINE_SCHEMA`].
    pub schema: String,
    /// Where the run was measured.
    pub environment: Environment,
    /// Results by bench id.
    pub benches: BTreeMap<String, Measured>,
    /// Instruction counts by bench id (`benches/instructions.rs`), when the run
    /// had them. The one field that may be absent: baselines saved before counts
    /// existed have none, and an empty map is not written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instructions: BTreeMap<String, Count>,
    /// Allocation counts by bench id (`benches/allocations.rs`), when the run had
    /// them; absent like `instructions`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocations: BTreeMap<String, AllocCount>,
    /// Live bytes and leak per item by memory component (`benches/memory.rs`),
    /// when the run had them; absent like `instructions`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub memory: BTreeMap<String, MemoryCount>,
}

impl Baseline {
    /// A baseline of `benches`, measured here and now.
    pub fn new(
        benches: BTreeMap<String, Measured>,
        instructions: BTreeMap<String, Count>,
    ) -> Baseline {
        Baseline {
            schema: BASELINE_SCHEMA.to_string(),
            environment: Environment::capture(),
            benches,
            instructions,
            allocations: BTreeMap::new(),
            memory: BTreeMap::new(),
        }
    }

    /// Reads `path`, checks its schema and that its figures can all be true.
    pub fn load(path: &Path) -> Result<Baseline, FileError> {
        crate::load_checked(path, BASELINE_SCHEMA, Baseline::check)
    }

    /// Figures that could never show a change are refused, naming the bench and
    /// the field: no bench, a time that is not a finite number of nanoseconds
    /// above 0 and at most [`MAX_TIME_NS`], an interval that does not contain its
    /// estimate, a count of 0.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.benches.is_empty() {
            return Err(Invalid::from("baseline holds no bench"));
        }
        for (id, m) in &self.benches {
            check_estimate(
                id,
                &format!("benches.{id}"),
                [
                    ("typical_ns", m.typical_ns),
                    ("ci_lower_ns", m.ci_lower_ns),
                    ("ci_upper_ns", m.ci_upper_ns),
                ],
            )?;
        }
        for (id, c) in &self.instructions {
            if c.instructions == 0 || c.per_iteration == 0 {
                return Err(invalid!("{id}: an instruction count of 0 cannot be right"));
            }
        }
        for (id, c) in &self.allocations {
            if c.per_iteration == 0 {
                return Err(invalid!(
                    "{id}: field `allocations.{id}.per_iteration` is 0: an iteration performs at least one operation"
                ));
            }
        }
        for (id, m) in &self.memory {
            let leak = m.leak_per_item.unwrap_or(0.0);
            if !(m.bytes_per_item.is_finite() && m.bytes_per_item >= 0.0 && leak.is_finite()) {
                return Err(invalid!(
                    "{id}: field `memory.{id}` holds {} bytes per item and a leak of {leak} per item: both must be finite, the first at least 0",
                    m.bytes_per_item
                ));
            }
            if m.items == 0 {
                return Err(invalid!("{id}: field `memory.{id}.items` is 0"));
            }
        }
        Ok(())
    }
}

/// What a time must be, for the errors.
const TIME_RANGE: &str = "a finite number of ns above 0 and at most 3.6e12 ns (one hour)";

/// The reason a value is refused: `"{at}: {name} {value} is out of range: field
/// `{field}` must be {expected}"` (`at`, the bench or estimate the value belongs
/// to, left out when empty). With the file's name in front (as
/// [`FileError::Invalid`] puts it) it reads like a malformed field's error.
pub(crate) fn out_of_range(
    at: &str,
    name: &str,
    field: &str,
    value: f64,
    expected: &str,
) -> Invalid {
    let at = if at.is_empty() {
        String::new()
    } else {
        format!("{at}: ")
    };
    invalid!("{at}{name} {value:?} is out of range: field `{field}` must be {expected}")
}

/// Refuses a time per iteration that is not finite, above 0 and at most
/// [`MAX_TIME_NS`]; the error names `at` (the bench or estimate), `name` and the
/// field's path `field`.
pub fn check_time(at: &str, name: &str, field: &str, ns: f64) -> Result<(), Invalid> {
    if ns.is_finite() && ns > 0.0 && ns <= MAX_TIME_NS {
        Ok(())
    } else {
        Err(out_of_range(at, name, field, ns, TIME_RANGE))
    }
}

/// Refuses an estimate and its confidence interval, `[(name, value)]` in the
/// order estimate, lower bound, upper bound, unless all three are times
/// ([`check_time`]) and the interval contains the estimate. The fields are
/// `{path}.{name}`; errors name `at` (the bench or estimate) and the field at
/// fault.
pub fn check_estimate(at: &str, path: &str, values: [(&str, f64); 3]) -> Result<(), Invalid> {
    for (name, v) in values {
        check_time(at, name, &format!("{path}.{name}"), v)?;
    }
    let [(est_name, est), (lo_name, lo), (hi_name, hi)] = values;
    if lo > est {
        return Err(invalid!(
            "{at}: {lo_name} {lo:?} is above {est_name} {est:?}: field `{path}.{lo_name}` must not exceed the estimate its interval surrounds"
        ));
    }
    if hi < est {
        return Err(invalid!(
            "{at}: {hi_name} {hi:?} is below {est_name} {est:?}: field `{path}.{hi_name}` must not be below the estimate its interval surrounds"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(typical: f64, lower: f64, upper: f64) -> Measured {
        Measured {
            typical_ns: typical,
            ci_lower_ns: lower,
            ci_upper_ns: upper,
            estimator: "slope".into(),
            per_iteration: Some(1),
            unit: Some(Unit::Elements),
            samples: 100,
        }
    }

    fn baseline(m: Measured) -> Baseline {
        Baseline::new(BTreeMap::from([("g/f/p".to_string(), m)]), BTreeMap::new())
    }

    /// `baseline` with `field` of bench `g/f/p` set to `value`, written to a
    /// file of its own; returns the file.
    fn written(name: &str, field: &str, value: serde_json::Value) -> crate::scratch::Scratch {
        let mut v = serde_json::to_value(baseline(measured(100.0, 90.0, 110.0))).unwrap();
        v["benches"]["g/f/p"][field] = value;
        crate::scratch::Scratch::file(&format!("baseline-{name}"), "main.json", &v.to_string())
    }

    #[test]
    fn a_time_that_is_not_positive_finite_and_at_most_an_hour_is_refused_with_file_and_field() {
        for (field, value) in [
            ("typical_ns", serde_json::json!(-1)),
            ("typical_ns", serde_json::json!(0)),
            ("typical_ns", serde_json::json!(1e308)),
            ("ci_lower_ns", serde_json::json!(-5.0)),
            ("ci_upper_ns", serde_json::json!(1e308)),
        ] {
            let path = written(&format!("time-{field}"), field, value.clone());
            let e = Baseline::load(&path).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, FileError::Invalid { .. }), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(
                text.contains(&format!("field `benches.g/f/p.{field}`")),
                "{field} = {value}: {text}"
            );
            assert!(text.contains("at most 3.6e12 ns (one hour)"), "{text}");
        }
    }

    #[test]
    fn non_finite_times_are_refused_with_the_field_named() {
        // JSON has no NaN or infinity; a baseline built in memory can.
        for (m, field) in [
            (measured(f64::NAN, 90.0, 110.0), "typical_ns"),
            (measured(100.0, f64::NEG_INFINITY, 110.0), "ci_lower_ns"),
            (measured(100.0, 90.0, f64::INFINITY), "ci_upper_ns"),
        ] {
            let e = baseline(m).check().unwrap_err();
            assert!(
                e.0.contains(&format!("field `benches.g/f/p.{field}`")),
                "{e}"
            );
        }
    }

    #[test]
    fn an_interval_that_does_not_contain_its_estimate_is_refused_naming_the_bound() {
        let path = written("lower-above", "ci_lower_ns", serde_json::json!(105.0));
        let e = Baseline::load(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(
            e.contains("g/f/p: ci_lower_ns 105.0 is above typical_ns 100.0")
                && e.contains("field `benches.g/f/p.ci_lower_ns`"),
            "{e}"
        );
        let path = written("upper-below", "ci_upper_ns", serde_json::json!(95.0));
        let e = Baseline::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("g/f/p: ci_upper_ns 95.0 is below typical_ns 100.0")
                && e.contains("field `benches.g/f/p.ci_upper_ns`"),
            "{e}"
        );
    }

    #[test]
    fn times_up_to_one_hour_and_a_collapsed_interval_are_accepted() {
        baseline(measured(MAX_TIME_NS, MAX_TIME_NS, MAX_TIME_NS))
            .check()
            .unwrap();
        baseline(measured(0.5, 0.5, 0.5)).check().unwrap();
        assert!(
            baseline(measured(MAX_TIME_NS * 1.01, 1.0, MAX_TIME_NS * 1.01))
                .check()
                .is_err()
        );
    }
}

//! `baselines/noise-<machine>.json`: each bench's run-to-run spread over K runs of
//! one commit on one machine, written by the report's `noise` command and read by
//! `compare` and the report (the spread is computed there).

use crate::Invalid;
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::FileError;
use crate::baseline::{check_time, out_of_range};
use crate::env::Environment;

/// Schema tag of [`NoiseFile`].
pub const NOISE_SCHEMA: &str = "mcpbench.noise/1";

/// One bench's run-to-run noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchNoise {
    /// Runs the bench appeared in.
    pub runs: usize,
    /// Median typical time over the runs, ns per iteration.
    pub median_ns: f64,
    /// `(slowest - fastest) / fastest` of the typical times, percent.
    pub spread_pct: f64,
    /// The same for the instruction counts, when the runs had them.
    pub instructions_spread_pct: Option<f64>,
}

/// `baselines/noise-<machine>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseFile {
    /// Always [`NOISE_SCHEMA`].
    pub schema: String,
    /// The machine name in the file name: its CPU model and core count, file-name
    /// safe (`amd-epyc-2c`).
    pub machine: String,
    /// Where the last of the runs was measured.
    pub environment: Environment,
    /// The baselines it was computed from, in order.
    pub runs: Vec<String>,
    /// Spread above which a bench is named unstable, percent.
    pub unstable_above_pct: f64,
    /// Noise by bench id.
    pub benches: BTreeMap<String, BenchNoise>,
}

impl NoiseFile {
    /// Reads `path`, checks its schema and that its figures can all be true.
    pub fn load(path: &Path) -> Result<NoiseFile, FileError> {
        crate::load_checked(path, NOISE_SCHEMA, NoiseFile::check)
    }

    /// Figures that cannot be right are refused, naming the bench and the field:
    /// a bound that is not a finite percentage above 0 and at most 1000 (what the
    /// `--unstable-above` flag accepts), a spread that is not a finite,
    /// non-negative percentage, a median that is not a time
    /// ([`crate::baseline::check_time`]).
    pub fn check(&self) -> Result<(), Invalid> {
        let bound = self.unstable_above_pct;
        if !(bound.is_finite() && bound > 0.0 && bound <= 1000.0) {
            return Err(out_of_range(
                "",
                "unstable_above_pct",
                "unstable_above_pct",
                bound,
                "a finite percentage above 0 and at most 1000",
            ));
        }
        for (id, n) in &self.benches {
            let spreads = [
                ("spread_pct", Some(n.spread_pct)),
                ("instructions_spread_pct", n.instructions_spread_pct),
            ];
            for (name, value) in spreads {
                if let Some(v) = value.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                    return Err(out_of_range(
                        id,
                        name,
                        &format!("benches.{id}.{name}"),
                        v,
                        "a finite percentage of 0 or more",
                    ));
                }
            }
            check_time(
                id,
                "median_ns",
                &format!("benches.{id}.median_ns"),
                n.median_ns,
            )?;
        }
        Ok(())
    }

    /// True when bench `id`'s measured spread is above the unstable bound.
    pub fn unstable(&self, id: &str) -> bool {
        self.benches
            .get(id)
            .is_some_and(|n| n.spread_pct > self.unstable_above_pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise() -> NoiseFile {
        let bench = BenchNoise {
            runs: 3,
            median_ns: 100.0,
            spread_pct: 12.5,
            instructions_spread_pct: Some(0.1),
        };
        NoiseFile {
            schema: NOISE_SCHEMA.into(),
            machine: "test-2c".into(),
            environment: Environment::capture(),
            runs: vec!["a".into(), "b".into(), "c".into()],
            unstable_above_pct: 25.0,
            benches: BTreeMap::from([("g/f/p".to_string(), bench)]),
        }
    }

    /// `noise()` with `field` (a path of object keys) set to `value`, written to a
    /// file of its own; returns the file.
    fn written(name: &str, field: &[&str], value: serde_json::Value) -> crate::scratch::Scratch {
        let mut v = serde_json::to_value(noise()).unwrap();
        let mut at = &mut v;
        for key in field {
            at = &mut at[*key];
        }
        *at = value;
        crate::scratch::Scratch::file(
            &format!("noise-{name}"),
            "noise-test-2c.json",
            &v.to_string(),
        )
    }

    #[test]
    fn bad_spreads_times_and_bounds_are_refused_with_file_and_field() {
        for (field, value, path_named) in [
            (
                &["benches", "g/f/p", "spread_pct"][..],
                serde_json::json!(-1),
                "benches.g/f/p.spread_pct",
            ),
            (
                &["benches", "g/f/p", "instructions_spread_pct"][..],
                serde_json::json!(-0.5),
                "benches.g/f/p.instructions_spread_pct",
            ),
            (
                &["benches", "g/f/p", "median_ns"][..],
                serde_json::json!(-1),
                "benches.g/f/p.median_ns",
            ),
            (
                &["benches", "g/f/p", "median_ns"][..],
                serde_json::json!(0),
                "benches.g/f/p.median_ns",
            ),
            (
                &["benches", "g/f/p", "median_ns"][..],
                serde_json::json!(1e308),
                "benches.g/f/p.median_ns",
            ),
            (
                &["unstable_above_pct"][..],
                serde_json::json!(-1),
                "unstable_above_pct",
            ),
            (
                &["unstable_above_pct"][..],
                serde_json::json!(0),
                "unstable_above_pct",
            ),
            (
                &["unstable_above_pct"][..],
                serde_json::json!(1e308),
                "unstable_above_pct",
            ),
        ] {
            let path = written(&path_named.replace('/', "-"), field, value.clone());
            let e = NoiseFile::load(&path).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, FileError::Invalid { .. }), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(
                text.contains(&format!("field `{path_named}`")),
                "{path_named} = {value}: {text}"
            );
        }
    }

    #[test]
    fn non_finite_spreads_and_bounds_are_refused_with_the_field_named() {
        for (edit, field) in [
            (
                (|n: &mut NoiseFile| n.unstable_above_pct = f64::NAN) as fn(&mut NoiseFile),
                "unstable_above_pct",
            ),
            (
                |n| n.unstable_above_pct = f64::INFINITY,
                "unstable_above_pct",
            ),
            (
                |n| n.benches.get_mut("g/f/p").unwrap().spread_pct = f64::NAN,
                "benches.g/f/p.spread_pct",
            ),
            (
                |n| {
                    n.benches.get_mut("g/f/p").unwrap().instructions_spread_pct =
                        Some(f64::INFINITY)
                },
                "benches.g/f/p.instructions_spread_pct",
            ),
            (
                |n| n.benches.get_mut("g/f/p").unwrap().median_ns = f64::NAN,
                "benches.g/f/p.median_ns",
            ),
        ] {
            let mut n = noise();
            edit(&mut n);
            let e = n.check().unwrap_err();
            assert!(e.0.contains(&format!("field `{field}`")), "{e}");
        }
        noise().check().unwrap();
    }
}

//! How figures are written: rates and milliseconds, the same in every table.

use crate::criterion::Unit;

/// Ops (or bytes) per second, readable.
pub fn human_rate(per_s: f64, unit: Option<Unit>) -> String {
    if unit == Some(Unit::Bytes) {
        return format!("{:.2} GiB/s", per_s / (1u64 << 30) as f64);
    }
    match per_s {
        r if r >= 1e6 => format!("{:.2}M/s", r / 1e6),
        r if r >= 1e3 => format!("{:.1}K/s", r / 1e3),
        r => format!("{r:.0}/s"),
    }
}

/// Nanoseconds as milliseconds, three decimals.
pub fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

#![forbid(unsafe_code)]
//! The Markdown tables of the experiment files, apart from their schema
//! (`mcpbench-files`) so that the types stay data: `mcpbench-load` writes each
//! table beside its JSON file (`compare.md` beside `compare.json`), and the
//! report quotes the same tables.
//!
//! ```
//! let file = mcpbench_files::compare::CompareFile {
//!     schema: mcpbench_files::compare::COMPARE_SCHEMA.into(),
//!     connections: 10,
//!     rate_per_connection: 1.0,
//!     duration_s: 3.0,
//!     protocol: "2025-11-25".into(),
//!     servers: vec![],
//! };
//! assert!(mcpbench_tables::compare(&file).contains("| server | outcome |"));
//! ```

mod capacity;
mod compare;
mod lifecycle;
mod listen;
mod scaling;
mod scenario;

pub use capacity::capacity;
pub use compare::compare;
pub use lifecycle::lifecycle;
pub use listen::{listen, listens};
pub use scaling::scaling;
pub use scenario::scenario;

/// Bytes as MB with one decimal, or a dash.
fn mb(v: Option<u64>) -> String {
    v.map_or("—".into(), |v| format!("{:.1} MB", v as f64 / 1e6))
}

/// A share as a whole percentage, or a dash.
fn share(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.0}%", v * 100.0))
}

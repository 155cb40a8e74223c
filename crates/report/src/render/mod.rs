//! Renderers: the run and its findings ([`crate::evaluate::Report`]) as Markdown,
//! SVG charts and JSON. They format; they decide nothing.

pub mod charts;
mod json;
mod markdown;
mod svg;

pub use json::{bench_results, report_json};
pub use markdown::markdown;
pub use svg::svg;

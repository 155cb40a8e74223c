//! The side files the custom harnesses write (memory accounting, the sustained
//! run): their types live in `mcpbench-files`, shared with the report that reads them.

pub use mcpbench_files::bench::*;

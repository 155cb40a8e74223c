//! The bare ceilings: the same reply bytes as `mcpbench-server`, nothing parsed,
//! nothing guarded (a plain tokio line loop, a plain hyper service). What the
//! server is measured against; not part of it (`mcpbench-server --bare` runs one).

pub mod bare;
pub mod bare_http;
mod bare_listen;

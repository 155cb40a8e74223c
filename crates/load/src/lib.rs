//! `mcpbench-load connections --count N`: N concurrent MCP connections, actually
//! opened, against `mcpbench-server`, measured.
//!
//! A process here may hold 20,000 open files and a loopback source address has about
//! 28,000 ephemeral ports per destination, so the harness runs as many server
//! processes (sharing one port with `SO_REUSEPORT`) and client processes (each from
//! its own source address 127.0.0.x) as N needs. Every child watches its stdin and
//! exits when the harness goes away, whatever the reason.
//!
//! Phases: connect + `initialize` every connection; read the servers' allocator-
//! counted heap (idle connections); then each connection calls `tools/call` at the
//! given rate, open-loop (latency from the intended send time), for the duration.
//! Result: `target/mcpbench/connections.json` and a summary; exit 1 when a
//! connection failed or a message was lost.
//!
//! The library: [`run_connections`] runs one load plan and returns its result;
//! the experiments built on it ([`compare`], [`capacity`], [`lifecycle`],
//! [`scaling`]) each own one module with a `run_*` call that returns its result
//! file, and each plan implements [`experiment::Experiment`] (its check, table
//! and exit code); [`experiment::run`] writes the file and maps it to the exit
//! code. [`merge`] joins shard files. `main.rs` only parses the command line,
//! starts the runtime and runs one command.
//!
//! Code map: `cli` (the plans, as the command line and the child processes take
//! them), `orchestrate` (the harness, one function per phase), `client` (one
//! client shard), `schedule` (when calls are due), `counters` (what is counted,
//! merged with `+=`), `procs` (every child process: servers, shards, experiment
//! servers and loads, one `Proc` type), `peers` (the servers an experiment can
//! start), `experiment` (what the experiments share), `runner`
//! (one load against one started server), `output` (result files, the summary,
//! exit codes), `socket` (source-bound sockets, system limits), `verdict` (what
//! fails a run), `error` (typed errors).

pub mod capacity;
pub mod cli;
pub mod client;
pub mod client_error;
pub mod compare;
pub mod connection;
pub mod counters;
pub mod cpu;
pub mod error;
pub mod experiment;
pub mod generations;
pub mod http_client;
pub mod lifecycle;
pub mod listen;
pub mod merge;
pub mod orchestrate;
pub mod output;
pub mod peers;
pub mod pipeline;
pub mod procs;
pub mod runner;
pub mod scaling;
pub mod scenario;
pub mod schedule;
pub mod socket;
pub mod target;
pub mod verdict;
pub mod wire;

pub use error::LoadError;
pub use orchestrate::run_connections;
pub use peers::PeerName;
pub use procs::Binaries;
pub use verdict::failures;

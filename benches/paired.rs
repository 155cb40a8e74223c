//! The paired wall-clock channel's worker: one side (base or head) of
//! `mcpbench paired`. With `--worker` it reads [`Command`]s, one JSON object per
//! line on stdin, and answers each with one [`Reply`] line on stdout; it builds
//! one workload of `mcpbench::workloads` at a time and times samples of it. The
//! coordinator runs two such workers (one per checkout) and alternates them
//! sample by sample (ABBA), so the machine's drift hits both.
//!
//! `cargo bench --bench paired` alone explains this and exits; `-- --list` lists
//! the workloads; `-- --test` runs each once.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use mcpbench::harness::Harness;
use mcpbench::latency::{Method, Recorder};
use mcpbench::workloads::{self, Iteration, Workload};
use mcpbench_files::paired::{Command, Reply, WorkerWorkload};

/// Busy-waits `ns` nanoseconds: the injected slowdown, inside the clock.
fn spin(ns: u64) {
    if ns == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_nanos(ns);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// The workload being sampled.
struct Prepared {
    workload: &'static Workload,
    iteration: Box<dyn Iteration>,
    /// Where `run_batches` records its latencies; never written.
    scratch: Recorder,
    inject_ns: u64,
}

impl Prepared {
    /// `iterations` iterations, each prepared outside the clock; the time of
    /// their measured regions as the Criterion bench measures them
    /// (`run_batches`: threaded workloads time themselves from their threads'
    /// common start), plus the injected wait, if any.
    fn sample(&mut self, iterations: u64) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iterations {
            self.iteration.prepare();
            total += self
                .iteration
                .run_batches(self.workload.per_iteration, &mut self.scratch);
            let t = Instant::now();
            spin(self.inject_ns);
            total += t.elapsed();
        }
        total
    }
}

fn answer(command: Command, current: &mut Option<Prepared>) -> Reply {
    match command {
        Command::List => Reply::Workloads {
            workloads: workloads::all()
                .map(|w| WorkerWorkload {
                    id: w.id.to_string(),
                    per_iteration: w.per_iteration,
                    threads: w.threads,
                })
                .collect(),
            commit: mcpbench::env::Environment::capture().git_commit,
        },
        Command::Prepare { id, inject_ns } => match workloads::find(&id) {
            None => Reply::Error {
                message: format!("no workload {id:?} on this side"),
            },
            Some(w) => {
                // The previous fixture is dropped before the next is built.
                *current = None;
                let mut p = Prepared {
                    workload: w,
                    iteration: (w.build)(),
                    scratch: Recorder::new(w.id, Method::PerOp, Duration::ZERO),
                    inject_ns: 0,
                };
                let warm_up = p.sample(1);
                p.inject_ns = inject_ns;
                *current = Some(p);
                Reply::Ready {
                    warm_up_ns: warm_up.as_nanos() as u64,
                }
            }
        },
        Command::Sample { iterations } => match current {
            None => Reply::Error {
                message: "sample before prepare: no workload is built".into(),
            },
            Some(p) => Reply::Sample {
                ns: p.sample(iterations.max(1)).as_nanos() as u64,
            },
        },
    }
}

fn worker() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut current = None;
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Command>(&line) {
            Ok(command) => answer(command, &mut current),
            Err(e) => Reply::Error {
                message: format!("not a command ({e}): {line:?}"),
            },
        };
        let text = serde_json::to_string(&reply).map_err(std::io::Error::other)?;
        writeln!(out, "{text}")?;
        out.flush()?;
    }
    Ok(())
}

fn main() {
    if std::env::args().any(|a| a == "--worker") {
        if let Err(e) = worker() {
            eprintln!("paired worker: {e}");
            std::process::exit(1);
        }
        return;
    }
    let h = Harness::from_env();
    let all: Vec<&'static Workload> = workloads::all().collect();
    let ids: Vec<&str> = all.iter().map(|w| w.id).collect();
    if h.list(&ids) {
        return;
    }
    if h.quick() {
        for w in all.iter().filter(|w| h.selected(w.id)) {
            let mut current = None;
            let id = w.id.to_string();
            let ready = answer(Command::Prepare { id, inject_ns: 0 }, &mut current);
            let sample = answer(Command::Sample { iterations: 1 }, &mut current);
            match (ready, sample) {
                (Reply::Ready { .. }, Reply::Sample { .. }) => {
                    println!("Testing paired {}: Success", w.id)
                }
                (r, s) => panic!("{}: {r:?} {s:?}", w.id),
            }
        }
        return;
    }
    println!(
        "paired: a worker of `mcpbench paired` (scripts/gate runs it); nothing to bench alone. \
         `-- --list` lists its {} workloads.",
        all.len()
    );
}

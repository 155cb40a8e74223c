//! Why a threaded queue bench can read above its bare `ArrayQueue` ceiling: runs the
//! benches' own `threaded` loop (100,000 messages, capacity 1,024) on the mailbox
//! and on the bare queue, and on the bare queue paced by the mailbox's shared counters
//! (`Paced`), alternating A B C, C B A round by round, and prints each
//! round's time with how often a producer found the queue full and a consumer found
//! it empty (the regime the round ran in), then the medians per side.
//!
//! `cargo run --release --example queue_regimes -- [ROUNDS] [PRODUCERS] [CONSUMERS]`
//! (defaults: 40 rounds, 2 producers, 2 consumers). Nothing else should run.

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use mcpbench::workloads::queue::{CAPACITY, Queue, ThreadedRun, threaded_counted};
use mcpbench_files::pipeline::median;
use mcpbench_queue::Mailbox;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bare queue with the mailbox's shared-counter traffic and nothing else: a
/// push announces itself on one shared atomic word before and after (as the
/// mailbox counts pushes in progress), a pop reads a second word (as the mailbox
/// reads its count of tasks waiting for room). If this side runs as fast as the
/// mailbox, the mailbox wins by being slower to push, not by a cheaper queue.
struct Paced {
    queue: ArrayQueue<u64>,
    state: AtomicU64,
    waiters: CachePadded<AtomicU64>,
}

impl Queue for Paced {
    fn push(&self, v: u64) -> Result<(), u64> {
        self.state.fetch_add(2, Ordering::AcqRel);
        let r = self.queue.push(v);
        self.state.fetch_sub(2, Ordering::Release);
        r
    }
    fn pop(&self) -> Option<u64> {
        let v = self.queue.pop();
        if v.is_some() && self.waiters.load(Ordering::Acquire) != 0 {
            unreachable!("nobody waits in this loop");
        }
        v
    }
}

fn arg(args: &[String], i: usize, name: &str, default: usize) -> Result<usize, String> {
    match args.get(i) {
        None => Ok(default),
        Some(a) => match a.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, got {a:?}")),
        },
    }
}

fn summary(name: &str, runs: &[ThreadedRun]) {
    let mid = |f: fn(&ThreadedRun) -> f64| median(runs.iter().map(f).collect()).unwrap_or(f64::NAN);
    println!(
        "{name:>8}: median {:.3} ms, {:.0} full, {:.0} empty retries per 100,000",
        mid(|r| r.elapsed.as_secs_f64() * 1e3),
        mid(|r| r.full_retries as f64),
        mid(|r| r.empty_retries as f64)
    );
}

fn run_one<Q: Queue>(name: &str, round: usize, q: &Q, p: usize, c: usize) -> ThreadedRun {
    let r = threaded_counted(q, p, c);
    println!(
        "{round:>5} {name:>8} {:>9.3} {:>8} {:>8}",
        r.elapsed.as_secs_f64() * 1e3,
        r.full_retries,
        r.empty_retries
    );
    r
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| {
        Ok::<_, String>((
            arg(&args, 0, "ROUNDS", 40)?,
            arg(&args, 1, "PRODUCERS", 2)?,
            arg(&args, 2, "CONSUMERS", 2)?,
        ))
    })();
    let (rounds, p, c) = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("queue_regimes: {e}");
            std::process::exit(2);
        }
    };
    let mailbox = Mailbox::<u64>::bounded(CAPACITY);
    let bare = ArrayQueue::<u64>::new(CAPACITY);
    let paced = Paced {
        queue: ArrayQueue::new(CAPACITY),
        state: AtomicU64::new(0),
        waiters: CachePadded::new(AtomicU64::new(0)),
    };
    let (mut m, mut b, mut pc) = (Vec::new(), Vec::new(), Vec::new());
    println!("{p} producer(s), {c} consumer(s), capacity {CAPACITY}, {rounds} rounds each");
    println!("round     side        ms     full    empty");
    for round in 0..rounds {
        // A B C, then C B A: no side always runs first or last.
        if round % 2 == 0 {
            m.push(run_one("mailbox", round, &mailbox, p, c));
            b.push(run_one("bare", round, &bare, p, c));
            pc.push(run_one("paced", round, &paced, p, c));
        } else {
            pc.push(run_one("paced", round, &paced, p, c));
            b.push(run_one("bare", round, &bare, p, c));
            m.push(run_one("mailbox", round, &mailbox, p, c));
        }
    }
    summary("mailbox", &m);
    summary("bare", &b);
    summary("paced", &pc);
}

//! Test 8, sustained load: 200 workers on the seed's integrated mix for 30 s
//! (the seed ran rounds of trivial ops and divided by summed latencies). Not a
//! Criterion bench: a run of fixed length with its own clock.
//!
//! Reports throughput as ops over wall-clock time, overall and per window (a
//! third of the run), the spread between windows, per-op latency percentiles
//! (batch means, closed-loop) and allocator-counted live bytes at the start and
//! end. Writes `target/mcpbench/sustained.json` (schema `mcpbench.sustained/1`).
//!
//! Options (after `--`): `--seconds N` (default 30; 3 with `--test`),
//! `--workers N` (default 200), `--flamegraph FILE` (profile the run);
//! Criterion's `--profile-time N` profiles an N-second run into
//! `target/criterion/sustained/mix/200workers/profile/flamegraph.svg`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcpbench::alloc::{self, Counting};
use mcpbench::env::Environment;
use mcpbench::files::{SUSTAINED_SCHEMA, SustainedFile, SustainedMemory, Window};
use mcpbench::group::BATCH;
use mcpbench::harness::Harness;
use mcpbench::latency::{Load, Method, histogram, summarize};
use mcpbench::workloads::SeedMix;
use mcpbench::{profile, results};

#[global_allocator]
static ALLOC: Counting = Counting;

const ID: &str = "sustained/mix/200workers";

fn option<T: std::str::FromStr>(h: &Harness, name: &str, default: T) -> T {
    match h.args.option(name) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("sustained: --{name} {v:?} is not a valid value");
            std::process::exit(2)
        }),
    }
}

fn main() {
    let h = Harness::from_env();
    if h.list(&[ID]) || !h.selected(ID) {
        return;
    }
    let flamegraph = h.flamegraph_path(ID);
    let default_seconds = h
        .args
        .profile_time
        .unwrap_or(if h.quick() { 3.0 } else { 30.0 });
    let seconds: f64 = option(&h, "seconds", default_seconds);
    let workers: usize = option(&h, "workers", 200);
    if !(seconds > 0.0 && seconds <= 3600.0) || workers == 0 {
        eprintln!("sustained: --seconds must be in (0, 3600] and --workers at least 1");
        std::process::exit(2);
    }
    let warm_up = if h.quick() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(2)
    };
    let window = Duration::from_secs_f64(seconds / 3.0);
    println!(
        "sustained: {workers} workers on the integrated mix, {:.1} s warm-up + {seconds} s",
        warm_up.as_secs_f64()
    );

    let rt = mcpbench::runtime(2);
    let mix = Arc::new(SeedMix::new(workers));
    let measuring = Arc::new(AtomicBool::new(false));
    let pause = Arc::new(AtomicBool::new(false));
    let parked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));

    let tasks: Vec<_> = (0..workers)
        .map(|t| {
            let (mix, measuring, stop, done) =
                (mix.clone(), measuring.clone(), stop.clone(), done.clone());
            let (pause, parked) = (pause.clone(), parked.clone());
            rt.spawn(async move {
                let mut hist = histogram();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if pause.load(Ordering::Acquire) {
                        // Parked between batches with its slot routes removed by the
                        // main thread: restart the slot rounds from the top.
                        parked.fetch_add(1, Ordering::AcqRel);
                        while pause.load(Ordering::Acquire) {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        parked.fetch_sub(1, Ordering::AcqRel);
                        i = 0;
                    }
                    let b = Instant::now();
                    for j in i..i + BATCH {
                        mix.op(t, j);
                    }
                    let per_op = b.elapsed().as_nanos() as u64 / BATCH;
                    i += BATCH;
                    if measuring.load(Ordering::Relaxed) {
                        hist.saturating_record(per_op.max(1));
                        done.fetch_add(BATCH, Ordering::Relaxed);
                    }
                    // Share the two worker threads fairly, as 200 clients would.
                    tokio::task::yield_now().await;
                }
                hist
            })
        })
        .collect();

    std::thread::sleep(warm_up);
    // Memory is read with every worker parked and the slot routes removed, at the
    // start and again at the end: the same state, so the difference is a leak.
    let quiesced = || {
        pause.store(true, Ordering::Release);
        while parked.load(Ordering::Acquire) < workers {
            std::thread::sleep(Duration::from_millis(1));
        }
        mix.reset();
        (alloc::live_bytes(), alloc::rss_bytes().unwrap_or(0))
    };
    let (live_start, rss_start) = quiesced();
    pause.store(false, Ordering::Release);
    let guard = flamegraph.as_ref().and_then(|_| profile::start());
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut windows = Vec::new();
    let (mut window_start, mut window_ops) = (start, 0u64);
    let mut next_print = start + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep(Duration::from_millis(20).min(end - now));
        let now = Instant::now();
        let total = done.load(Ordering::Relaxed);
        if now - window_start >= window || now >= end {
            let ops = total - window_ops;
            windows.push(Window {
                start_s: (window_start - start).as_secs_f64(),
                end_s: (now - start).as_secs_f64(),
                ops,
                ops_per_s: ops as f64 / (now - window_start).as_secs_f64(),
            });
            (window_start, window_ops) = (now, total);
        }
        if now >= next_print {
            println!(
                "sustained: {:>5.1} s / {seconds} s, {:.2} M ops/s so far",
                (now - start).as_secs_f64(),
                total as f64 / (now - start).as_secs_f64() / 1e6
            );
            next_print += Duration::from_secs(1);
        }
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let ops = done.load(Ordering::Relaxed);
    let (live_end, rss_end) = quiesced();
    stop.store(true, Ordering::Relaxed);
    pause.store(false, Ordering::Release);
    if let (Some(guard), Some(path)) = (guard, flamegraph.as_ref()) {
        match profile::write_flamegraph(&guard, path) {
            Ok(()) => println!("flamegraph of {ID}: {}", path.display()),
            Err(e) => eprintln!("warning: no flamegraph for {ID}: {e}"),
        }
    }
    let mut merged = histogram();
    rt.block_on(async {
        for t in tasks {
            let _ = merged.add(t.await.expect("worker panicked"));
        }
    });

    let rates: Vec<f64> = windows.iter().map(|w| w.ops_per_s).collect();
    let rate = ops as f64 / elapsed.as_secs_f64();
    let spread = match (
        rates.iter().cloned().reduce(f64::max),
        rates.iter().cloned().reduce(f64::min),
    ) {
        (Some(max), Some(min)) if rate > 0.0 => (max - min) / rate * 100.0,
        _ => 0.0,
    };
    let Some(latency) = summarize(ID, Method::BatchMean(BATCH), Load::ClosedLoop, &merged) else {
        eprintln!("sustained: no operation completed in {seconds} s");
        std::process::exit(1);
    };
    drop(rt);
    println!(
        "sustained: {ops} ops in {:.2} s = {:.2} M ops/s (windows {}; spread {spread:.1}%); per-op p50 {} ns p99 {} ns p99.9 {} ns max {} ns ({} batches of {BATCH})",
        elapsed.as_secs_f64(),
        rate / 1e6,
        rates
            .iter()
            .map(|r| format!("{:.2}M", r / 1e6))
            .collect::<Vec<_>>()
            .join(" "),
        latency.p50,
        latency.p99,
        latency.p999,
        latency.max,
        latency.count
    );
    let file = SustainedFile {
        schema: SUSTAINED_SCHEMA.to_string(),
        id: ID.to_string(),
        workers,
        warm_up_s: warm_up.as_secs_f64(),
        seconds: elapsed.as_secs_f64(),
        ops,
        ops_per_s: rate,
        windows,
        window_spread_pct: spread,
        latency,
        memory: SustainedMemory {
            live_bytes_start: live_start,
            live_bytes_end: live_end,
            live_bytes_delta: live_end - live_start,
            rss_bytes_start: rss_start,
            rss_bytes_end: rss_end,
        },
        environment: Environment::capture(),
    };
    let path = results::results_dir().join("sustained.json");
    if let Err(e) = results::write_json(&path, &file) {
        eprintln!("sustained: could not write {}: {e}", path.display());
        std::process::exit(1);
    }
    println!("sustained: wrote {}", path.display());
}

//! The paired wall-clock channel: base and new side timed sample by sample, in
//! one run, and judged on the paired differences.
//!
//! Criterion rounds of two versions run minutes apart; on a shared 2-core VM the
//! machine drifts by tens of percent in that time, so a round-based verdict can
//! only see large changes. Here each side runs as a worker process
//! (`benches/paired.rs`, built in its own checkout) holding one workload of
//! `mcpbench::workloads` at a time; the coordinator asks them for samples in ABBA
//! order (A B, B A, A B, ...), each sample a few milliseconds, so the two samples
//! of a pair see the same machine. For each pair the log ratio `ln(new / base)`
//! is taken; symmetric outlier fences (1.5 IQR) drop pairs a stall hit.
//!
//! Two processes of one binary differ systematically here (measured: the vCPU
//! each runs on, and per-process draws such as ahash's seeds, moved A/A pairs by
//! up to ±20%), so a comparison is made of blocks, each with a fresh worker per
//! side (a single-threaded workload's two pinned to one CPU, the next block to
//! the next CPU), and the verdict is a t statistic over the blocks' mean log
//! ratios (outlying blocks fenced off too) together with a minimum effect: the
//! rule of `tango-bench` (|z| and a minimum effect), at the level where the noise
//! is. tango runs both sides at once on two cores; on this machine's two noisy
//! cores one at a time is the fairer choice (see ARCHITECTURE.md).
//!
//! What a comparison can detect is not computed but measured: the base is run
//! against a second copy of itself with a busy wait of a known share of an
//! iteration added inside the clock, up a ladder of shares, until the rule flags
//! one ([`PairedBench::detects_pct`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mcpbench_files::env::Environment;
pub use mcpbench_files::paired::{
    Command, Injection, PAIRED_SCHEMA, PairedBench, PairedFile, PairedSettings, PairedStats, Reply,
    WorkerWorkload,
};

mod stats;
mod worker;

pub use stats::{blocks_stats, stats};
pub use worker::{Worker, worker_exe};

/// The default settings of `mcpbench paired`.
pub fn default_settings() -> PairedSettings {
    PairedSettings {
        seconds_per_bench: 1.5,
        blocks: 8,
        min_pairs: 8,
        max_pairs: 2000,
        // A t statistic over at most 8 blocks (7 degrees of freedom, fewer when
        // a block is fenced off): 4.0 is beyond its one-sided 0.5% point (3.5).
        z: 4.0,
        min_effect_pct: 3.0,
        threaded_min_effect_pct: crate::compare::THREADED_MIN_EFFECT_PCT,
        injection_ladder_pct: vec![5.0, 10.0, 20.0, 40.0, 80.0],
    }
}

/// A sample's target length: long enough that the timer is nothing, short
/// enough that the two samples of a pair see the same machine.
pub(crate) const SAMPLE_TARGET: Duration = Duration::from_millis(5);

/// What went wrong in a paired run, with the side and the input named.
#[derive(Debug, thiserror::Error)]
pub enum PairedError {
    /// The worker could not be started.
    #[error("{side}: cannot start the paired worker of {}: {source}", dir.display())]
    Spawn {
        /// `base` or `new`.
        side: String,
        /// Its checkout.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The worker stopped answering, or could not be built.
    #[error("{side}: the paired worker in {} stopped answering ({reason}); does that checkout have benches/paired.rs?", dir.display())]
    Gone {
        /// `base` or `new`.
        side: String,
        /// Its checkout.
        dir: PathBuf,
        /// What was seen.
        reason: String,
    },
    /// The worker answered with an error or something unexpected.
    #[error("{side}: {message}")]
    Reply {
        /// `base` or `new`.
        side: String,
        /// Its message, or what was expected.
        message: String,
    },
}

/// The paired rule's reading of `s`, a comparison of a workload on `threads`
/// threads: +1 slower (a regression), -1 faster, 0 neither. A change counts when
/// its t is beyond the setting, it is beyond the minimum effect (the threaded one
/// for more than one thread), and every kept block agrees on its direction (a
/// sign test: 8 of 8 by chance is 1 in 256).
pub fn judge(s: &PairedStats, settings: &PairedSettings, threads: usize) -> i8 {
    let effect = if threads > 1 {
        settings
            .min_effect_pct
            .max(settings.threaded_min_effect_pct)
    } else {
        settings.min_effect_pct
    };
    let agree = |slower: bool| {
        s.blocks_kept < 2
            || if slower {
                s.blocks_slower == s.blocks_kept
            } else {
                s.blocks_slower == 0
            }
    };
    if s.z > settings.z && s.change_pct > effect && agree(true) {
        1
    } else if s.z < -settings.z && s.change_pct < -effect && agree(false) {
        -1
    } else {
        0
    }
}

/// One side of a comparison: its checkout and its worker executable.
#[derive(Debug, Clone)]
pub struct Side {
    /// `base`, `new`, ...
    pub label: String,
    /// Its checkout.
    pub dir: PathBuf,
    /// Its `paired` bench binary ([`worker_exe`]).
    pub exe: PathBuf,
}

impl Side {
    fn spawn(&self, cpu: Option<usize>) -> Result<Worker, PairedError> {
        Worker::spawn(&self.label, &self.dir, &self.exe, cpu)
    }
}

/// One comparison of workload `w`: `a` (plain) against `b` (with `inject_ns`
/// per iteration), in [`PairedSettings::blocks`] blocks, each with fresh worker
/// processes and pairs in ABBA order; a single-threaded workload's two workers
/// share one CPU, the next block's the next CPU.
pub fn compare_one(
    a: &Side,
    b: &Side,
    w: &WorkerWorkload,
    inject_ns: u64,
    settings: &PairedSettings,
) -> Result<PairedStats, PairedError> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let blocks = settings.blocks.max(1);
    let budget = Duration::from_secs_f64(settings.seconds_per_bench / blocks as f64);
    let min_pairs = settings.min_pairs.max(2);
    let mut iterations = 0;
    let mut all = Vec::new();
    for k in 0..blocks {
        let cpu = (w.threads <= 1).then_some(k as usize % cpus);
        let mut wa = a.spawn(cpu)?;
        let mut wb = b.spawn(cpu)?;
        let ta = wa.prepare(&w.id, 0)?;
        let tb = wb.prepare(&w.id, inject_ns)?;
        if iterations == 0 {
            // Fixed for the whole comparison, from the faster side's warm-up.
            let one = ta.min(tb).max(1);
            iterations = (SAMPLE_TARGET.as_nanos() as u64)
                .div_ceil(one)
                .clamp(1, 1000);
        }
        let start = Instant::now();
        let mut pairs = Vec::new();
        while (pairs.len() as u64) < settings.max_pairs / blocks
            && ((pairs.len() as u64) < min_pairs || start.elapsed() < budget)
        {
            let pair = if pairs.len() % 2 == 0 {
                let x = wa.sample(iterations)?;
                (x, wb.sample(iterations)?)
            } else {
                let y = wb.sample(iterations)?;
                (wa.sample(iterations)?, y)
            };
            pairs.push(pair);
        }
        all.push(pairs);
    }
    Ok(blocks_stats(&all, iterations))
}

/// A paired run: `base` and `new` checkouts, the workloads whose id `selected`
/// accepts. `progress` gets one line per bench.
pub fn run(
    base_dir: &Path,
    new_dir: &Path,
    selected: &dyn Fn(&str) -> bool,
    settings: &PairedSettings,
    progress: &mut dyn FnMut(&str),
) -> Result<PairedFile, PairedError> {
    let base = Side {
        label: "base".into(),
        dir: base_dir.into(),
        exe: worker_exe("base", base_dir)?,
    };
    let new = Side {
        label: "new".into(),
        dir: new_dir.into(),
        exe: worker_exe("new", new_dir)?,
    };
    // A second copy of the base (its own processes), for the injection ladder.
    let control = Side {
        label: "base (injection copy)".into(),
        ..base.clone()
    };
    let (base_list, base_commit) = base.spawn(None)?.list()?;
    let (new_list, new_commit) = new.spawn(None)?.list()?;
    let in_new = |id: &str| new_list.iter().any(|w| w.id == id);
    let in_base = |id: &str| base_list.iter().any(|w| w.id == id);
    let common: Vec<&WorkerWorkload> = base_list
        .iter()
        .filter(|w| selected(&w.id) && in_new(&w.id))
        .collect();
    let mut file = PairedFile {
        schema: PAIRED_SCHEMA.into(),
        environment: Environment::capture(),
        base_commit,
        new_commit,
        settings: settings.clone(),
        benches: Default::default(),
        only_in_base: base_list
            .iter()
            .filter(|w| selected(&w.id) && !in_new(&w.id))
            .map(|w| w.id.clone())
            .collect(),
        only_in_new: new_list
            .iter()
            .filter(|w| selected(&w.id) && !in_base(&w.id))
            .map(|w| w.id.clone())
            .collect(),
    };
    for (k, w) in common.iter().enumerate() {
        let stats = compare_one(&base, &new, w, 0, settings)?;
        let mut injections = Vec::new();
        let mut detects_pct = None;
        for &pct in &settings.injection_ladder_pct {
            let inject_ns = (stats.base_ns * pct / 100.0).round() as u64;
            let s = compare_one(&base, &control, w, inject_ns, settings)?;
            let flagged = judge(&s, settings, w.threads) > 0;
            injections.push(Injection {
                inject_pct: pct,
                stats: s,
                flagged,
            });
            if flagged {
                detects_pct = Some(pct);
                break;
            }
        }
        progress(&format!(
            "paired: [{}/{}] {}: {:+.1}% (t {:.1} over {} blocks, {} pairs), detects {}",
            k + 1,
            common.len(),
            w.id,
            stats.change_pct,
            stats.z,
            stats.blocks,
            stats.pairs,
            detects_pct.map_or("nothing up to the ladder's top".into(), |p| format!(
                "≥ {p}%"
            ))
        ));
        file.benches.insert(
            w.id.clone(),
            PairedBench {
                per_iteration: w.per_iteration,
                threads: w.threads,
                stats,
                injections,
                detects_pct,
            },
        );
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs whose new side is `ratio` times the base, with a drift that moves
    /// both sides of a pair alike, and a jitter of ±`jitter` on the new side.
    fn pairs(n: usize, ratio: f64, jitter: f64) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let drift = 1.0 + 0.5 * ((i as f64) / 7.0).sin();
                let j = if i % 2 == 0 {
                    1.0 + jitter
                } else {
                    1.0 - jitter
                };
                (1000.0 * drift, 1000.0 * drift * ratio * j)
            })
            .collect()
    }

    #[test]
    fn a_drift_shared_by_both_sides_of_a_pair_cancels() {
        let s = stats(&pairs(200, 1.05, 0.01), 1);
        assert!((s.change_pct - 5.0).abs() < 0.1, "{s:?}");
        assert!(s.z > 10.0, "{s:?}");
        assert_eq!(judge(&s, &default_settings(), 1), 1);
        let same = stats(&pairs(200, 1.0, 0.01), 1);
        assert!(same.change_pct.abs() < 0.1, "{same:?}");
        assert_eq!(judge(&same, &default_settings(), 1), 0);
        let faster = stats(&pairs(200, 0.9, 0.01), 1);
        assert_eq!(judge(&faster, &default_settings(), 1), -1);
    }

    #[test]
    fn a_small_change_is_not_flagged_below_the_minimum_effect() {
        // Significant (z large) but 1%: below the 3% minimum effect.
        let s = stats(&pairs(400, 1.01, 0.001), 1);
        assert!(s.z > 10.0, "{s:?}");
        assert_eq!(judge(&s, &default_settings(), 1), 0);
    }

    #[test]
    fn one_stalled_sample_is_fenced_off_and_does_not_decide() {
        let mut p = pairs(100, 1.0, 0.01);
        p[40].1 *= 20.0; // a 100 ms stall in one new sample
        let s = stats(&p, 1);
        assert_eq!(s.kept, 99, "{s:?}");
        assert!(s.change_pct.abs() < 0.5, "{s:?}");
        assert_eq!(judge(&s, &default_settings(), 1), 0);
    }

    #[test]
    fn a_process_level_offset_in_one_block_does_not_decide() {
        // Six blocks of precise pairs, one block 10% off (another hash seed in
        // one process): over the pairs that would be "significant"; over the
        // blocks it is the noise it is.
        let mut blocks: Vec<Vec<(f64, f64)>> = (0..6).map(|_| pairs(50, 1.0, 0.001)).collect();
        blocks[3] = pairs(50, 1.10, 0.001);
        let s = blocks_stats(&blocks, 1);
        assert_eq!((s.blocks, s.pairs), (6, 300));
        assert!(
            s.change_pct.abs() < 0.5,
            "the outlying block is fenced off: {s:?}"
        );
        assert_eq!(judge(&s, &default_settings(), 1), 0);
        // A change every block shares is found.
        let shifted: Vec<Vec<(f64, f64)>> = (0..6)
            .map(|k| pairs(50, 1.05 + 0.002 * k as f64, 0.001))
            .collect();
        let s = blocks_stats(&shifted, 1);
        assert!(s.change_pct > 5.0 && s.change_pct < 6.2, "{s:?}");
        assert_eq!(judge(&s, &default_settings(), 1), 1);
        assert!(s.ci_low_pct > 4.0 && s.ci_high_pct < 7.0, "{s:?}");
        assert_eq!((s.blocks_kept, s.blocks_slower), (6, 6));
        // On two threads the same +5% is inside the threaded minimum effect.
        assert_eq!(judge(&s, &default_settings(), 2), 0);
        // Blocks that do not agree on the direction: not flagged.
        let split: Vec<Vec<(f64, f64)>> = [1.08, 1.02, 0.99, 1.06, 1.10, 1.04]
            .iter()
            .map(|&r| pairs(50, r, 0.001))
            .collect();
        let s = blocks_stats(&split, 1);
        assert_eq!((s.blocks_kept, s.blocks_slower), (6, 5), "{s:?}");
        assert_eq!(judge(&s, &default_settings(), 1), 0);
        // The sign test alone decides where t would pass: a t past the bound with
        // one block the other way is still not flagged.
        let forced = PairedStats { z: 10.0, ..s };
        assert_eq!(judge(&forced, &default_settings(), 1), 0);
    }

    #[test]
    fn noise_without_a_change_has_a_small_z() {
        // Alternating ±10% jitter, no change: the mean is 0 within its error.
        let s = stats(&pairs(101, 1.0, 0.10), 4);
        assert!(s.z.abs() < 3.0, "{s:?}");
        assert_eq!(s.iterations_per_sample, 4);
        assert!((s.base_ns - 250.0).abs() < 150.0, "per iteration: {s:?}");
    }
}

//! The statistics of paired samples: log ratios with outliers fenced off, the
//! blocks' means, a t statistic over them.

use super::PairedStats;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The log ratios `ln(new / base)` of `pairs`, inside symmetric fences of 1.5
/// IQR (all of them when there are fewer than 4).
fn fenced_log_ratios(pairs: &[(f64, f64)]) -> Vec<f64> {
    fenced_values(pairs.iter().map(|&(a, b)| (b / a).ln()).collect())
}

/// `d` inside symmetric fences of 1.5 IQR (all of it when it has fewer than 4
/// values), sorted.
fn fenced_values(mut d: Vec<f64>) -> Vec<f64> {
    d.sort_by(f64::total_cmp);
    if d.len() < 4 {
        return d;
    }
    let (q1, q3) = (quantile(&d, 0.25), quantile(&d, 0.75));
    let fence = 1.5 * (q3 - q1);
    d.into_iter()
        .filter(|&x| x >= q1 - fence && x <= q3 + fence)
        .collect()
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n.max(1.0);
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Student's t, two-sided 95%, for `df` degrees of freedom (1.96 beyond 30).
fn t95(df: usize) -> f64 {
    const T: [f64; 10] = [12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23];
    match df {
        0 => f64::INFINITY,
        d if d <= T.len() => T[d - 1],
        d if d <= 30 => 2.23 - (d as f64 - 10.0) * (0.19 / 20.0),
        _ => 1.96,
    }
}

/// The statistics of one block of `pairs` (base ns, new ns) of samples of
/// `iterations` iterations each: its z over the pairs. See [`blocks_stats`].
pub fn stats(pairs: &[(f64, f64)], iterations: u64) -> PairedStats {
    blocks_stats(&[pairs.to_vec()], iterations)
}

/// The statistics of `blocks` of pairs, each block from its own pair of worker
/// processes. Each block's pairs give a fenced mean log ratio; with two blocks or
/// more, the verdict's statistic is the mean of the block means over its standard
/// error (a t statistic: process-level effects, such as another hash seed or
/// another CPU, count as the noise they are); with one block, over the pairs.
pub fn blocks_stats(blocks: &[Vec<(f64, f64)>], iterations: u64) -> PairedStats {
    let fenced: Vec<Vec<f64>> = blocks.iter().map(|b| fenced_log_ratios(b)).collect();
    let all: Vec<(f64, f64)> = blocks.iter().flatten().copied().collect();
    let (mut blocks_kept, mut blocks_slower) = (0, 0);
    let (mean, se, df) = if blocks.len() >= 2 {
        // A block whose processes drew an outlying layout (a hash seed that
        // crowds one shard, a stall) is fenced off like an outlying pair.
        let means = fenced_values(fenced.iter().map(|d| mean_sd(d).0).collect());
        blocks_kept = means.len() as u64;
        blocks_slower = means.iter().filter(|&&m| m > 0.0).count() as u64;
        let (m, sd) = mean_sd(&means);
        (
            m,
            sd / (means.len() as f64).sqrt(),
            means.len().saturating_sub(1),
        )
    } else {
        let d = fenced.first().cloned().unwrap_or_default();
        let (m, sd) = mean_sd(&d);
        (
            m,
            sd / (d.len().max(1) as f64).sqrt(),
            d.len().saturating_sub(1),
        )
    };
    let z = if se > 0.0 {
        mean / se
    } else if mean == 0.0 {
        0.0
    } else {
        mean.signum() * f64::INFINITY
    };
    let pct = |x: f64| (x.exp() - 1.0) * 100.0;
    let per_iter = iterations.max(1) as f64;
    let t = t95(df);
    PairedStats {
        pairs: all.len() as u64,
        blocks: blocks.len() as u64,
        blocks_kept,
        blocks_slower,
        kept: fenced.iter().map(|d| d.len() as u64).sum(),
        iterations_per_sample: iterations,
        base_ns: median(&mut all.iter().map(|p| p.0).collect::<Vec<_>>()) / per_iter,
        new_ns: median(&mut all.iter().map(|p| p.1).collect::<Vec<_>>()) / per_iter,
        change_pct: pct(mean),
        ci_low_pct: pct(mean - t * se),
        ci_high_pct: pct(mean + t * se),
        z,
    }
}

//! The pull-request gate's verdict on recorded data from this machine
//! (`tests/fixtures/gate/`, see its README): rounds of one commit compared with
//! each other (A/A) flag nothing; an injected slowdown is caught on the channel
//! meant to catch it; benches above the noise bound are named unstable.

use std::path::{Path, PathBuf};

use mcpbench_report::baseline::Baseline;
use mcpbench_report::compare::{Channel, Gate, Row, Verdict, compare, markdown};
use mcpbench_report::noise::NoiseFile;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gate")
}

fn rounds(prefix: &str) -> Vec<Baseline> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/fixtures/gate")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "no {prefix}*.json in {}",
        dir().display()
    );
    names
        .iter()
        .map(|p| Baseline::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn noise() -> NoiseFile {
    NoiseFile::load(&dir().join("noise.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn gate(noise: &NoiseFile) -> Gate<'_> {
    Gate {
        threshold_pct: mcpbench_report::DEFAULT_THRESHOLD_PCT,
        instructions_threshold_pct: mcpbench_report::DEFAULT_INSTRUCTIONS_THRESHOLD_PCT,
        allocations_threshold_pct: mcpbench_report::DEFAULT_ALLOCATIONS_THRESHOLD_PCT,
        noise: Some(noise),
        paired: None,
        allow_removed: false,
    }
}

fn judged(base: &[Baseline], head: &[Baseline], g: &Gate) -> Vec<Row> {
    compare(base, head, g).unwrap_or_else(|e| panic!("{e}"))
}

fn flagged(base: &[Baseline], head: &[Baseline], n: &NoiseFile) -> Vec<String> {
    judged(base, head, &gate(n))
        .into_iter()
        .filter(|r| r.verdict == Verdict::Regression)
        .map(|r| r.id)
        .collect()
}

#[test]
fn three_interleaved_rounds_of_one_commit_flag_nothing() {
    let n = noise();
    let base = rounds("aa-base-");
    let head = rounds("aa-head-");
    assert_eq!((base.len(), head.len()), (3, 3), "three pairs of rounds");
    let rows = judged(&base, &head, &gate(&n));
    assert_eq!(
        flagged(&base, &head, &n),
        Vec::<String>::new(),
        "the gate's A/A verdict"
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.channel == Some(Channel::Instructions))
            .count(),
        14,
        "every CPU-bound bench judged on its instruction count"
    );
    // The first pair alone (it carries the counts) is quiet too.
    assert_eq!(flagged(&base[..1], &head[..1], &n), Vec::<String>::new());
}

#[test]
fn one_round_each_without_counts_is_not_enough_here() {
    // Recorded: pairs 2 and 3 of the same A/A, one round each and no instruction
    // counts, flag benches that moved 33% to 279% between two runs of the same
    // code. This is why the gate runs several rounds and counts instructions.
    let n = noise();
    let base = rounds("aa-base-");
    let head = rounds("aa-head-");
    let loud: Vec<String> = (1..3)
        .flat_map(|k| flagged(&base[k..=k], &head[k..=k], &n))
        .collect();
    assert!(
        !loud.is_empty(),
        "the recorded single pairs flagged nothing"
    );
}

#[test]
fn an_injected_cpu_slowdown_is_caught_by_the_instruction_channel() {
    let n = noise();
    let base = rounds("cpu-base-");
    let head = rounds("cpu-head-");
    let rows = judged(&base, &head, &gate(&n));
    let flagged: Vec<&str> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regression)
        .map(|r| r.id.as_str())
        .collect();
    assert!(
        flagged.contains(&"registry/lookup/100k"),
        "the slowed-down lookup was not flagged: {flagged:?}"
    );
    for r in rows.iter().filter(|r| r.verdict == Verdict::Regression) {
        assert_eq!(r.channel, Some(Channel::Instructions), "{r:?}");
        assert!(
            r.id.starts_with("registry/") || r.id.starts_with("integrated/"),
            "only paths that call Registry::lookup may move: {r:?}"
        );
    }
}

#[test]
fn an_injected_io_slowdown_is_caught_on_the_wall_clock_where_it_exceeds_the_noise() {
    // 16 us of CPU per message in netio's server: several times the time of a
    // pipelined message, a third of a 2-thread round trip.
    let n = noise();
    let rows = judged(&rounds("io-base-"), &rounds("io-head-"), &gate(&n));
    let row = |id: &str| {
        rows.iter()
            .find(|r| r.id == id && r.channel == Some(Channel::WallClock))
            .expect(id)
            .clone()
    };
    for id in ["netio/pipelined64/zero_copy", "netio/pipelined64/naive"] {
        let r = row(id);
        assert_eq!(r.channel, Some(Channel::WallClock), "{r:?}");
        assert_eq!(r.verdict, Verdict::Regression, "{r:?}");
    }
    // +33% on the round trip is inside this bench's measured spread (71%): the
    // gate says it could not tell ("not judged"), rather than "no change".
    let r = row("netio/pingpong/zero_copy");
    assert_eq!(r.verdict, Verdict::NotJudged, "{r:?}");
    assert!(r.change_pct.unwrap() > 20.0 && r.threshold_pct.unwrap() > r.change_pct.unwrap());
    // The bare tokio echo does not run our server: unchanged, not flagged.
    assert_eq!(
        row("netio/pipelined64/ceiling_tokio_echo").verdict,
        Verdict::Noise
    );
}

#[test]
fn benches_above_the_noise_bound_are_named_unstable() {
    let mut n = noise();
    // Whatever this machine measured, a bound below the largest spread names at
    // least that bench, in the table's summary and on its row.
    let (worst, spread) = n
        .benches
        .iter()
        .map(|(id, b)| (id.clone(), b.spread_pct))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("benches in the noise file");
    n.unstable_above_pct = spread / 2.0;
    let base = rounds("aa-base-");
    let head = rounds("aa-head-");
    let g = gate(&n);
    let rows = judged(&base, &head, &g);
    let row = rows
        .iter()
        .find(|r| r.id == worst && r.channel == Some(Channel::WallClock))
        .expect("worst bench compared");
    assert!(row.unstable, "{row:?}");
    let md = markdown(&rows, &g, (base.len(), head.len()));
    assert!(md.contains("Unstable here"), "{md}");
    let line = md
        .lines()
        .find(|l| l.starts_with(&format!("| `{worst}`")))
        .expect("row");
    assert!(line.contains("unstable"), "{line}");
}

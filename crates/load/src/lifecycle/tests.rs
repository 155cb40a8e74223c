use super::*;

#[test]
fn samples_are_dense_first_and_end_at_the_wait() {
    assert_eq!(sample_times(3.0), vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(sample_times(10.0), vec![0.0, 1.0, 2.0, 5.0, 10.0]);
    let t = sample_times(90.0);
    assert_eq!((t[0], *t.last().unwrap()), (0.0, 90.0));
    assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
}

#[test]
fn a_watched_scenario_reads_its_probes_and_samples() {
    let mut run = not_run("mcpbench");
    let mut r = mcpbench_files::ConnectionsFile::example();
    r.server_rss = Some(mcpbench_files::ServerRss {
        pid: 1,
        before: 10_000_000,
        idle: 20_000_000,
        after: 19_000_000,
        per_connection_idle: Some(5000.0),
        per_connection_after: Some(4500.0),
        processes: 1,
    });
    run.result = Some(r);
    let probe = |at_s, status| Probe {
        at_s,
        status,
        error: None,
    };
    let w = Watched {
        run,
        samples: vec![
            RssSample {
                at_s: 0.0,
                rss: Some(19_000_000),
            },
            RssSample {
                at_s: 30.0,
                rss: Some(12_500_000),
            },
        ],
        probes: vec![
            probe(0.0, Some(200)),
            probe(1.0, None),
            probe(30.0, Some(404)),
        ],
    };
    assert_eq!(w.first_forgotten(), Some(30.0));
    assert_eq!(w.forgotten(), (1, 2));
    let held = w.still_held().expect("rss known");
    assert!((held - 0.25).abs() < 1e-9, "{held}");
}

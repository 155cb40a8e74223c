use super::*;

fn plan(count: u64, rate: f64, duration: f64) -> Plan {
    Plan {
        count,
        rate,
        duration,
        size: 4096,
        connect_concurrency: 64,
        give_up_after: None,
        processes: 1,
        server: ServerKind::Mcp,
        target: None,
        server_pid: None,
        transport: TransportKind::Tcp,
        protocol: Protocol::Handshake,
        tool: "text".into(),
        arguments: "{}".into(),
        abandon: false,
        out: None,
        flamegraph: None,
        shard: None,
        start_at: None,
        source: None,
        go_on_stdin: false,
    }
}

#[test]
fn the_default_plan_is_the_command_lines() {
    let p = Plan::with_defaults(7);
    assert_eq!(p.count, 7);
    assert!(p.check().is_ok());
    // The flags' defaults, as --help states them.
    assert_eq!((p.rate, p.duration, p.size), (1.0, 30.0, 4096));
    assert_eq!((p.tool.as_str(), p.arguments.as_str()), ("text", "{}"));
    assert_eq!(p.protocol, Protocol::Handshake);
    assert!(p.target.is_none() && p.shard.is_none() && !p.go_on_stdin);
}

#[test]
fn plans_no_run_could_carry_out_are_refused_by_name() {
    assert!(plan(10, 1.0, 30.0).check().is_ok());
    assert!(
        plan(0, 1.0, 30.0)
            .check()
            .unwrap_err()
            .to_string()
            .contains("--count")
    );
    for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-20] {
        assert!(
            plan(10, rate, 30.0)
                .check()
                .unwrap_err()
                .to_string()
                .contains("--rate"),
            "{rate}"
        );
    }
    for duration in [0.0, f64::INFINITY, f64::NAN, 1e9] {
        let e = plan(10, 1.0, duration).check().unwrap_err();
        assert!(e.to_string().contains("--duration"), "{duration}: {e}");
    }
    for arguments in ["[1]", "{", "3"] {
        let mut p = plan(10, 1.0, 30.0);
        p.arguments = arguments.into();
        let e = p.check().unwrap_err();
        assert!(e.to_string().contains("--arguments"), "{arguments}: {e}");
    }
    let mut p = plan(10, 1.0, 30.0);
    p.tool = "a\"b".into();
    assert!(p.check().unwrap_err().to_string().contains("--tool"));
}

#[test]
fn a_shard_is_named_by_index_or_by_the_job_index() {
    assert_eq!(
        ShardSpec::parse("2/3", None).ok(),
        Some(ShardSpec { index: 2, of: 3 })
    );
    assert_eq!(
        ShardSpec::parse("3", Some("1")).ok(),
        Some(ShardSpec { index: 1, of: 3 })
    );
    let e = ShardSpec::parse("3", None).unwrap_err();
    assert!(e.to_string().contains("JOB_COMPLETION_INDEX"), "{e}");
    assert!(
        ShardSpec::parse("3/3", None)
            .unwrap_err()
            .to_string()
            .contains("0..3")
    );
    assert!(ShardSpec::parse("0/0", None).is_err());
    assert!(
        ShardSpec::parse("a/3", None)
            .unwrap_err()
            .to_string()
            .contains("\"a\"")
    );
    assert!(
        ShardSpec::parse("3", Some("x"))
            .unwrap_err()
            .to_string()
            .contains("JOB_COMPLETION_INDEX")
    );
}

#[test]
fn the_slices_of_a_run_cover_it_once() {
    for (count, of) in [(10, 3), (3, 5), (90_000, 6), (1, 1)] {
        let mut next = 0;
        for index in 0..of {
            let (first, n) = ShardSpec { index, of }.slice(count);
            assert_eq!(first, next, "{count} over {of}: shard {index}");
            next += n;
        }
        assert_eq!(next, count);
    }
    assert_eq!(ShardSpec { index: 0, of: 3 }.slice(10), (0, 4));
}

#[test]
fn a_shard_needs_a_start() {
    let mut p = plan(10, 1.0, 30.0);
    p.shard = Some(ShardSpec { index: 0, of: 2 });
    assert!(p.check().unwrap_err().to_string().contains("--start-at"));
    p.start_at = Some("2026-12-03T12:00:00Z".parse().unwrap());
    assert!(p.check().is_ok());
    p.processes = 2;
    assert!(p.check().unwrap_err().to_string().contains("--processes"));
    assert!(
        "tomorrow"
            .parse::<StartAt>()
            .unwrap_err()
            .to_string()
            .contains("RFC 3339")
    );
}

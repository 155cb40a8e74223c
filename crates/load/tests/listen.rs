//! `listen` against our server started in the test process: every delivery
//! counted in both generations, a server whose streams fall behind caught as
//! missed deliveries, an unreachable server told apart from a bad plan.

use clap::Parser;
use mcpbench_load::LoadError;
use mcpbench_load::cli::{Cli, Cmd, ListenPlan};
use mcpbench_load::listen::{failures, run_listen};
use mcpbench_load::procs::Binaries;
mod support;
use support::{dead_url, our_server};

fn plan(args: &[&str]) -> ListenPlan {
    let cli = Cli::try_parse_from(["mcpbench-load", "listen"].iter().chain(args).copied())
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.command {
        Cmd::Listen(p) => p,
        _ => unreachable!("parsed as listen"),
    }
}

fn built() -> Binaries {
    support::built_binaries()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_two_server_and_two_client_processes_every_listener_gets_every_update() {
    // The trigger reaches one server process; the listeners of the other get
    // its updates through the event bus (a folder, then Redis), or they are
    // missed.
    for bus in ["host", "redis"] {
        let p = plan(&[
            "--count",
            "300",
            "--processes",
            "2",
            "--events",
            "5",
            "--duration",
            "1",
            "--control-rate",
            "5",
            "--bus",
            bus,
        ]);
        let f = run_listen(&p, &built())
            .await
            .unwrap_or_else(|e| panic!("--bus {bus}: {e}"));
        f.check().expect("a consistent file");
        assert_eq!(failures(&f), None, "{f:?}");
        assert_eq!(f.bus.as_deref(), Some(bus));
        assert_eq!((f.listeners, f.events), (300, 5));
        assert_eq!(
            (f.expected, f.delivered, f.missed),
            (1500, 1500, 0),
            "--bus {bus}"
        );
        let s = f.server.as_ref().expect("both servers' stats");
        assert_eq!(s.listeners, 300, "held, summed over the server processes");
        assert!(
            s.heap_per_listener_bytes.is_some(),
            "the server binary counts its heap"
        );
    }
}

#[test]
fn a_redis_bus_is_for_the_servers_the_run_starts() {
    let p = plan(&[
        "--count",
        "10",
        "--bus",
        "redis",
        "--target",
        "http://127.0.0.1:1/mcp",
    ]);
    let e = p.check().expect_err("refused").to_string();
    assert!(e.contains("--bus redis"), "{e}");
    assert!(plan(&["--count", "10", "--bus", "redis"]).shares_bus());
    assert!(!plan(&["--count", "10"]).shares_bus());
    assert!(plan(&["--count", "10", "--processes", "2"]).shares_bus());
    // The Python peer serves subscriptions/listen only; rmcp's serves both.
    let e = plan(&[
        "--count",
        "10",
        "--server",
        "python",
        "--protocol",
        "2025-11-25",
    ])
    .check()
    .expect_err("refused")
    .to_string();
    assert!(e.contains("--protocol 2026-07-28"), "{e}");
    for peer in ["python", "rmcp"] {
        assert!(
            plan(&["--count", "10", "--server", peer]).check().is_ok(),
            "{peer}"
        );
    }
    let both = ["--count", "10", "--server", "rmcp", "--protocol"];
    assert!(plan(&[&both[..], &["2025-11-25"]].concat()).check().is_ok());
    // The first-generation TypeScript peer has no touch tool.
    let e = plan(&["--count", "10", "--server", "typescript"])
        .check()
        .expect_err("refused")
        .to_string();
    assert!(e.contains("--target"), "{e}");
}

/// Never started: every run here has --target.
fn no_binaries() -> Binaries {
    Binaries {
        load: "/nonexistent/mcpbench-load".into(),
        server: "/nonexistent/mcpbench-server".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_reaches_every_listener_in_both_generations() {
    let server = our_server().await;
    let url = format!("http://{}/mcp", server.local_addr());
    for protocol in ["2026-07-28", "2025-11-25"] {
        let p = plan(&[
            "--target",
            &url,
            "--count",
            "20",
            "--events",
            "10",
            "--duration",
            "1",
            "--control-rate",
            "5",
            "--protocol",
            protocol,
        ]);
        let f = run_listen(&p, &no_binaries()).await.expect("a run");
        f.check().expect("a consistent file");
        assert_eq!(failures(&f), None, "{protocol}: {f:?}");
        assert_eq!((f.listeners, f.failed), (20, 0), "{protocol}");
        assert_eq!(f.events, 10, "{protocol}");
        assert_eq!(
            (f.expected, f.delivered, f.missed),
            (200, 200, 0),
            "{protocol}"
        );
        assert_eq!(f.delivery_ns.count, 200);
        assert_eq!(f.control_ns.count, 5);
        let s = f
            .server
            .as_ref()
            .expect("our server answers mcpbench/stats");
        assert_eq!(
            s.listeners, 20,
            "{protocol}: held, as the server counts them"
        );
        assert_eq!(s.lagged, 0);
        assert_eq!(f.protocol, protocol);
        // The next run counts its own streams only once these are closed.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while server.state().stats().listeners > 0 {
            assert!(std::time::Instant::now() < deadline, "streams never closed");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_fall_behind_are_missed_deliveries_and_fail_the_run() {
    // A ring of one event: a listener not scheduled between two updates lags
    // and its stream is closed; 1,000 updates as fast as the trigger goes.
    let server = mcpbench_server::start_http(
        "127.0.0.1:0".parse().unwrap(),
        mcpbench_server::Settings {
            listen_queue: 1,
            ..mcpbench_server::Settings::default()
        },
        mcpbench_server::http::HttpSettings::default(),
    )
    .await
    .expect("server");
    let url = format!("http://{}/mcp", server.local_addr());
    let p = plan(&[
        "--target",
        &url,
        "--count",
        "200",
        "--events",
        "100000",
        "--duration",
        "0.01",
        "--control-rate",
        "0",
        "--grace",
        "1",
    ]);
    let f = run_listen(&p, &no_binaries()).await.expect("a run");
    f.check().expect("a consistent file");
    assert!(f.missed > 0 && f.streams_ended > 0, "nothing missed: {f:?}");
    assert!(
        f.server.as_ref().is_some_and(|s| s.lagged > 0),
        "{:?}",
        f.server
    );
    let why = failures(&f).expect("a failed run");
    assert!(why.contains("deliveries missed"), "{why}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_not_a_bad_plan() {
    let p = plan(&["--target", &dead_url(), "--count", "2", "--duration", "1"]);
    match run_listen(&p, &no_binaries()).await {
        Err(LoadError::Unreachable(why)) => assert!(why.contains("trigger"), "{why}"),
        other => panic!("not Unreachable: {other:?}"),
    }
    let p = plan(&["--target", &dead_url(), "--count", "0"]);
    assert!(matches!(
        run_listen(&p, &no_binaries()).await,
        Err(LoadError::Plan(_))
    ));
}

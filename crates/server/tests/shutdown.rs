//! The binary's graceful shutdown has one deadline: SIGTERM with a peer that
//! never reads its replies still ends the process by `--shutdown-timeout`, and a
//! reading peer gets every reply already computed, whole.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the server binary on a free port; its address from the ready line.
fn start(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcpbench-server"))
        .args(["--listen", "127.0.0.1:0", "--threads", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let mut ready = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut ready)
        .expect("a ready line");
    let addr = ready
        .split("tcp://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {ready:?}"))
        .to_string();
    (child, addr)
}

fn initialized(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n").unwrap();
    let mut line = String::new();
    BufReader::new(s.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("\"result\""), "{line}");
    s
}

/// Waits for the process to exit (bounded), returning how long it took.
fn exit_within(child: &mut Child, bound: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < bound,
            "the server did not exit within {bound:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn sigterm_with_a_peer_that_never_reads_exits_by_the_shutdown_deadline() {
    let (mut child, addr) = start(&["--shutdown-timeout", "1", "--write-timeout", "60"]);
    let mut greedy = initialized(&addr);
    // Thousands of 4 KiB replies it never reads: the server's writes block.
    let call = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"text\",\"arguments\":{}}}\n";
    // Until our own sends block for 1 s: the server has stopped reading us,
    // stuck writing replies we do not read (bounded: 1,000,000 calls).
    greedy
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let blocked = (0..1_000_000).any(|_| greedy.write_all(call).is_err());
    assert!(blocked, "the server kept reading a peer that never reads");
    // A reading peer with one call answered before the signal.
    let mut polite = initialized(&addr);
    polite.write_all(call).unwrap();
    let mut reader = BufReader::new(polite.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(
        line.ends_with("}\n") && line.contains("\"result\""),
        "whole reply"
    );
    sigterm(&child);
    // The write deadline is 60 s; the shutdown deadline (1 s) still ends it.
    let took = exit_within(&mut child, Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    // The polite peer's connection ends cleanly, with no partial line.
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(rest.is_empty() || rest.ends_with(b"\n"), "{rest:?}");
}

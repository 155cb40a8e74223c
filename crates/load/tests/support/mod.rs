//! What the load library's integration tests share. Each test file is its own
//! crate and uses some of it, so what one file leaves unused is not dead.
#![allow(dead_code)]

/// mcpbench-server over Streamable HTTP on an ephemeral loopback port, in this
/// process.
pub async fn our_server() -> mcpbench_server::Running {
    mcpbench_server::start_http(
        "127.0.0.1:0".parse().unwrap(),
        mcpbench_server::Settings::default(),
        mcpbench_server::http::HttpSettings::default(),
    )
    .await
    .expect("server")
}

/// `http://127.0.0.1:PORT/mcp` on a loopback port nobody listens on (bound
/// for a moment, then released): every connection to it is refused.
pub fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/mcp")
}

/// The binaries `cargo test` built: this package's `mcpbench-load`, and
/// `mcpbench-server` beside it (`cargo test --workspace` builds it; with `-p
/// mcpbench-load` alone, `cargo build -p mcpbench-server` first).
pub fn built_binaries() -> mcpbench_load::Binaries {
    let load = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mcpbench-load"));
    let server = load.with_file_name("mcpbench-server");
    assert!(
        server.exists(),
        "{} is not built: `cargo test --workspace` builds it, or `cargo build -p mcpbench-server`",
        server.display()
    );
    mcpbench_load::Binaries { load, server }
}

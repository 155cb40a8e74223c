//! What the load library's integration tests share.

/// mcpbench-server over Streamable HTTP on an ephemeral loopback port, in this
/// process.
pub fn our_server() -> mcpbench_server::Running {
    mcpbench_server::start_http(
        "127.0.0.1:0".parse().unwrap(),
        mcpbench_server::Settings::default(),
        mcpbench_server::http::HttpSettings::default(),
    )
    .expect("server")
}

//! What the load library's integration tests share.

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

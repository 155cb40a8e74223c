//! Realistic MCP messages of a chosen size, and a realistic new session.

use mcpbench_session::{ClientInfo, NewSession};

/// What a typical client's `initialize` brings: the record a new session starts from.
pub fn new_session() -> NewSession {
    NewSession {
        protocol_version: "2025-11-25".into(),
        client: ClientInfo {
            name: "mcp-inspector".into(),
            version: "0.16.2".into(),
        },
        capabilities: r#"{"roots":{"listChanged":true},"sampling":{}}"#.into(),
    }
}

/// A `tools/call` request of exactly `size` bytes (at least ~100), its text argument
/// padded to fit: `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":"echo","arguments":{"text":"..."}}}`.
pub fn tool_call(id: u64, size: usize) -> Vec<u8> {
    padded(
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":""#
        ),
        r#""}}}"#,
        size,
    )
}

/// A `tools/call` result of exactly `size` bytes (at least ~100), the shape of a
/// mid-size tool result: `{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"..."}],"isError":false}}`.
pub fn tool_result(id: u64, size: usize) -> Vec<u8> {
    padded(
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":""#),
        r#""}],"isError":false}}"#,
        size,
    )
}

fn padded(head: String, tail: &str, size: usize) -> Vec<u8> {
    let mut msg = head.into_bytes();
    let filler = size.saturating_sub(msg.len() + tail.len());
    // Varied printable text, like a real tool result, not one repeated byte.
    const TEXT: &[u8] = b"Partly cloudy, 18C, wind 12 km/h NW; humidity 64%. ";
    msg.extend((0..filler).map(|i| TEXT[i % TEXT.len()]));
    msg.extend_from_slice(tail.as_bytes());
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_size_valid_json_rpc() {
        for size in [128, 4096, 65536] {
            let req = tool_call(7, size);
            let res = tool_result(7, size);
            assert_eq!((req.len(), res.len()), (size, size));
            let req: serde_json::Value = serde_json::from_slice(&req).unwrap();
            let res: serde_json::Value = serde_json::from_slice(&res).unwrap();
            assert_eq!(req["method"], "tools/call");
            assert_eq!(res["result"]["isError"], false);
        }
    }
}

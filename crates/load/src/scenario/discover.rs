//! `--discover`: the target's tools, each with arguments made from its input
//! schema ([`super::arguments`]) or the reason it is skipped.

use std::time::Duration;

use mcpbench_files::scenario::DiscoveredTool;
use serde_json::Value;

use super::wire::{exchange, open_conn};
use crate::cli::Protocol;
use crate::client_error::Answer;
use crate::error::LoadError;
use crate::target::Target;

/// How long discovery waits for the session and for each `tools/list` page.
const DISCOVER_LIMIT: Duration = Duration::from_secs(30);

/// The target's tools (every page of `tools/list`), each with arguments made
/// from its input schema or the reason it is skipped.
pub async fn discover(
    target: &Target,
    protocol: Protocol,
) -> Result<Vec<DiscoveredTool>, LoadError> {
    let unreachable = |why: String| LoadError::Unreachable(format!("--discover: {why}"));
    let mut conn = tokio::time::timeout(DISCOVER_LIMIT, open_conn(target, protocol, None))
        .await
        .map_err(|_| unreachable(format!("no session within {} s", DISCOVER_LIMIT.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))?;
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1..=100u64 {
        let params = match &cursor {
            Some(c) => format!(r#""cursor":{}"#, Value::String(c.clone())),
            None => String::new(),
        };
        let got = tokio::time::timeout(
            DISCOVER_LIMIT,
            exchange(&mut conn, target, page, "tools/list", &params, None),
        )
        .await
        .map_err(|_| {
            unreachable(format!(
                "tools/list: no reply within {} s",
                DISCOVER_LIMIT.as_secs()
            ))
        })?
        .map_err(|e| unreachable(e.to_string()))?;
        if let Answer::Error(why) = got.answer {
            return Err(unreachable(format!("tools/list: {why}")));
        }
        let reply: Value = serde_json::from_slice(&got.json)
            .map_err(|e| unreachable(format!("tools/list: not JSON: {e}")))?;
        for tool in reply
            .pointer("/result/tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            let schema = tool
                .get("inputSchema")
                .cloned()
                .unwrap_or(serde_json::json!({"type": "object"}));
            let (arguments, skipped) = match super::arguments::arguments_for(&schema) {
                Ok(a) if a.is_object() => (Some(a), None),
                Ok(a) => (
                    None,
                    Some(format!("its arguments would be {a}, not an object")),
                ),
                Err(why) => (None, Some(why)),
            };
            tools.push(DiscoveredTool {
                name: name.to_string(),
                arguments,
                skipped,
            });
        }
        cursor = reply
            .pointer("/result/nextCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    if let crate::connection::McpConn::Http(mut h) = conn {
        let _ = tokio::time::timeout(DISCOVER_LIMIT, h.delete()).await;
    }
    Ok(tools)
}

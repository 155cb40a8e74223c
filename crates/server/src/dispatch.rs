//! A request of an established session (or a stateless one) served: `ping`,
//! `mcpbench/stats`, `tools/list`, and `tools/call` routed by tool name to the
//! tool's mailbox, its answer awaited in the in-flight table.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use mcpbench_netio::{Message, RequestId, codes, error_response};
use mcpbench_registry::{Answer, RouteKey};
use serde_json::json;

use crate::McpServer;
use crate::error::ToolError;
use crate::protocol::{CallParams, Params, Served, result, result_raw};
use crate::tools::{ToolCall, text_content};

/// MCP's error for a resource that does not exist.
pub(crate) const RESOURCE_NOT_FOUND: i32 = -32002;

/// The methods [`McpServer::serve`] answers (besides `tools/call`'s tools): in
/// the stateless generation anything else gets HTTP 404.
pub(crate) const SERVED: [&str; 6] = [
    "ping",
    "mcpbench/stats",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
];

impl McpServer {
    /// Serves a request of an established session (or a stateless one): the reply
    /// now, or a tool call whose answer is on its way.
    pub(crate) async fn serve(&self, id: &RequestId, msg: &Message, method: &str) -> Served {
        Served::Now(match method {
            "ping" => result(id, json!({})),
            "mcpbench/stats" => result(id, serde_json::to_value(self.stats()).unwrap_or_default()),
            // The cache fields are required by the stateless generation and ignored
            // by the handshake one.
            "tools/list" => result(
                id,
                json!({"tools": self.listed, "resultType": "complete", "ttlMs": 0, "cacheScope": "private"}),
            ),
            "resources/list" => result(id, crate::events::Resources::list()),
            "resources/read" => {
                #[derive(serde::Deserialize)]
                struct Read {
                    uri: String,
                }
                match serde_json::from_slice::<Params<Read>>(msg.frame()) {
                    Ok(Params {
                        params: Some(Read { uri }),
                    }) => match self.resources.read(&uri) {
                        Some(contents) => result(id, contents),
                        None => error_response(
                            Some(id),
                            RESOURCE_NOT_FOUND,
                            &format!("resource not found: {uri}"),
                        ),
                    },
                    _ => error_response(
                        Some(id),
                        codes::INVALID_PARAMS,
                        "resources/read needs params.uri (a string)",
                    ),
                }
            }
            "tools/call" => {
                return match self.start_call(id, msg).await {
                    Ok((call, answer)) => Served::Call { call, answer },
                    Err(reply) => Served::Now(reply),
                };
            }
            other => error_response(
                Some(id),
                codes::METHOD_NOT_FOUND,
                &format!("method not found: {other}"),
            ),
        })
    }

    /// Routes a `tools/call` to its tool; returns the call's key and where its
    /// answer will arrive, or the reply to send at once (an error, or the
    /// answer of a tool that answers without waiting).
    async fn start_call(
        &self,
        id: &RequestId,
        msg: &Message,
    ) -> Result<(u64, Answer<Result<Bytes, ToolError>>), Bytes> {
        let params = match msg.scanned_params().and_then(|p| CallParams::scanned(&p)) {
            Some(p) => Ok(Params { params: Some(p) }),
            None => serde_json::from_slice::<Params<CallParams>>(msg.frame()),
        };
        let params = match params {
            Ok(Params { params: Some(p) }) => p,
            Ok(_) => {
                return Err(error_response(
                    Some(id),
                    codes::INVALID_PARAMS,
                    "tools/call needs params.name",
                ));
            }
            Err(e) => {
                return Err(error_response(
                    Some(id),
                    codes::INVALID_PARAMS,
                    &format!("tools/call params: {e}"),
                ));
            }
        };
        if let Some(tool) = self.at_once.iter().find(|t| t.name() == params.name) {
            return Err(tool_reply(id, tool.answer(params.arguments.as_deref())));
        }
        let key = RouteKey::new(&params.name);
        let gate = self.gates.iter().find(|(name, _)| *name == params.name);
        let (Some((_, gate)), Some(_)) = (gate, self.tools.lookup(&key)) else {
            return Err(error_response(
                Some(id),
                codes::INVALID_PARAMS,
                &format!("unknown tool: {}", params.name),
            ));
        };
        // A full tool mailbox makes this connection wait (and stop reading), in
        // arrival order: load backs up into the clients' sockets instead of failing
        // calls. The gate is never closed.
        let Ok(slot) = gate.clone().acquire_owned().await else {
            return Err(error_response(
                Some(id),
                codes::INTERNAL_ERROR,
                "tool gate closed",
            ));
        };
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        let Ok(answer) = self
            .in_flight
            .begin(call, Instant::now() + self.answer_wait())
        else {
            return Err(error_response(
                Some(id),
                codes::INTERNAL_ERROR,
                "call id reused",
            ));
        };
        // The slot guarantees room; waiting stays possible should anything else
        // fill the mailbox.
        let routed = self
            .tools
            .route_wait(
                &key,
                ToolCall {
                    call,
                    arguments: params.arguments,
                    _slot: slot,
                },
            )
            .await;
        if let Err(e) = routed {
            self.in_flight.cancel(&call);
            return Err(error_response(
                Some(id),
                codes::INTERNAL_ERROR,
                &format!("tool {}: {e}", params.name),
            ));
        }
        Ok((call, answer))
    }

    /// The reply to a call once its answer is in (or is not coming).
    pub(crate) fn finish_call(
        &self,
        id: &RequestId,
        call: u64,
        outcome: Option<Result<Bytes, ToolError>>,
    ) -> Bytes {
        match outcome {
            Some(outcome) => tool_reply(id, outcome),
            None => {
                self.in_flight.cancel(&call);
                error_response(
                    Some(id),
                    codes::INTERNAL_ERROR,
                    "the tool did not answer in time",
                )
            }
        }
    }
}

/// The reply to a call its tool answered: the result, or (a tool that fails
/// answers with `isError`, as MCP asks, not with a protocol error) why not.
fn tool_reply(id: &RequestId, outcome: Result<Bytes, ToolError>) -> Bytes {
    match outcome {
        Ok(raw) => result_raw(id, &raw),
        Err(why) => result_raw(id, &text_content(&why.to_string(), true)),
    }
}

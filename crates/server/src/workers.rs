//! A worker per tool: it takes calls from the tool's mailbox (reached through
//! the route table by the tool's name) and answers each through the server's
//! in-flight table, in turn or, for a tool whose calls wait on I/O, each from a
//! task of its own.

use std::sync::Arc;

use mcpbench_queue::Mailbox;
use mcpbench_registry::RouteKey;

use crate::McpServer;
use crate::tools::{Tool, ToolCall};

/// Registers `tool` under its name with a mailbox of the server's `tool_queue`
/// slots and starts its worker on the current runtime. The worker ends when the
/// mailbox closes (the server's drop) or the server is gone.
pub(crate) fn start<T: Tool>(server: &Arc<McpServer>, tool: T) {
    let mailbox = Arc::new(Mailbox::bounded(server.settings.tool_queue));
    // Each name is registered once, by `McpServer::new`: a refusal cannot happen.
    let _ = server
        .tools
        .register(RouteKey::new(tool.name()), mailbox.clone());
    let weak = Arc::downgrade(server);
    let tool = Arc::new(tool);
    tokio::spawn(async move {
        while let Some(ToolCall {
            call,
            arguments,
            _slot,
        }) = mailbox.pop().await
        {
            // The slot is free again: the longest-waiting call takes it.
            drop(_slot);
            let Some(server) = weak.upgrade() else { return };
            if tool.concurrent() {
                let tool = tool.clone();
                tokio::spawn(async move {
                    let outcome = tool.call(arguments.as_deref()).await;
                    server.answer(call, outcome);
                });
            } else {
                let outcome = tool.call(arguments.as_deref()).await;
                server.answer(call, outcome);
            }
        }
    });
}

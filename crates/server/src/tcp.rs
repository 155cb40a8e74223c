//! The TCP transport's side of the server: newline-delimited JSON-RPC, one
//! session per connection (`initialize` makes it, the connection's end removes
//! it), replies in the order of the requests unless a tool answers late.

use bytes::Bytes;
use mcpbench_netio::{
    CloseReason, Conn, Handler, Message, MessageKind, RequestId, codes, error_response,
};
use std::time::Instant;

use crate::McpServer;
use crate::protocol::Served;

impl McpServer {
    fn initialize(&self, id: &RequestId, msg: &Message, conn: &Conn) -> Bytes {
        if self.by_connection.contains_key(&conn.id) {
            return error_response(
                Some(id),
                codes::INVALID_REQUEST,
                "this connection is already initialized",
            );
        }
        match self.new_session(id, msg, false) {
            Ok((session, reply)) => {
                self.by_connection.insert(conn.id, session);
                conn.establish();
                reply
            }
            Err(refused) => refused.reply,
        }
    }
}

impl Handler for McpServer {
    async fn handle(&self, msg: Message, conn: &Conn) -> Option<Bytes> {
        let session = self.by_connection.get(&conn.id).map(|s| *s);
        if let Some(s) = session {
            self.sessions.update(&s, |s| {
                s.last_seen = Instant::now();
                match msg.kind() {
                    MessageKind::Request => s.requests += 1,
                    _ => s.notifications += 1,
                }
            });
        }
        let method = msg.method().unwrap_or_default();
        let Some(id) = msg
            .id()
            .cloned()
            .filter(|_| msg.kind() == MessageKind::Request)
        else {
            // Notifications (and stray responses) get no reply.
            if method == "notifications/initialized"
                && let Some(s) = session
            {
                self.sessions.update(&s, |s| s.initialized = true);
            }
            return None;
        };
        let served = match method {
            "initialize" => return Some(self.initialize(&id, &msg, conn)),
            "ping" | "mcpbench/stats" => self.serve(&id, &msg, method).await,
            _ if session.is_none() => {
                return Some(error_response(
                    Some(&id),
                    codes::INVALID_REQUEST,
                    "call initialize first",
                ));
            }
            _ => self.serve(&id, &msg, method).await,
        };
        let (call, mut answer) = match served {
            Served::Now(reply) => return Some(reply),
            Served::Call { call, answer } => (call, answer),
        };
        // One yield lets a tool worker on this thread answer at once (echo, text):
        // such replies leave with the others of this read, in one write.
        tokio::task::yield_now().await;
        match answer.try_recv() {
            Ok(outcome) => Some(self.finish_call(&id, call, outcome.ok())),
            Err(_) => {
                // Not yet (proxy, a busy worker): answer from a task of its own, so
                // this connection's next requests are served meanwhile; replies go
                // out in completion order.
                let this = self.me.upgrade()?;
                let reply = conn.defer();
                let wait = self.answer_wait();
                tokio::spawn(async move {
                    let outcome = match tokio::time::timeout(wait, answer).await {
                        Ok(Ok(outcome)) => outcome.ok(),
                        _ => None,
                    };
                    reply.send(this.finish_call(&id, call, outcome));
                });
                None
            }
        }
    }

    fn closed(&self, conn: &Conn, _reason: &CloseReason) {
        if let Some((_, session)) = self.by_connection.remove(&conn.id) {
            self.sessions.remove(&session);
        }
    }
}

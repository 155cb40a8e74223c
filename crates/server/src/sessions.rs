//! Sessions: made by `initialize`, touched by every request, expired after the
//! TTL (HTTP; over TCP a session lives as long as its connection).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mcpbench_netio::{Message, RequestId, codes, error_response};
use mcpbench_session::{ClientInfo, NewSession, SessionId};
use serde_json::json;

use crate::McpServer;
use crate::protocol::{
    ClientInfoParams, InitializeParams, MAX_CLIENT_INFO_BYTES, MAX_SESSION_BYTES, PROTOCOL_VERSION,
    Params, Refused, SUPPORTED_VERSIONS, result, server_info,
};

impl McpServer {
    /// Removes expired sessions from a task of its own (HTTP only: over TCP a
    /// session lives as long as its connection), a few times per TTL (a
    /// whole-table pass per sweep, never per request; a request meeting an expired
    /// session ends it at once, see [`McpServer::touch_session`]).
    pub(crate) fn sweep_expired(self: &Arc<Self>) {
        let ttl = self.settings.session_ttl;
        let every = (ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(60));
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(server) = weak.upgrade() else { return };
                let n = server.sessions.evict_idle(Instant::now(), ttl);
                server.expired.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
    }

    /// Marks a session used now; false (and the session ended) when it has expired,
    /// false when there is no such session.
    pub(crate) fn touch_session(&self, id: &SessionId, now: Instant) -> bool {
        let ttl = self.settings.session_ttl;
        let live = self.sessions.update(id, |s| {
            let live = now.saturating_duration_since(s.last_seen) <= ttl;
            if live {
                s.last_seen = s.last_seen.max(now);
            }
            live
        });
        match live {
            Some(true) => true,
            Some(false) => {
                if self.sessions.remove(id).is_some() {
                    self.expired.fetch_add(1, Ordering::Relaxed);
                }
                false
            }
            None => false,
        }
    }

    /// Sessions now open.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// `initialize`: a new session and the reply to send, or why not (the store
    /// full is told apart: HTTP answers it with 503). `streams`: the transport
    /// serves resource subscriptions (Streamable HTTP's GET stream; TCP does not).
    pub(crate) fn new_session(
        &self,
        id: &RequestId,
        msg: &Message,
        streams: bool,
    ) -> Result<(SessionId, Bytes), Refused> {
        let invalid = |why: &str| Refused {
            full: false,
            reply: error_response(Some(id), codes::INVALID_PARAMS, why),
        };
        let params = match serde_json::from_slice::<Params<InitializeParams>>(msg.frame()) {
            Ok(Params { params: Some(p) }) => p,
            Ok(_) => return Err(invalid("initialize needs params")),
            Err(e) => return Err(invalid(&format!("initialize params: {e}"))),
        };
        // What a session keeps of its client is bounded: a client cannot pin
        // megabytes for the session's life with a huge clientInfo or capabilities.
        // Measured on the raw text before anything is built from it; of
        // clientInfo only the name and version are kept (icons and the rest are
        // read past), and it is read at all only within MAX_CLIENT_INFO_BYTES.
        let capabilities = params.capabilities.as_ref().map_or("null", |c| c.get());
        let raw_info = params.client_info.get();
        if raw_info.len() > MAX_CLIENT_INFO_BYTES || capabilities.len() > MAX_SESSION_BYTES {
            return Err(invalid(&format!(
                "initialize: clientInfo ({} bytes, at most {MAX_CLIENT_INFO_BYTES} read) or capabilities ({} bytes) over the limit of {MAX_SESSION_BYTES} kept",
                raw_info.len(),
                capabilities.len()
            )));
        }
        let client_info: ClientInfoParams = match serde_json::from_str(raw_info) {
            Ok(c) => c,
            Err(e) => return Err(invalid(&format!("initialize params: clientInfo: {e}"))),
        };
        let kept = client_info.name.len() + client_info.version.len() + capabilities.len();
        if kept > MAX_SESSION_BYTES {
            return Err(invalid(&format!(
                "initialize: clientInfo and capabilities are {kept} bytes, over the limit of {MAX_SESSION_BYTES}"
            )));
        }
        // The client's revision when we speak it (the spec's rule), else our latest.
        let version = SUPPORTED_VERSIONS
            .iter()
            .find(|v| **v == params.protocol_version)
            .copied()
            .unwrap_or(PROTOCOL_VERSION);
        let new = NewSession {
            protocol_version: version.to_string(),
            client: ClientInfo {
                name: client_info.name,
                version: client_info.version,
            },
            capabilities: capabilities.into(),
        };
        let session = self
            .sessions
            .create(new, Instant::now())
            .map_err(|e| Refused {
                full: true,
                reply: error_response(Some(id), codes::INTERNAL_ERROR, &e.to_string()),
            })?;
        let reply = result(
            id,
            json!({
                "protocolVersion": version,
                "capabilities": {
                    "tools": {"listChanged": false},
                    "resources": {"subscribe": streams, "listChanged": false},
                },
                "serverInfo": server_info(),
            }),
        );
        Ok((session, reply))
    }
}

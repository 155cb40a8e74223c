//! What the stateless generation's header checks read from a request's params:
//! `name` (tools/call, prompts/get), `uri` (resources/read) and
//! `_meta["io.modelcontextprotocol/protocolVersion"]`. Read from the params the
//! envelope scan already checked (`Message::scanned_params`, netio's `members`),
//! so serde_json does not walk the body a second time; anything but plain
//! strings where strings are expected is left to serde_json, whose reading
//! stands (a body it cannot read as this shape reads as no params, as before).

use mcpbench_netio::{Message, members, plain_literal};
use serde::Deserialize;

/// The fields the checks compare with the headers.
#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct StatelessParams {
    pub(crate) name: Option<String>,
    pub(crate) uri: Option<String>,
    #[serde(rename = "_meta")]
    pub(crate) meta: Option<Meta>,
}

/// `_meta`'s protocol version.
#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct Meta {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
    pub(crate) protocol_version: Option<String>,
}

#[derive(Deserialize, Default)]
struct Envelope {
    params: Option<StatelessParams>,
}

impl StatelessParams {
    /// `msg`'s, by the scan when it takes them, else by serde_json.
    pub(crate) fn of(msg: &Message) -> StatelessParams {
        msg.scanned_params()
            .and_then(|p| StatelessParams::scanned(&p))
            .unwrap_or_else(|| StatelessParams::by_serde(msg.frame()))
    }

    /// What serde_json reads from `frame` (no params, or a shape it cannot
    /// read: the default).
    fn by_serde(frame: &[u8]) -> StatelessParams {
        serde_json::from_slice::<Envelope>(frame)
            .unwrap_or_default()
            .params
            .unwrap_or_default()
    }

    /// From the text of `params`; `None` for anything the scan does not take.
    fn scanned(params: &[u8]) -> Option<StatelessParams> {
        let plain = |raw: &[u8]| {
            plain_literal(raw).and_then(|s| std::str::from_utf8(s).ok().map(String::from))
        };
        let mut out = StatelessParams::default();
        for (key, at) in members(params)? {
            let raw = &params[at];
            match key {
                b"name" => out.name = Some(plain(raw)?),
                b"uri" => out.uri = Some(plain(raw)?),
                b"_meta" => {
                    let mut meta = Meta::default();
                    for (key, at) in members(raw)? {
                        if key == b"io.modelcontextprotocol/protocolVersion" {
                            meta.protocol_version = Some(plain(&raw[at])?);
                        }
                    }
                    out.meta = Some(meta);
                }
                _ => {}
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_reads_what_serde_reads_or_leaves_it_to_serde() {
        let frame = |params: &str| {
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params}}}"#)
        };
        let taken = [
            r#"{"name":"text","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","x":[1]}}"#,
            r#"{"uri":"mcpbench://counter/0"}"#,
            r#"{"_meta":{}}"#,
            r#"{}"#,
        ];
        for params in taken {
            let text = frame(params);
            let scanned = StatelessParams::scanned(params.as_bytes()).expect(params);
            assert_eq!(
                scanned,
                StatelessParams::by_serde(text.as_bytes()),
                "{params}"
            );
            let msg = Message::parse(bytes::Bytes::from(text)).expect("valid");
            assert_eq!(StatelessParams::of(&msg), scanned, "{params}");
        }
        // Declined: serde_json reads these (an escape, `null`, a number where
        // a string goes, a duplicate), and its reading is the one used.
        let declined = [
            r#"{"name":"te\"xt"}"#,
            r#"{"name":null}"#,
            r#"{"_meta":null}"#,
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":7}}"#,
            r#"{"name":"a","name":"b"}"#,
        ];
        for params in declined {
            assert!(
                StatelessParams::scanned(params.as_bytes()).is_none(),
                "{params}"
            );
            let text = frame(params);
            let msg = Message::parse(bytes::Bytes::from(text.clone())).expect("valid");
            assert_eq!(
                StatelessParams::of(&msg),
                StatelessParams::by_serde(text.as_bytes()),
                "{params}"
            );
        }
        assert_eq!(
            StatelessParams::by_serde(frame(r#"{"name":"te\"xt"}"#).as_bytes())
                .name
                .as_deref(),
            Some("te\"xt")
        );
    }
}

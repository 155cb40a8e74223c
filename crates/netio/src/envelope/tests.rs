//! The envelope scan against serde_json: shapes it takes, shapes it leaves,
//! and a proptest that the two never disagree.

use super::*;
use proptest::prelude::*;

/// What serde_json's envelope reads from `json`, in the fast path's terms.
fn serde(json: &str) -> Option<String> {
    serde_json::from_str::<Envelope<'_>>(json)
        .ok()
        .map(|e| describe(&e))
}

fn describe(e: &Envelope<'_>) -> String {
    format!(
        "{:?} {:?} {:?} {} {} {}",
        e.jsonrpc,
        e.id,
        e.method,
        e.params.is_some(),
        e.result.is_some(),
        e.error.is_some()
    )
}

#[test]
fn what_the_fast_path_takes_serde_reads_the_same() {
    let big = "x".repeat(5000);
    for json in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"text","arguments":{"a":[1,-2.5e+3,true,false,null,{}],"b":"q\"\\\/\b\f\n\r\t"}}}"#,
        r#" { "jsonrpc" : "2.0" , "method" : "notifications/x" } "#,
        r#"{"jsonrpc":"2.0","id":"abc","result":{"ok":[]},"extra":[[[]]]}"#,
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"é"}}"#,
        r#"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"m"}"#,
        r#"{"id":0,"jsonrpc":"1.0","method":"m","params":[]}"#,
        &format!(r#"{{"jsonrpc":"2.0","id":7,"method":"m","params":{{"s":"{big}"}}}}"#),
    ] {
        let fast = scan(json.as_bytes()).map(|e| describe(&e));
        assert!(fast.is_some(), "the fast path takes {json}");
        assert_eq!(fast, serde(json), "{json}");
    }
}

/// JSON values of every kind, nested a few levels, strings with escapes,
/// control characters and non-ASCII text.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "(?s).{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-z\\\\\"]{0,6}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Whether the serialised envelope `text` has only what the fast path
/// takes: a method string and an id without escapes, no `\\u`, no `null`
/// params.
fn object_takes(text: &[u8]) -> bool {
    let v: serde_json::Value = serde_json::from_slice(text).unwrap();
    let plain = |v: &serde_json::Value| {
        v.as_str()
            .is_some_and(|s| !s.contains(['\\', '"']) && !s.chars().any(|c| c < ' '))
    };
    plain(&v["method"])
        && (v["id"].is_i64() && v["id"] != serde_json::json!(0)
            || plain(&v["id"])
            || v["id"].is_null())
        && !v["params"].is_null()
        && !text.windows(2).any(|w| w == b"\\u")
}

proptest! {
    /// Every envelope serde reads, the fast path reads the same or leaves
    /// to serde; every frame (an envelope with bytes changed) it takes,
    /// serde takes too, the same.
    #[test]
    fn the_fast_path_never_disagrees_with_serde(
        id in prop_oneof![
            3 => any::<i64>().prop_map(serde_json::Value::from),
            1 => "[a-z]{0,5}".prop_map(serde_json::Value::from),
            1 => json(),
        ],
        method in prop_oneof![3 => "[a-z/]{1,12}".prop_map(serde_json::Value::from), 1 => json()],
        params in json(),
        extra in json(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut object = serde_json::Map::new();
        object.insert("jsonrpc".into(), "2.0".into());
        object.insert("id".into(), id);
        object.insert("method".into(), method);
        object.insert("params".into(), params);
        object.insert("x".into(), extra);
        let text = serde_json::to_vec(&serde_json::Value::Object(object)).unwrap();
        let mut edited = text.clone();
        for (at, byte) in &edits {
            let i = at.index(edited.len());
            edited[i] = *byte;
        }
        // Unedited, with a method and an id the fast path takes: taken.
        if object_takes(&text) {
            prop_assert!(scan(&text).is_some(), "{:?}", String::from_utf8_lossy(&text));
        }
        for frame in [&text, &edited] {
            if let Some(fast) = scan(frame) {
                let serde = std::str::from_utf8(frame).ok().and_then(serde);
                prop_assert_eq!(Some(describe(&fast)), serde, "{:?}", String::from_utf8_lossy(frame));
            }
        }
    }
}

#[test]
fn unusual_or_invalid_frames_are_left_to_serde() {
    for json in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":"\u00e9"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":null}"#,
        r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"m"}"#,
        r#"{"jsonrpc":"2.0","id":1.0,"method":"m"}"#,
        r#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"m"}"#,
        r#"{"jsonrpc":"2.0","id":01,"method":"m"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1,}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":[01]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":"tab	inside"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m"} x"#,
        r#"{"id":1,"method":"m"}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"m"}]"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1.]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":tru}"#,
        // Out of an f64's range: serde refuses it (found by the proptest below).
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":[-1E69022274927120296]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1e400]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1.7976931348623158e308]}"#,
        "{}",
        "",
    ] {
        assert!(scan(json.as_bytes()).is_none(), "left to serde: {json}");
    }
    // Not UTF-8 inside a string.
    assert!(scan(b"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":\"\xff\"}").is_none());
    // Nested past the limit inside params.
    let deep = format!(
        r#"{{"jsonrpc":"2.0","method":"m","params":{}{}}}"#,
        "[".repeat(MAX_DEPTH),
        "]".repeat(MAX_DEPTH)
    );
    assert!(scan(deep.as_bytes()).is_none());
    let limit = format!(
        r#"{{"jsonrpc":"2.0","method":"m","params":{}{}}}"#,
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    assert!(scan(limit.as_bytes()).is_some(), "exactly at the limit");
}

proptest! {
    /// Whatever `members` takes, serde_json reads as the same object: the same
    /// keys in the same order with the same values; an object it declines,
    /// serde decides.
    #[test]
    fn members_never_disagree_with_serde(
        object in proptest::collection::vec(("[a-z\\\\\"é]{0,6}", json()), 0..6),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        let mut text = b"{".to_vec();
        for (k, (key, value)) in object.iter().enumerate() {
            if k > 0 {
                text.push(b',');
            }
            serde_json::to_writer(&mut text, key).unwrap();
            text.push(b':');
            serde_json::to_writer(&mut text, value).unwrap();
        }
        text.push(b'}');
        let unique = object.iter().map(|(k, _)| k).collect::<std::collections::BTreeSet<_>>().len() == object.len();
        let plain_keys = object.iter().all(|(k, _)| !k.contains(['\\', '"']));
        // The scan takes no `\u` escape (serde decides those).
        if unique && plain_keys && !text.windows(2).any(|w| w == b"\\u") {
            prop_assert!(super::members(&text).is_some(), "{:?}", String::from_utf8_lossy(&text));
        }
        let mut edited = text.clone();
        for (at, byte) in &edits {
            let i = at.index(edited.len());
            edited[i] = *byte;
        }
        for t in [&text, &edited] {
            let Some(fast) = super::members(t) else { continue };
            let serde: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(t) {
                Ok(m) => m,
                Err(e) => return Err(TestCaseError::fail(format!("taken, serde refused ({e}): {:?}", String::from_utf8_lossy(t)))),
            };
            prop_assert_eq!(fast.len(), serde.len(), "{:?}", String::from_utf8_lossy(t));
            for (key, at) in &fast {
                let key = std::str::from_utf8(key).unwrap();
                let value: serde_json::Value = serde_json::from_slice(&t[at.clone()]).unwrap();
                prop_assert_eq!(Some(&value), serde.get(key), "{:?}", String::from_utf8_lossy(t));
                // A plain literal is exactly the string serde reads.
                if let Some(plain) = super::plain_literal(&t[at.clone()]) {
                    prop_assert_eq!(Some(std::str::from_utf8(plain).unwrap()), value.as_str());
                }
            }
        }
    }
}

#[test]
fn members_and_plain_literals_decline_what_they_do_not_take() {
    use super::{members, plain_literal};
    let m = members(br#" {"name":"echo","arguments":{"text":"hi"}} "#).expect("taken");
    let keys: Vec<&[u8]> = m.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, [&b"name"[..], b"arguments"]);
    assert_eq!(members(b"{}").expect("empty"), vec![]);
    for declined in [
        &br#"{"a":1,"a":2}"#[..], // duplicate: serde's error
        br#"{"a\n":1}"#,          // an escape in a key
        br#"{"a":1"#,             // unterminated
        br#"{"a":1} x"#,          // trailing text
        br#"[1]"#,                // not an object
        br#"{"a":tru}"#,          // not a literal
    ] {
        assert!(
            members(declined).is_none(),
            "{}",
            String::from_utf8_lossy(declined)
        );
    }
    // More members than MAX_MEMBERS: left to serde (a linear pass), however
    // many there are.
    let many = |n: usize| {
        let body: Vec<String> = (0..n).map(|k| format!("\"k{k}\":{k}")).collect();
        format!("{{{}}}", body.join(","))
    };
    assert_eq!(
        members(many(super::MAX_MEMBERS).as_bytes()).map(|m| m.len()),
        Some(super::MAX_MEMBERS)
    );
    assert!(members(many(super::MAX_MEMBERS + 1).as_bytes()).is_none());
    assert_eq!(plain_literal(br#""abc""#), Some(&b"abc"[..]));
    for declined in [
        &br#""a\"b""#[..],
        br#""a\nb""#,
        b"\"a\x01\"",
        br#""abc"#,
        br#"abc"#,
        br#""a" "#,
    ] {
        assert!(
            plain_literal(declined).is_none(),
            "{}",
            String::from_utf8_lossy(declined)
        );
    }
}

#[test]
fn the_scan_says_where_params_sit() {
    let frame = bytes::Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params": {"name":"echo"} }"#,
    );
    let m = crate::Message::parse(frame.clone()).expect("valid");
    assert_eq!(
        m.scanned_params().as_deref(),
        Some(&br#"{"name":"echo"}"#[..])
    );
    // The serde path does not say: the caller asks serde.
    let m = crate::Message::parse_serde(frame).expect("valid");
    assert_eq!(m.scanned_params(), None);
}

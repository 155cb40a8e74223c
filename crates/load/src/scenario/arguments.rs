//! `--discover`: minimal valid arguments made from a tool's input schema (JSON
//! Schema), so a server nobody here wrote can be loaded with no hand-written
//! arguments.
//!
//! The generator ([`generate`]) takes, in order: `const`, the first of `enum`,
//! `default`, the first of `examples`, then the type: an object gets its
//! required properties only, an array `minItems` items, a string `minLength`
//! characters (or a value of its `format`), a number its lower bound (a multiple
//! of `multipleOf`). `$ref`s within the schema, `allOf` (merged), `anyOf` and
//! `oneOf` (first branch that works) are followed. Whatever it makes is then
//! checked against the schema by the `jsonschema` crate (formats asserted), and
//! a tool whose arguments do not validate is skipped with the validator's
//! reason: it is never called with data the server would refuse.

use serde_json::{Map, Value, json};

/// Deepest nesting of schemas followed (`$ref` cycles end here).
const MAX_DEPTH: usize = 32;
/// Most schemas visited for one tool: a schema whose branches refer back to
/// themselves (`{"anyOf": [{"$ref": "#"}, {"$ref": "#"}]}`) would otherwise take
/// 2^32 steps to reach [`MAX_DEPTH`].
const MAX_STEPS: u32 = 10_000;
/// Most items an array is made with (`minItems` beyond it is refused).
const MAX_ITEMS: u64 = 1_024;

/// Arguments for a tool whose input schema is `schema`: valid ones, or why none
/// can be made.
pub fn arguments_for(schema: &Value) -> Result<Value, String> {
    let value = generate(schema)?;
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("its input schema is not valid JSON Schema: {e}"))?;
    match validator.validate(&value) {
        Ok(()) => Ok(value),
        Err(e) => Err(format!(
            "the arguments made from its schema ({value}) do not validate: {e}"
        )),
    }
}

/// A minimal instance of `schema` (not yet validated against it).
pub fn generate(schema: &Value) -> Result<Value, String> {
    let mut steps = 0;
    Gen {
        root: schema,
        steps: &mut steps,
    }
    .make(schema, 0)
}

/// One generation: the root `$ref`s point into, and the steps taken so far.
struct Gen<'a> {
    root: &'a Value,
    steps: &'a mut u32,
}

impl Gen<'_> {
    /// A minimal instance of `schema` (a part of the root).
    fn make(&mut self, schema: &Value, depth: usize) -> Result<Value, String> {
        let root = self.root;
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} schemas"));
        }
        *self.steps += 1;
        if *self.steps > MAX_STEPS {
            return Err(format!("more than {MAX_STEPS} schemas visited"));
        }
        let s = match schema {
            Value::Bool(true) => return Ok(Value::Null),
            Value::Bool(false) => return Err("a `false` schema accepts nothing".into()),
            Value::Object(s) => s,
            other => return Err(format!("{other} is not a schema")),
        };
        if let Some(reference) = s.get("$ref").and_then(Value::as_str) {
            let target = reference
                .strip_prefix('#')
                .and_then(|pointer| root.pointer(pointer))
                .ok_or_else(|| {
                    format!("$ref {reference:?} is not a reference within the schema")
                })?;
            return self.make(target, depth + 1);
        }
        if let Some(v) = s.get("const") {
            return Ok(v.clone());
        }
        if let Some(v) = s
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return Ok(v.clone());
        }
        if let Some(v) = s.get("default") {
            return Ok(v.clone());
        }
        if let Some(v) = s
            .get("examples")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return Ok(v.clone());
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            let mut merged = s.clone();
            merged.remove("allOf");
            for part in all {
                merge(&mut merged, resolve(part, root)?);
            }
            return self.make(&Value::Object(merged), depth + 1);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = s.get(key).and_then(Value::as_array) {
                let mut why = Vec::new();
                for b in branches {
                    // The branch with the schema's own keywords beside it.
                    let mut with = s.clone();
                    with.remove(key);
                    merge(&mut with, resolve(b, root)?);
                    match self.make(&Value::Object(with), depth + 1) {
                        Ok(v) => return Ok(v),
                        Err(e) => why.push(e),
                    }
                }
                return Err(format!(
                    "no branch of {key} could be made: {}",
                    why.join("; ")
                ));
            }
        }
        let kind = match s.get("type") {
            Some(Value::String(t)) => t.as_str(),
            // Several types: the first that is not null.
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ if s.contains_key("properties") || s.contains_key("required") => "object",
            _ if s.contains_key("items") => "array",
            _ => "string",
        };
        match kind {
            "object" => self.object(s, depth),
            "array" => {
                let n = count(s, "minItems");
                if n > MAX_ITEMS {
                    return Err(format!("minItems {n}: over {MAX_ITEMS}"));
                }
                let item = s.get("items").cloned().unwrap_or(Value::Bool(true));
                let prefix = s.get("prefixItems").and_then(Value::as_array);
                (0..n)
                    .map(|i| {
                        let schema = prefix.and_then(|p| p.get(i as usize)).unwrap_or(&item);
                        self.make(schema, depth + 1)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            "string" => string(s),
            "integer" | "number" => number(s, kind == "integer"),
            "boolean" => Ok(Value::Bool(true)),
            "null" => Ok(Value::Null),
            other => Err(format!("unknown type {other:?}")),
        }
    }

    fn object(&mut self, s: &Map<String, Value>, depth: usize) -> Result<Value, String> {
        let props = s.get("properties").and_then(Value::as_object);
        let mut out = Map::new();
        let required = s.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            let schema = props
                .and_then(|p| p.get(name))
                .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
                .cloned()
                .unwrap_or(Value::Bool(true));
            let v = self
                .make(&schema, depth + 1)
                .map_err(|e| format!("property {name:?}: {e}"))?;
            out.insert(name.to_string(), v);
        }
        // minProperties beyond the required ones: optional properties, in order.
        let min = count(s, "minProperties") as usize;
        for (name, schema) in props.into_iter().flatten() {
            if out.len() >= min {
                break;
            }
            if !out.contains_key(name) {
                let v = self
                    .make(schema, depth + 1)
                    .map_err(|e| format!("property {name:?}: {e}"))?;
                out.insert(name.clone(), v);
            }
        }
        Ok(Value::Object(out))
    }
}

/// `schema`, or what its `$ref` points to.
fn resolve<'a>(schema: &'a Value, root: &'a Value) -> Result<&'a Value, String> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .ok_or_else(|| format!("$ref {r:?} is not a reference within the schema")),
        None => Ok(schema),
    }
}

/// `part`'s keywords into `into`: properties joined, required lists joined,
/// anything else set when not already there.
fn merge(into: &mut Map<String, Value>, part: &Value) {
    let Some(part) = part.as_object() else { return };
    for (key, v) in part {
        match (key.as_str(), into.get_mut(key)) {
            ("properties", Some(Value::Object(mine))) => {
                if let Some(theirs) = v.as_object() {
                    for (k, p) in theirs {
                        mine.entry(k.clone()).or_insert_with(|| p.clone());
                    }
                }
            }
            ("required", Some(Value::Array(mine))) => {
                if let Some(theirs) = v.as_array() {
                    for r in theirs {
                        if !mine.contains(r) {
                            mine.push(r.clone());
                        }
                    }
                }
            }
            (_, Some(_)) => {}
            (_, None) => {
                into.insert(key.clone(), v.clone());
            }
        }
    }
}

/// A whole number keyword (`minItems`, `minLength`), 0 when absent.
fn count(s: &Map<String, Value>, key: &str) -> u64 {
    s.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn string(s: &Map<String, Value>) -> Result<Value, String> {
    let by_format = match s.get("format").and_then(Value::as_str) {
        Some("uri" | "uri-reference" | "iri" | "url") => Some("https://example.com/"),
        Some("email" | "idn-email") => Some("user@example.com"),
        Some("date") => Some("2026-01-01"),
        Some("date-time") => Some("2026-01-01T00:00:00Z"),
        Some("time") => Some("12:00:00Z"),
        Some("duration") => Some("P1D"),
        Some("uuid") => Some("00000000-0000-4000-8000-000000000000"),
        Some("ipv4") => Some("127.0.0.1"),
        Some("ipv6") => Some("::1"),
        Some("hostname" | "idn-hostname") => Some("example.com"),
        Some("regex") => Some("a"),
        Some("json-pointer") => Some("/a"),
        _ => None,
    };
    if let Some(v) = by_format {
        return Ok(json!(v));
    }
    let min = count(s, "minLength");
    let max = s
        .get("maxLength")
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);
    if min > max {
        return Err(format!("minLength {min} above maxLength {max}"));
    }
    if min > 1 << 20 {
        return Err(format!("minLength {min}: over 1 MiB"));
    }
    // One character where none is required, as a user would type something.
    let len = if min == 0 && max >= 1 { 1 } else { min };
    Ok(json!("a".repeat(len as usize)))
}

fn number(s: &Map<String, Value>, integer: bool) -> Result<Value, String> {
    let get = |k: &str| s.get(k).and_then(Value::as_f64);
    // Draft 4 writes exclusive bounds as booleans beside minimum/maximum.
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    let step = if integer { 1.0 } else { 0.5 };
    let low = match (get("minimum"), get("exclusiveMinimum")) {
        (Some(m), _) if flag("exclusiveMinimum") => Some(m + step),
        (Some(m), Some(e)) => Some(m.max(e + step)),
        (Some(m), None) => Some(m),
        (None, Some(e)) => Some(e + step),
        (None, None) => None,
    };
    let high = match (get("maximum"), get("exclusiveMaximum")) {
        (Some(m), _) if flag("exclusiveMaximum") => Some(m - step),
        (Some(m), Some(e)) => Some(m.min(e - step)),
        (Some(m), None) => Some(m),
        (None, Some(e)) => Some(e - step),
        (None, None) => None,
    };
    let mut v = match (low, high) {
        (Some(l), _) => l,
        (None, Some(h)) if h < 0.0 => h,
        _ => 0.0,
    };
    if integer {
        v = v.ceil();
    }
    if let Some(m) = get("multipleOf").filter(|m| *m > 0.0) {
        v = (v / m).ceil() * m;
    }
    if high.is_some_and(|h| v > h) {
        return Err(format!(
            "no {} between {low:?} and {high:?}",
            if integer { "integer" } else { "number" }
        ));
    }
    Ok(if integer { json!(v as i64) } else { json!(v) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_schemas_sdk_servers_publish_are_satisfied() {
        // Shapes of the official SDKs' examples: pydantic (titles, defaults,
        // anyOf with null), zod (additionalProperties false, $schema), enums.
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "city": {"type": "string", "title": "City"},
                "units": {"enum": ["metric", "imperial"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
                "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 3}, "minItems": 2},
                "when": {"type": "string", "format": "date-time"},
                "contact": {"$ref": "#/$defs/Contact"}
            },
            "required": ["city", "units", "days", "tags", "when", "contact"],
            "additionalProperties": false,
            "$defs": {"Contact": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}, "required": ["email"]}}
        });
        let args = arguments_for(&schema).unwrap();
        assert_eq!(
            args,
            json!({"city": "a", "units": "metric", "days": 1, "tags": ["aaa", "aaa"],
                   "when": "2026-01-01T00:00:00Z", "contact": {"email": "user@example.com"}})
        );
    }

    #[test]
    fn what_cannot_be_satisfied_is_refused_with_the_reason() {
        for (schema, why) in [
            (
                json!({"type": "object", "properties": {"code": {"type": "string", "pattern": "^[0-9]{4}$"}}, "required": ["code"]}),
                "do not validate",
            ),
            (
                json!({"type": "integer", "minimum": 5, "maximum": 4}),
                "no integer between",
            ),
            (
                json!({"type": "object", "properties": {"x": false}, "required": ["x"]}),
                "property \"x\": a `false` schema",
            ),
            (
                json!({"$ref": "https://example.com/s.json"}),
                "not a reference within the schema",
            ),
            (json!({"$ref": "#"}), "nested deeper than"),
            (
                json!({"anyOf": [{"$ref": "#"}, {"$ref": "#"}]}),
                "schemas visited",
            ),
            (
                json!({"type": "array", "minItems": 10_000_000_000u64}),
                "minItems",
            ),
        ] {
            let e = arguments_for(&schema).unwrap_err();
            assert!(e.contains(why), "{schema}: {e}");
        }
    }

    /// Schemas of the kinds the generator handles, nested.
    fn schema() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            (0u64..5, proptest::option::of(5u64..9)).prop_map(|(min, max)| {
                let mut s = json!({"type": "string", "minLength": min});
                if let Some(max) = max {
                    s["maxLength"] = json!(max);
                }
                s
            }),
            prop::sample::select(vec!["email", "uri", "date", "date-time", "uuid", "ipv4", "time"])
                .prop_map(|f| json!({"type": "string", "format": f})),
            (-50i64..50, 0i64..40, 1i64..4, any::<bool>()).prop_map(|(lo, span, m, excl)| {
                if excl {
                    json!({"type": "integer", "exclusiveMinimum": lo, "maximum": lo + span + m, "multipleOf": m})
                } else {
                    json!({"type": "integer", "minimum": lo, "maximum": lo + span + m, "multipleOf": m})
                }
            }),
            (-10.0f64..10.0).prop_map(|lo| json!({"type": "number", "minimum": lo, "exclusiveMaximum": lo + 1.0})),
            Just(json!({"type": "boolean"})),
            Just(json!({"type": ["string", "null"]})),
            prop::collection::vec("[a-z]{1,6}", 1..4).prop_map(|e| json!({"enum": e})),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                (
                    prop::collection::btree_map("[a-z]{1,5}", inner.clone(), 0..4),
                    any::<u8>(),
                    any::<bool>()
                )
                    .prop_map(|(props, mask, closed)| {
                        let required: Vec<&String> = props
                            .keys()
                            .enumerate()
                            .filter(|(i, _)| mask & (1 << i) != 0)
                            .map(|(_, k)| k)
                            .collect();
                        json!({"type": "object", "properties": props, "required": required,
                               "additionalProperties": !closed})
                    }),
                (inner.clone(), 0u64..3)
                    .prop_map(|(items, n)| json!({"type": "array", "items": items, "minItems": n})),
                prop::collection::vec(inner, 1..3).prop_map(|b| json!({"anyOf": b})),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn generated_arguments_validate_against_their_schema(s in schema()) {
            let args = generate(&s).expect("a schema of a handled kind");
            let validator = jsonschema::options().should_validate_formats(true).build(&s).unwrap();
            prop_assert!(validator.is_valid(&args), "{} does not validate against {}", args, s);
        }
    }
}

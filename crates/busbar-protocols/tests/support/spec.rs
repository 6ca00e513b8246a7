//! A small checker of JSON values against OpenAI's OpenAPI description:
//! `$ref`, `allOf`/`anyOf`/`oneOf`, `type` (with `nullable` and `null`),
//! `enum`, `required`, `properties` and `items`. That is what decides
//! whether an SDK's typed model accepts a body; formats, ranges and
//! `additionalProperties` are not checked.
//!
//! The schemas are extracted from the published description into
//! `test_data/specs/` by `scripts/vendor-openai-spec.py`: `openai-chat.json`
//! for Chat Completions, `openai-responses.json` (`… responses`) for the
//! Responses API (request, response object, stream events, error), so the
//! tests need nothing outside the repository. Both golden test binaries
//! include this one checker.

use std::path::Path;

use serde_json::Value;

/// Fields the description marks required that the SDK does not require and
/// real OpenAI bodies omit, per `shared/specs/README.md`. Busbar writes every
/// required field (and leaves out a Responses `usage` until it is known, which
/// the description types non-nullable), so none is excused today; the list is
/// where a future false positive would go, by `schema.field`.
const NOT_REALLY_REQUIRED: &[&str] = &[];

pub(crate) struct Spec {
    document: Value,
}

impl Spec {
    /// Reads `test_data/specs/{file}`, one vendored extract.
    pub(crate) fn load(file: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test_data/specs")
            .join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {} ({error})", path.display()));
        Self {
            document: serde_json::from_str(&text).expect("the OpenAPI description is JSON"),
        }
    }

    /// What is wrong with `value` as an instance of the named schema.
    pub(crate) fn check(&self, schema: &str, value: &Value, source: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        self.validate(&self.schema(schema), value, schema, &mut problems);
        problems
            .into_iter()
            .map(|problem| format!("{}: {problem}", source.display()))
            .collect()
    }

    fn schema(&self, name: &str) -> Value {
        self.document["components"]["schemas"][name].clone()
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        if value.is_null() && allows_null(schema) {
            return;
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/components/schemas/");
            self.validate(&self.schema(name), value, at, problems);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.validate(part, value, at, problems);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(variants) = schema.get(key).and_then(Value::as_array) {
                let attempts: Vec<Vec<String>> = variants
                    .iter()
                    .map(|variant| {
                        let mut found = Vec::new();
                        self.validate(variant, value, at, &mut found);
                        found
                    })
                    .collect();
                if attempts.iter().all(|found| !found.is_empty()) {
                    let closest = attempts
                        .into_iter()
                        .min_by_key(Vec::len)
                        .unwrap_or_default();
                    problems.push(format!("{at}: matches no variant of {key}"));
                    problems.extend(closest);
                }
            }
        }
        if let Some(kind) = schema.get("type") {
            let kinds: Vec<&str> = match kind {
                Value::String(kind) => vec![kind.as_str()],
                Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !kinds.iter().any(|kind| has_type(value, kind)) {
                problems.push(format!("{at}: expected {kinds:?}, got {value}"));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                problems.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        if let Value::Object(object) = value {
            for field in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let field = field.as_str().unwrap_or_default();
                let excused = NOT_REALLY_REQUIRED.contains(&format!("{at}.{field}").as_str());
                if !object.contains_key(field) && !excused {
                    problems.push(format!("{at}: missing required `{field}`"));
                }
            }
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (field, property) in properties {
                    if let Some(child) = object.get(field) {
                        self.validate(property, child, &format!("{at}.{field}"), problems);
                    }
                }
            }
        }
        if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.validate(item_schema, item, &format!("{at}[{i}]"), problems);
            }
        }
    }
}

fn allows_null(schema: &Value) -> bool {
    schema.get("nullable") == Some(&Value::Bool(true))
        || match schema.get("type") {
            Some(Value::String(kind)) => kind == "null",
            Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "null"),
            _ => false,
        }
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    }
}

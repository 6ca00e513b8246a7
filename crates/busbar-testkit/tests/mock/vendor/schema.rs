//! Two small checkers of a JSON body against a vendored description: a JSON Schema subset (the
//! SDK types pydantic wrote, OpenAI's OpenAPI) and botocore's shape model. They decide what an
//! SDK's types or AWS's validator would: `$ref`, `allOf`/`anyOf`/`oneOf`, `type`, `const`,
//! `enum`, `required`, `properties`, `additionalProperties: false`, `items`; and for botocore,
//! structures (required members, unions of one member), lists, maps, enums and scalars. Formats,
//! patterns, lengths and numeric ranges are left out, as the SDK types leave them out too.

use serde_json::Value;

/// A JSON Schema document: `$ref`s resolve against `#/$defs/…` or `#/components/schemas/…`.
pub(crate) struct Schema<'a> {
    pub(crate) document: &'a Value,
}

impl Schema<'_> {
    /// The first reason `value` is not an instance of `schema`, if any.
    pub(crate) fn problem(&self, schema: &Value, value: &Value, at: &str) -> Option<String> {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let pointer = reference.trim_start_matches('#');
            let target = self.document.pointer(pointer)?;
            if let Some(problem) = self.problem(target, value, at) {
                return Some(problem);
            }
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(problem) = self.problem(part, value, at) {
                return Some(problem);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(variants) = schema.get(key).and_then(Value::as_array) {
                let problems: Vec<String> = variants
                    .iter()
                    .filter_map(|variant| self.problem(variant, value, at))
                    .collect();
                if problems.len() == variants.len() {
                    return Some(format!(
                        "{at}: no variant of {key} fits ({})",
                        problems.join(" | ")
                    ));
                }
            }
        }
        if schema.get("nullable") == Some(&Value::Bool(true)) && value.is_null() {
            return None;
        }
        if let Some(kind) = schema.get("type") {
            let kinds: Vec<&str> = match kind {
                Value::String(kind) => vec![kind.as_str()],
                Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !kinds.is_empty() && !kinds.iter().any(|kind| has_type(value, kind)) {
                return Some(format!("{at}: not of type {kinds:?}"));
            }
        }
        if let Some(constant) = schema.get("const") {
            if constant != value {
                return Some(format!("{at}: not {constant}"));
            }
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            if !values.contains(value) {
                return Some(format!("{at}: {value} not in the enum"));
            }
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = name.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    return Some(format!("{at}.{name}: required"));
                }
            }
            for (name, field) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(inner) => {
                        if let Some(problem) = self.problem(inner, field, &format!("{at}.{name}")) {
                            return Some(problem);
                        }
                    }
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Some(format!("{at}.{name}: not allowed"));
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                if let Some(problem) = self.problem(items, item, &format!("{at}.{index}")) {
                    return Some(problem);
                }
            }
        }
        None
    }
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// botocore's service model: `shapes` by name.
pub(crate) struct Smithy<'a> {
    pub(crate) model: &'a Value,
}

impl Smithy<'_> {
    /// The first reason `value` is not a valid `shape`, if any. Members bound to the URI or a
    /// header (a model id) are not in the body, so not checked here.
    pub(crate) fn problem(&self, shape: &str, value: &Value, at: &str) -> Option<String> {
        let definition = &self.model["shapes"][shape];
        match definition["type"].as_str().unwrap_or_default() {
            "structure" => {
                let Some(object) = value.as_object() else {
                    return Some(format!("{at}: not a structure"));
                };
                let members = definition["members"].as_object()?;
                for name in definition["required"].as_array().into_iter().flatten() {
                    let name = name.as_str().unwrap_or_default();
                    let in_body = members[name].get("location").is_none();
                    if in_body && !object.contains_key(name) {
                        return Some(format!("{at}.{name}: required"));
                    }
                }
                if definition["union"] == true && object.len() != 1 {
                    return Some(format!("{at}: a union needs exactly one member"));
                }
                for (name, field) in object {
                    let Some(member) = members.get(name) else {
                        // AWS's JSON protocols ignore unknown members of a structure, but a
                        // union's member must be one it names.
                        if definition["union"] == true {
                            return Some(format!("{at}.{name}: not a member of the union"));
                        }
                        continue;
                    };
                    let inner = member["shape"].as_str().unwrap_or_default();
                    if let Some(problem) = self.problem(inner, field, &format!("{at}.{name}")) {
                        return Some(problem);
                    }
                }
                None
            }
            "list" => {
                let Some(items) = value.as_array() else {
                    return Some(format!("{at}: not a list"));
                };
                let inner = definition["member"]["shape"].as_str().unwrap_or_default();
                items
                    .iter()
                    .enumerate()
                    .find_map(|(index, item)| self.problem(inner, item, &format!("{at}.{index}")))
            }
            "map" => value
                .is_object()
                .then_some(())
                .map_or_else(|| Some(format!("{at}: not a map")), |()| None),
            "string" => match (value.as_str(), definition["enum"].as_array()) {
                (None, _) => Some(format!("{at}: not a string")),
                (Some(text), Some(values)) if !values.iter().any(|v| v == text) => {
                    Some(format!("{at}: {text} not in the enum"))
                }
                _ => None,
            },
            "integer" | "long" => {
                (!value.is_i64() && !value.is_u64()).then(|| format!("{at}: not an integer"))
            }
            "float" | "double" => (!value.is_number()).then(|| format!("{at}: not a number")),
            "boolean" => (!value.is_boolean()).then(|| format!("{at}: not a boolean")),
            "blob" => (!value.is_string()).then(|| format!("{at}: not base64 text")),
            // Documents are any JSON; timestamps are not in these requests.
            _ => None,
        }
    }
}

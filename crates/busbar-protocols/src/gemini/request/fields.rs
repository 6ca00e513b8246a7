//! Field readers for request bodies: a field is read under its camelCase
//! name, else its snake_case one; `null` reads as absent; a value of the
//! wrong type is an error naming the field's path.

use serde_json::{Map, Value};

use crate::json::path_of;
use crate::DecodeError;

pub(super) fn get<'a>(map: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    map.get(camel)
        .filter(|v| !v.is_null())
        .or_else(|| map.get(snake).filter(|v| !v.is_null()))
}

/// A repeated field: an array, or a single object standing for a list of
/// one.
pub(super) fn list<'a>(
    map: &'a Map<String, Value>,
    parent: &str,
    camel: &str,
    snake: &str,
) -> Result<Option<Vec<&'a Value>>, DecodeError> {
    match get(map, camel, snake) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.iter().collect())),
        Some(item @ Value::Object(_)) => Ok(Some(vec![item])),
        Some(_) => Err(DecodeError::invalid(
            path_of(parent, camel),
            "must be an array",
        )),
    }
}

pub(super) fn opt_str<'a>(
    map: &'a Map<String, Value>,
    parent: &str,
    camel: &str,
    snake: &str,
) -> Result<Option<&'a str>, DecodeError> {
    match get(map, camel, snake) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(DecodeError::invalid(
            path_of(parent, camel),
            "must be a string",
        )),
    }
}

pub(super) fn opt_f64(
    map: &Map<String, Value>,
    parent: &str,
    camel: &str,
    snake: &str,
) -> Result<Option<f64>, DecodeError> {
    match get(map, camel, snake) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| DecodeError::invalid(path_of(parent, camel), "must be a number")),
    }
}

pub(super) fn opt_bool(
    map: &Map<String, Value>,
    parent: &str,
    camel: &str,
    snake: &str,
) -> Result<Option<bool>, DecodeError> {
    match get(map, camel, snake) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(DecodeError::invalid(
            path_of(parent, camel),
            "must be a boolean",
        )),
    }
}

/// An integer, also when written as a whole float (google-genai types
/// `top_k` as a float).
pub(super) fn integral(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        let float = value.as_f64()?;
        // The bounds keep the cast exact and in range.
        (float.fract() == 0.0 && float.abs() < 9.0e15).then_some(float as i64)
    })
}

/// A non-negative integer field (token counts, `topK`).
pub(super) fn opt_count(
    map: &Map<String, Value>,
    parent: &str,
    camel: &str,
    snake: &str,
) -> Result<Option<u64>, DecodeError> {
    match get(map, camel, snake) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .or_else(|| integral(value).and_then(|n| u64::try_from(n).ok()))
            .map(Some)
            .ok_or_else(|| {
                DecodeError::invalid(path_of(parent, camel), "must be a non-negative integer")
            }),
    }
}

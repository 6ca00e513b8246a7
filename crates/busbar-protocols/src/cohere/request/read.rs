//! Field readers for request bodies: `null` reads as absent; a value of the
//! wrong type is an error naming the field's path.

use serde_json::{Map, Value};

use crate::DecodeError;

pub(super) fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn path_of(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

pub(super) fn object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, DecodeError> {
    value
        .as_object()
        .ok_or_else(|| DecodeError::invalid(path, "must be an object"))
}

pub(super) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<&'a str>, DecodeError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(DecodeError::invalid(
            path_of(parent, key),
            "must be a string",
        )),
    }
}

pub(super) fn req_str<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a str, DecodeError> {
    opt_str(obj, parent, key)?
        .ok_or_else(|| DecodeError::invalid(path_of(parent, key), "is required"))
}

pub(super) fn opt_u64(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<u64>, DecodeError> {
    match get(obj, key) {
        None => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            DecodeError::invalid(path_of(parent, key), "must be a non-negative integer")
        }),
    }
}

pub(super) fn opt_f64(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<f64>, DecodeError> {
    match get(obj, key) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| DecodeError::invalid(path_of(parent, key), "must be a number")),
    }
}

pub(super) fn opt_bool(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<bool>, DecodeError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(DecodeError::invalid(
            path_of(parent, key),
            "must be a boolean",
        )),
    }
}

pub(super) fn string_array(value: &Value, path: &str) -> Result<Vec<String>, DecodeError> {
    let items = value
        .as_array()
        .ok_or_else(|| DecodeError::invalid(path, "must be an array of strings"))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| DecodeError::invalid(path, "must be an array of strings"))
        })
        .collect()
}

//! JSON field readers for the decoders: `null` reads as absent, and a value
//! of the wrong type is an error naming the field's path.

use serde_json::{Map, Value};

use crate::DecodeError;

pub(super) fn non_null(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

pub(super) fn path_of(parent: &str, key: &str) -> String {
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

pub(super) fn as_str<'a>(value: &'a Value, path: &str) -> Result<&'a str, DecodeError> {
    value
        .as_str()
        .ok_or_else(|| DecodeError::invalid(path, "must be a string"))
}

pub(super) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<&'a str>, DecodeError> {
    match non_null(obj.get(key)) {
        None => Ok(None),
        Some(value) => as_str(value, &path_of(parent, key)).map(Some),
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
    match non_null(obj.get(key)) {
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
    match non_null(obj.get(key)) {
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
    match non_null(obj.get(key)) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(DecodeError::invalid(
            path_of(parent, key),
            "must be a boolean",
        )),
    }
}

pub(super) fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, DecodeError> {
    match non_null(obj.get(key)) {
        None => Ok(None),
        Some(value) => object(value, &path_of(parent, key)).map(Some),
    }
}

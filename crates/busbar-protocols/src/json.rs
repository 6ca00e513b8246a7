//! JSON field readers shared by the request decoders: `null` reads as absent,
//! and a value of the wrong type is an error naming the field's path.
//!
//! The top-level readers word their errors "must be a string" and take
//! `(object, parent, key)`; [`expected`] holds the OpenAI-family readers,
//! whose errors say "expected a string" and which take `(object, key, path)`.
//! Golden files pin both wordings, so neither may change.

use serde_json::{Map, Value};

use crate::DecodeError;

/// `value` unless it is `null`: SDKs send explicit nulls for fields left
/// unset.
pub(crate) fn non_null(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// The value at `key`, with `null` treated as absent.
pub(crate) fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    non_null(object.get(key))
}

/// The path of `key` inside the object at `parent` (`""` for the body).
pub(crate) fn path_of(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

pub(crate) fn object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, DecodeError> {
    value
        .as_object()
        .ok_or_else(|| DecodeError::invalid(path, "must be an object"))
}

pub(crate) fn opt_str<'a>(
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

pub(crate) fn req_str<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a str, DecodeError> {
    opt_str(obj, parent, key)?
        .ok_or_else(|| DecodeError::invalid(path_of(parent, key), "is required"))
}

pub(crate) fn opt_u64(
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

pub(crate) fn opt_f64(
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

pub(crate) fn opt_bool(
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

pub(crate) fn string_array(value: &Value, path: &str) -> Result<Vec<String>, DecodeError> {
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

/// Readers for OpenAI Chat and Responses, whose errors echo OpenAI's own
/// "expected a string" wording.
pub(crate) mod expected {
    use serde_json::{Map, Value};

    use super::{get, path_of};
    use crate::DecodeError;

    pub(crate) fn wrong(path: &str, expected: &str) -> DecodeError {
        DecodeError::invalid(path, format!("expected {expected}"))
    }

    pub(crate) fn object<'a>(
        value: &'a Value,
        path: &str,
    ) -> Result<&'a Map<String, Value>, DecodeError> {
        value.as_object().ok_or_else(|| wrong(path, "an object"))
    }

    pub(crate) fn req_str<'a>(
        object: &'a Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<&'a str, DecodeError> {
        opt_str(object, key, path)?
            .ok_or_else(|| DecodeError::invalid(path_of(path, key), "is required"))
    }

    pub(crate) fn opt_str<'a>(
        object: &'a Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'a str>, DecodeError> {
        match get(object, key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(wrong(&path_of(path, key), "a string")),
        }
    }

    pub(crate) fn opt_bool(
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<bool>, DecodeError> {
        match get(object, key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(_) => Err(wrong(&path_of(path, key), "a boolean")),
        }
    }

    pub(crate) fn opt_f64(
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<f64>, DecodeError> {
        match get(object, key) {
            None => Ok(None),
            Some(number) => number
                .as_f64()
                .map(Some)
                .ok_or_else(|| wrong(&path_of(path, key), "a number")),
        }
    }

    pub(crate) fn opt_u64(
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<u64>, DecodeError> {
        match get(object, key) {
            None => Ok(None),
            Some(number) => number
                .as_u64()
                .map(Some)
                .ok_or_else(|| wrong(&path_of(path, key), "a non-negative integer")),
        }
    }
}

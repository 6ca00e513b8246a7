//! JSON field readers only Bedrock's decoders need; the shared ones are in
//! [`crate::json`].

use serde_json::{Map, Value};

use crate::json::{non_null, object, path_of};
use crate::DecodeError;

pub(super) fn as_str<'a>(value: &'a Value, path: &str) -> Result<&'a str, DecodeError> {
    value
        .as_str()
        .ok_or_else(|| DecodeError::invalid(path, "must be a string"))
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

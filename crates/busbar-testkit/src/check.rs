//! Request checks the formats share: a table of fields per JSON object, and the first problem
//! found, which each format then words as its vendor does.
//!
//! The tables follow the vendors' current request types (see `test_data/vendor/README.md`); the
//! checks are the ones the vendors make before a model runs — a required field missing, a value
//! of the wrong JSON type, a value outside an enum, a field the API does not know — and the
//! `vendor_conformance` test holds the tables to the vendored definitions.

use serde_json::Value;

/// One step of the path to a problem: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// What is wrong at a path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fault {
    /// A required field is absent (or null).
    Missing,
    /// A field the API does not know.
    Unknown,
    /// A value of the wrong JSON type; the expected kind.
    Type(Kind),
    /// A value outside an enum: the allowed values and what came.
    Enum(&'static [&'static str], String),
    /// A number outside its range: the bound, worded as `greater than or equal to 1024`.
    Range(&'static str),
}

/// The first problem of a request, with the path from the request's root.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub(crate) path: Vec<Seg>,
    pub(crate) fault: Fault,
}

impl Problem {
    pub(crate) fn new(fault: Fault) -> Self {
        Self {
            path: Vec::new(),
            fault,
        }
    }

    /// The same problem one object level further out.
    pub(crate) fn under(mut self, key: &str) -> Self {
        self.path.insert(0, Seg::Key(key.to_owned()));
        self
    }

    /// The same problem one array level further out.
    pub(crate) fn at(mut self, index: usize) -> Self {
        self.path.insert(0, Seg::Index(index));
        self
    }

    /// The path as `a.0.b` (Anthropic's, Bedrock's and Gemini's spelling, before their tweaks).
    pub(crate) fn dotted(&self) -> String {
        let parts: Vec<String> = self
            .path
            .iter()
            .map(|seg| match seg {
                Seg::Key(key) => key.clone(),
                Seg::Index(index) => index.to_string(),
            })
            .collect();
        parts.join(".")
    }

    /// The path as `a[0].b` (OpenAI's spelling of a `param`).
    pub(crate) fn bracketed(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match seg {
                Seg::Key(key) if out.is_empty() => out.push_str(key),
                Seg::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                Seg::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }
}

/// The JSON kind a field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Int,
    Num,
    Bool,
    Obj,
    Arr,
    /// A string or an array (content that is text or blocks).
    StrOrArr,
    /// A string or an object (`tool_choice`, `container`).
    StrOrObj,
    /// A boolean or an array (`clear_tool_inputs`).
    BoolOrArr,
    Any,
}

impl Kind {
    fn admits(self, value: &Value) -> bool {
        match self {
            Kind::Str => value.is_string(),
            Kind::Int => value.is_i64() || value.is_u64(),
            Kind::Num => value.is_number(),
            Kind::Bool => value.is_boolean(),
            Kind::Obj => value.is_object(),
            Kind::Arr => value.is_array(),
            Kind::StrOrArr => value.is_string() || value.is_array(),
            Kind::StrOrObj => value.is_string() || value.is_object(),
            Kind::BoolOrArr => value.is_boolean() || value.is_array(),
            Kind::Any => true,
        }
    }
}

/// How one field is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub(crate) kind: Kind,
    pub(crate) required: bool,
    pub(crate) values: Option<&'static [&'static str]>,
}

/// A required field of `kind`.
pub(crate) const fn req(kind: Kind) -> Rule {
    Rule {
        kind,
        required: true,
        values: None,
    }
}

/// An optional field of `kind`.
pub(crate) const fn opt(kind: Kind) -> Rule {
    Rule {
        kind,
        required: false,
        values: None,
    }
}

/// An optional string out of `values`.
pub(crate) const fn one_of(values: &'static [&'static str]) -> Rule {
    Rule {
        kind: Kind::Str,
        required: false,
        values: Some(values),
    }
}

/// A required string out of `values` (a discriminating `type`).
pub(crate) const fn tag(values: &'static [&'static str]) -> Rule {
    Rule {
        kind: Kind::Str,
        required: true,
        values: Some(values),
    }
}

/// A table of fields: name and rule.
pub(crate) type Table = &'static [(&'static str, Rule)];

/// Checks `value` is an object whose fields follow `table`; `closed` refuses fields the table
/// does not name. Optional fields may be null, as the vendors' optional types allow.
pub(crate) fn object(value: &Value, table: Table, closed: bool) -> Result<(), Problem> {
    let Some(fields) = value.as_object() else {
        return Err(Problem::new(Fault::Type(Kind::Obj)));
    };
    for (name, rule) in table {
        let field = fields.get(*name).filter(|v| !v.is_null());
        let Some(field) = field else {
            if rule.required {
                return Err(Problem::new(Fault::Missing).under(name));
            }
            continue;
        };
        field_value(field, rule).map_err(|problem| problem.under(name))?;
    }
    if closed {
        if let Some(name) = fields.keys().find(|k| !table.iter().any(|(n, _)| n == k)) {
            return Err(Problem::new(Fault::Unknown).under(name));
        }
    }
    Ok(())
}

/// Checks one value against a rule (its kind and enum).
pub(crate) fn field_value(value: &Value, rule: &Rule) -> Result<(), Problem> {
    if !rule.kind.admits(value) {
        return Err(Problem::new(Fault::Type(rule.kind)));
    }
    if let (Some(values), Some(text)) = (rule.values, value.as_str()) {
        if !values.contains(&text) {
            return Err(Problem::new(Fault::Enum(values, text.to_owned())));
        }
    }
    Ok(())
}

/// Checks each item of an optional array with `item`, naming the failing index.
pub(crate) fn each(
    value: Option<&Value>,
    mut item: impl FnMut(&Value) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let items = value.and_then(Value::as_array).into_iter().flatten();
    for (index, value) in items.enumerate() {
        item(value).map_err(|problem| problem.at(index))?;
    }
    Ok(())
}

/// Checks an object tagged by `key` against the table (and closedness) `table_for` picks for its
/// tag; a tag it does not know is an enum problem naming `tags`.
pub(crate) fn tagged(
    value: &Value,
    key: &str,
    tags: &'static [&'static str],
    table_for: impl Fn(&str) -> Option<(Table, bool)>,
) -> Result<(), Problem> {
    if !value.is_object() {
        return Err(Problem::new(Fault::Type(Kind::Obj)));
    }
    let tag = match value.get(key) {
        None | Some(Value::Null) => return Err(Problem::new(Fault::Missing).under(key)),
        Some(Value::String(tag)) => tag.as_str(),
        Some(_) => return Err(Problem::new(Fault::Type(Kind::Str)).under(key)),
    };
    match table_for(tag) {
        Some((table, closed)) => object(value, table, closed),
        None => Err(Problem::new(Fault::Enum(tags, tag.to_owned())).under(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CACHE: Table = &[
        ("type", tag(&["ephemeral"])),
        ("ttl", one_of(&["5m", "1h"])),
    ];
    const BLOCK: Table = &[
        ("type", tag(&["text"])),
        ("text", req(Kind::Str)),
        ("cache_control", opt(Kind::Obj)),
    ];

    #[test]
    fn tables_find_the_first_problem_with_its_path() {
        assert!(object(&json!({"type": "ephemeral", "ttl": "1h"}), CACHE, true).is_ok());
        let problem = object(&json!({"type": "ephemeral", "ttl": "2h"}), CACHE, true).unwrap_err();
        assert_eq!(problem.dotted(), "ttl");
        assert!(matches!(problem.fault, Fault::Enum(_, ref got) if got == "2h"));
        let problem = object(&json!({"type": "text"}), BLOCK, true).unwrap_err();
        assert_eq!(
            (problem.dotted(), problem.fault),
            ("text".into(), Fault::Missing)
        );
        let problem = object(&json!({"type": "text", "text": "a", "x": 1}), BLOCK, true);
        assert_eq!(problem.unwrap_err().fault, Fault::Unknown);
        assert!(object(&json!({"type": "text", "text": "a", "x": 1}), BLOCK, false).is_ok());
        let list = json!([{"type": "text", "text": "a"}, {"type": "text", "text": 3}]);
        let problem = each(Some(&list), |b| object(b, BLOCK, true))
            .unwrap_err()
            .under("messages");
        assert_eq!(problem.dotted(), "messages.1.text");
        assert_eq!(problem.bracketed(), "messages[1].text");
        assert_eq!(problem.fault, Fault::Type(Kind::Str));
    }

    #[test]
    fn tags_pick_the_table() {
        let pick = |tag: &str| (tag == "text").then_some((BLOCK, true));
        assert!(tagged(
            &json!({"type": "text", "text": "a"}),
            "type",
            &["text"],
            pick
        )
        .is_ok());
        let problem = tagged(&json!({"type": "nope"}), "type", &["text"], pick).unwrap_err();
        assert_eq!(problem.dotted(), "type");
        assert!(matches!(problem.fault, Fault::Enum(["text"], _)));
        let problem = tagged(&json!({}), "type", &["text"], pick).unwrap_err();
        assert_eq!(problem.fault, Fault::Missing);
    }
}

//! The one place that knows which YAML parser Busbar uses.
//!
//! `serde_yaml` is unmaintained; its maintained forks keep the same `Value`
//! API, so switching is the `use` line below plus the dependency. Everything
//! else in the crate sees only [`Node`], a plain tree with mapping order kept
//! so errors come out in file order.

use serde_yaml as backend;

/// A parsed YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; keys are unique (the parser rejects duplicates).
    Map(Vec<(String, Node)>),
}

impl Node {
    /// How the value reads in an error message ("expected a list, found …").
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "nothing",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML document, applying `<<` merge keys so anchors can share
/// settings (a breaker used by several pools, say).
///
/// An empty document is [`Node::Null`].
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    let mut value: backend::Value = backend::from_str(text).map_err(|e| e.to_string())?;
    value.apply_merge().map_err(|e| e.to_string())?;
    convert(value, "")
}

fn convert(value: backend::Value, path: &str) -> Result<Node, String> {
    use backend::Value;
    Ok(match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(b),
        Value::Number(n) => number(&n),
        Value::String(s) => Node::Str(s),
        Value::Sequence(items) => Node::Seq(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| convert(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (key, value) in map {
                let key = match key {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!(
                            "{}: mapping keys must be plain scalars, found {}",
                            display_path(path),
                            convert(other, path).map_or("a tagged value", |n| n.kind())
                        ))
                    }
                };
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let value = convert(value, &child)?;
                entries.push((key, value));
            }
            Node::Map(entries)
        }
        Value::Tagged(tagged) => {
            return Err(format!(
                "{}: YAML tags such as `{}` are not supported",
                display_path(path),
                tagged.tag
            ))
        }
    })
}

fn number(n: &backend::Number) -> Node {
    if let Some(i) = n.as_i64() {
        Node::Int(i.into())
    } else if let Some(u) = n.as_u64() {
        Node::Int(u.into())
    } else {
        Node::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "the document"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Node)]) -> Node {
        Node::Map(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn scalars_lists_and_maps_keep_file_order() {
        let node = parse("b: 1\na: [x, 2.5, true, null]\nc: -3\n").unwrap();
        let list = Node::Seq(vec![
            Node::Str("x".into()),
            Node::Float(2.5),
            Node::Bool(true),
            Node::Null,
        ]);
        assert_eq!(
            node,
            map(&[("b", Node::Int(1)), ("a", list), ("c", Node::Int(-3))])
        );
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("").unwrap(), Node::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), Node::Null);
    }

    #[test]
    fn numeric_keys_become_strings() {
        assert_eq!(
            parse("402: billing").unwrap(),
            map(&[("402", Node::Str("billing".into()))])
        );
    }

    #[test]
    fn merge_keys_are_applied() {
        let node = parse("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n").unwrap();
        let Node::Map(entries) = node else {
            panic!("not a map")
        };
        assert_eq!(
            entries[1].1,
            map(&[("y", Node::Int(3)), ("x", Node::Int(1))])
        );
    }

    #[test]
    fn duplicate_keys_and_bad_syntax_are_errors() {
        assert!(parse("a: 1\na: 2\n").unwrap_err().contains("duplicate"));
        assert!(parse("a: [1, 2\n").is_err());
    }

    #[test]
    fn tags_are_rejected_with_a_path() {
        let err = parse("a:\n  b: !custom 1\n").unwrap_err();
        assert!(err.starts_with("a.b: YAML tags"), "{err}");
    }
}

//! A hand walk over a YAML tree that collects every error with its path.
//!
//! The walker never stops: a field with a bad value is reported and treated
//! as absent, so the rest of the document is still checked and the operator
//! sees every problem in one run.

use crate::error::ConfigError;
use crate::yaml::Node;

/// Collects errors for one file.
pub(crate) struct Walker {
    file: String,
    errors: Vec<ConfigError>,
}

/// The fields of one mapping, after its keys were checked against the known
/// ones.
pub(crate) struct Fields<'n> {
    path: String,
    entries: &'n [(String, Node)],
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

impl Walker {
    pub(crate) fn new(file: &str) -> Self {
        Self {
            file: file.to_owned(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }

    pub(crate) fn error(&mut self, path: &str, reason: impl Into<String>) {
        self.errors.push(ConfigError::Invalid {
            file: self.file.clone(),
            path: if path.is_empty() {
                "(document)".to_owned()
            } else {
                path.to_owned()
            },
            reason: reason.into(),
        });
    }

    fn wrong_type(&mut self, path: &str, expected: &str, node: &Node) {
        // Never echo the value: it may be an expanded secret.
        self.error(path, format!("expected {expected}, found {}", node.kind()));
    }

    /// Opens a mapping whose keys are field names, reporting every key not in
    /// `known`. `None` (with an error) when `node` is not a mapping; an empty
    /// field set for null, which YAML writes as `key:` with nothing after.
    pub(crate) fn object<'n>(
        &mut self,
        path: &str,
        node: &'n Node,
        known: &[&str],
    ) -> Option<Fields<'n>> {
        let entries: &'n [(String, Node)] = match node {
            Node::Map(entries) => entries,
            Node::Null => &[],
            other => {
                self.wrong_type(path, "a mapping", other);
                return None;
            }
        };
        for (key, _) in entries {
            if !known.contains(&key.as_str()) {
                let reason = match suggest(key, known.iter().copied()) {
                    Some(close) => format!("unknown field; did you mean `{close}`?"),
                    None => format!("unknown field; expected one of: {}", list(known)),
                };
                self.error(&join(path, key), reason);
            }
        }
        Some(Fields {
            path: path.to_owned(),
            entries,
        })
    }

    /// The entries of a mapping whose keys are names (providers, models,
    /// pools, error codes), in file order.
    pub(crate) fn named<'n>(&mut self, path: &str, node: &'n Node) -> &'n [(String, Node)] {
        match node {
            Node::Map(entries) => entries,
            Node::Null => &[],
            other => {
                self.wrong_type(path, "a mapping", other);
                &[]
            }
        }
    }

    pub(crate) fn list<'n>(&mut self, path: &str, node: &'n Node) -> &'n [Node] {
        match node {
            Node::Seq(items) => items,
            Node::Null => &[],
            other => {
                self.wrong_type(path, "a list", other);
                &[]
            }
        }
    }

    pub(crate) fn string(&mut self, path: &str, node: &Node) -> Option<String> {
        match node {
            Node::Str(s) => Some(s.clone()),
            Node::Int(_) | Node::Float(_) | Node::Bool(_) => {
                // YAML already turned the text into a number, so its exact
                // spelling (leading zeros, say) is lost; ask for quotes
                // rather than guess.
                self.error(
                    path,
                    format!(
                        "expected a string, found {}; put the value in quotes",
                        node.kind()
                    ),
                );
                None
            }
            other => {
                self.wrong_type(path, "a string", other);
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, path: &str, node: &Node) -> Option<bool> {
        match node {
            Node::Bool(b) => Some(*b),
            other => {
                self.wrong_type(path, "true or false", other);
                None
            }
        }
    }

    pub(crate) fn integer(&mut self, path: &str, node: &Node) -> Option<i128> {
        match node {
            Node::Int(i) => Some(*i),
            other => {
                self.wrong_type(path, "a whole number", other);
                None
            }
        }
    }

    /// A whole number `>= min` that fits `T`.
    pub(crate) fn at_least<T: TryFrom<i128>>(
        &mut self,
        path: &str,
        node: &Node,
        min: i128,
    ) -> Option<T> {
        let value = self.integer(path, node)?;
        if value < min {
            self.error(path, format!("must be >= {min}"));
            return None;
        }
        match T::try_from(value) {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(path, "is too large");
                None
            }
        }
    }

    pub(crate) fn number(&mut self, path: &str, node: &Node) -> Option<f64> {
        match node {
            // Configuration numbers are small; i128 → f64 is exact for them.
            Node::Int(i) => Some(*i as f64),
            Node::Float(f) if f.is_finite() => Some(*f),
            other => {
                self.wrong_type(path, "a finite number", other);
                None
            }
        }
    }
    /// One of a fixed set of keywords; suggests the closest on a miss.
    pub(crate) fn choice<T: Clone>(
        &mut self,
        path: &str,
        node: &Node,
        options: &[(&str, T)],
    ) -> Option<T> {
        let value = self.string(path, node)?;
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == value) {
            return Some(v.clone());
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let hint = suggest(&value, names.iter().copied())
            .map(|close| format!("; did you mean `{close}`?"))
            .unwrap_or_default();
        self.error(
            path,
            format!(
                "unknown value `{value}`; expected one of: {}{hint}",
                list(&names)
            ),
        );
        None
    }

    /// Checks a provider, model or pool name (docs/configuration.md, *Reserved names and name rules*): non-empty, no
    /// whitespace or control characters, not the reserved `admin`. Real
    /// upstream ids with `.`, `/`, `:` or `@` are fine.
    pub(crate) fn name(&mut self, path: &str, name: &str) -> bool {
        let reason = if name.is_empty() {
            "a name must not be empty"
        } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            "a name must not contain whitespace or control characters"
        } else if name.eq_ignore_ascii_case("admin") {
            "`admin` is reserved for the admin API"
        } else {
            return true;
        };
        self.error(path, reason);
        false
    }
}

impl Fields<'static> {
    /// No fields, for a section that is absent or not a mapping.
    pub(crate) fn empty() -> Self {
        Fields {
            path: String::new(),
            entries: &[],
        }
    }
}

impl<'n> Fields<'n> {
    /// The field's path and value; `None` when absent or null.
    pub(crate) fn get(&self, key: &str) -> Option<(String, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, v)| k == key && *v != Node::Null)
            .map(|(k, v)| (join(&self.path, k), v))
    }

    /// Whether the field is present (null counts as absent).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn str(&self, w: &mut Walker, key: &str) -> Option<String> {
        let (path, node) = self.get(key)?;
        w.string(&path, node)
    }

    pub(crate) fn bool(&self, w: &mut Walker, key: &str) -> Option<bool> {
        let (path, node) = self.get(key)?;
        w.boolean(&path, node)
    }

    pub(crate) fn at_least<T: TryFrom<i128>>(
        &self,
        w: &mut Walker,
        key: &str,
        min: i128,
    ) -> Option<T> {
        let (path, node) = self.get(key)?;
        w.at_least(&path, node, min)
    }

    pub(crate) fn number(&self, w: &mut Walker, key: &str) -> Option<f64> {
        let (path, node) = self.get(key)?;
        w.number(&path, node)
    }

    /// Reports a required field that is absent.
    pub(crate) fn require<T>(&self, w: &mut Walker, key: &str, value: Option<T>) -> Option<T> {
        if value.is_none() && !self.has(key) {
            w.error(&join(&self.path, key), "required");
        }
        value
    }
}

/// `` `a`, `b`, `c` ``.
pub(crate) fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo: none for one- or two-letter words (any other short word is "one
/// edit away"), one edit up to four letters, two up to eight, three beyond,
/// with a swap of two neighbours counting as one edit. Case differences are
/// free, so `Max_Concurrent` suggests `max_concurrent`.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let budget = match lower.chars().count() {
        0..=2 => 0,
        3..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and transpositions of adjacent characters each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("models", "models"), 0);
        assert_eq!(edit_distance("modles", "models"), 1);
        assert_eq!(edit_distance("max_concurent", "max_concurrent"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions_are_close_or_absent() {
        let known = [
            "provider",
            "max_concurrent",
            "max_requests",
            "default_max_tokens",
        ];
        assert_eq!(suggest("max_concurent", known), Some("max_concurrent"));
        assert_eq!(suggest("Provider", known), Some("provider"));
        assert_eq!(suggest("max_request", known), Some("max_requests"));
        assert_eq!(suggest("colour", known), None);
        assert_eq!(suggest("x", ["y"]), None);
        assert_eq!(suggest("X", ["x"]), Some("x"));
        assert_eq!(suggest("nn", ["n"]), None);
        assert_eq!(suggest("cpa", ["cap"]), Some("cap"));
    }

    #[test]
    fn unknown_keys_are_reported_with_paths() {
        let node = crate::yaml::parse("provder: a\nmax_concurrent: 1\nzzzzzz: 2\n").unwrap();
        let mut w = Walker::new("config.yaml");
        let fields = w
            .object("models.m", &node, &["provider", "max_concurrent"])
            .unwrap();
        assert!(fields.has("max_concurrent"));
        let errors: Vec<String> = w.into_errors().iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "config.yaml: models.m.provder: unknown field; did you mean `provider`?",
                "config.yaml: models.m.zzzzzz: unknown field; expected one of: `provider`, `max_concurrent`",
            ]
        );
    }

    #[test]
    fn numbers_for_strings_ask_for_quotes_without_echoing() {
        let mut w = Walker::new("f");
        assert_eq!(w.string("a", &Node::Int(123_456)), None);
        let message = w.into_errors()[0].to_string();
        assert!(message.contains("put the value in quotes"), "{message}");
        assert!(!message.contains("123456"), "{message}");
    }

    #[test]
    fn bounds_are_checked() {
        let mut w = Walker::new("f");
        assert_eq!(w.at_least::<u32>("a", &Node::Int(0), 1), None);
        assert_eq!(w.at_least::<u8>("b", &Node::Int(300), 0), None);
        assert_eq!(w.at_least::<u32>("c", &Node::Int(7), 1), Some(7));
        let errors: Vec<String> = w.into_errors().iter().map(ToString::to_string).collect();
        assert_eq!(errors, ["f: a: must be >= 1", "f: b: is too large"]);
    }
}

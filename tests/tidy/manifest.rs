//! A line parser for `Cargo.toml`, enough for the manifests this
//! repository writes: the package's name and every dependency with its
//! section, kind and `optional` flag. A TOML crate would be a new
//! dependency for what a hundred lines do; what it cannot read (a multi-line
//! inline table, which TOML forbids anyway) it skips.

/// What a dependency section is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Normal,
    Dev,
    Build,
}

/// One dependency as a manifest declares it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Dep {
    /// The package depended on (its `package = "…"` when renamed).
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) optional: bool,
    /// The section's header as written, for messages.
    pub(crate) section: String,
    /// The key it is declared under, which differs from `name` when renamed.
    key: String,
}

/// The parts of a `Cargo.toml` the rules read.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// `[package] name`; empty when there is none.
    pub(crate) name: String,
    pub(crate) deps: Vec<Dep>,
}

/// Where the parser is.
enum Section {
    Package,
    /// A `[dependencies]`-like table of many dependencies.
    Deps(Kind, String),
    /// A `[dependencies.NAME]`-like table of one.
    Dep(Kind, String, String),
    Other,
}

/// Reads a `Cargo.toml` line by line. Enough TOML for manifests: section
/// headers, `key = value` with dotted and quoted keys, one-line inline
/// tables, comments, and arrays spread over lines (skipped).
pub(crate) fn parse(text: &str) -> Manifest {
    let mut manifest = Manifest::default();
    let mut section = Section::Other;
    let mut open_brackets = 0i32;
    for raw in text.lines() {
        let line = strip_comment(raw).trim();
        if open_brackets > 0 {
            open_brackets += bracket_balance(line);
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = if line.starts_with("[[") {
                Section::Other
            } else {
                classify(line.trim_start_matches('[').trim_end_matches(']').trim())
            };
            continue;
        }
        let Some((key, value)) = split_outside_quotes(line, '=') else {
            continue;
        };
        let (key, value) = (dotted(key), value.trim());
        open_brackets = bracket_balance(value).max(0);
        match &section {
            Section::Package if key == ["name"] => manifest.name = unquote(value),
            Section::Deps(kind, header) => {
                let dep = entry(&mut manifest, *kind, header, &key[0]);
                match &key[1..] {
                    [] if value.starts_with('{') => {
                        let inner = value.trim_start_matches('{').trim_end_matches('}');
                        for pair in split_all_outside(inner, ',') {
                            if let Some((k, v)) = split_outside_quotes(pair, '=') {
                                attribute(dep, &dotted(k).join("."), v.trim());
                            }
                        }
                    }
                    [] => {}
                    attr => attribute(dep, &attr.join("."), value),
                }
            }
            Section::Dep(kind, header, name) => {
                let dep = entry(&mut manifest, *kind, header, name);
                attribute(dep, &key.join("."), value);
            }
            Section::Package | Section::Other => {}
        }
    }
    manifest
}

/// What a header like `target.'cfg(unix)'.dev-dependencies` opens.
fn classify(header: &str) -> Section {
    let keys = dotted(header);
    let kind = |word: &str| match word {
        "dependencies" => Some(Kind::Normal),
        "dev-dependencies" => Some(Kind::Dev),
        "build-dependencies" => Some(Kind::Build),
        _ => None,
    };
    let keys: &[String] = match keys.as_slice() {
        [target, _cfg, rest @ ..] if target == "target" => rest,
        all => all,
    };
    let header = format!("[{header}]");
    match keys {
        [package] if package == "package" => Section::Package,
        [word] => kind(word).map_or(Section::Other, |kind| Section::Deps(kind, header)),
        [word, name] => kind(word).map_or(Section::Other, |kind| {
            Section::Dep(kind, header, name.clone())
        }),
        _ => Section::Other,
    }
}

/// The dependency declared under `key` in `header`, added when new (a
/// dependency's dotted keys may be spread over several lines).
fn entry<'m>(manifest: &'m mut Manifest, kind: Kind, header: &str, key: &str) -> &'m mut Dep {
    let found = manifest
        .deps
        .iter()
        .position(|dep| dep.section == header && dep.key == key);
    let index = found.unwrap_or_else(|| {
        manifest.deps.push(Dep {
            name: key.to_owned(),
            kind,
            optional: false,
            section: header.to_owned(),
            key: key.to_owned(),
        });
        manifest.deps.len() - 1
    });
    &mut manifest.deps[index]
}

fn attribute(dep: &mut Dep, key: &str, value: &str) {
    match key {
        "optional" => dep.optional = value == "true",
        "package" => dep.name = unquote(value),
        _ => {}
    }
}

/// The characters of `text` outside quoted strings, with their byte
/// offsets. Basic strings (`"…"`) may escape a quote with `\`; literal
/// strings (`'…'`) cannot.
fn outside_strings(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut quote = None;
    let mut escaped = false;
    text.char_indices().filter(move |&(_, c)| match quote {
        None if c == '"' || c == '\'' => {
            quote = Some(c);
            false
        }
        None => true,
        Some(_) if escaped => {
            escaped = false;
            false
        }
        Some('"') if c == '\\' => {
            escaped = true;
            false
        }
        Some(q) => {
            if c == q {
                quote = None;
            }
            false
        }
    })
}

/// `text` up to a `#` that is not inside a string.
fn strip_comment(text: &str) -> &str {
    match outside_strings(text).find(|&(_, c)| c == '#') {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// Splits at the first `sep` outside strings, arrays and inline tables.
fn split_outside_quotes(text: &str, sep: char) -> Option<(&str, &str)> {
    let mut depth = 0;
    for (i, c) in outside_strings(text) {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            _ if c == sep && depth == 0 => return Some((&text[..i], &text[i + c.len_utf8()..])),
            _ => {}
        }
    }
    None
}

/// Splits at every `sep` outside strings, arrays and inline tables.
fn split_all_outside(mut text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    while let Some((part, rest)) = split_outside_quotes(text, sep) {
        parts.push(part);
        text = rest;
    }
    parts.push(text);
    parts
}

/// `[` minus `]` outside strings: positive while an array is still open.
fn bracket_balance(text: &str) -> i32 {
    outside_strings(text)
        .map(|(_, c)| match c {
            '[' => 1,
            ']' => -1,
            _ => 0,
        })
        .sum()
}

/// A dotted key's parts, unquoted: `target.'cfg(unix)'.dependencies`.
fn dotted(key: &str) -> Vec<String> {
    split_all_outside(key.trim(), '.')
        .into_iter()
        .map(|part| unquote(part.trim()))
        .collect()
}

fn unquote(text: &str) -> String {
    text.trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_owned()
}

#[test]
fn reads_every_form_of_dependency() {
    let text = r#"
[package]
name = "demo-crate" # a comment
version = "0.1.0"

[features]
default = ["extra"]
extra = ["dep:plain"]

[dependencies]
a.workspace = true
b = { workspace = true, optional = true, features = ["x", "y"] }
plain = "1"
alias = { package = "real-name", version = "1" }
c.workspace = true
c.optional = true
# commented = "1"

[dependencies.table-form]
version = "1"
features = [
    "multi = line",
]
optional = true

[dev-dependencies]
d = { workspace = true }

[build-dependencies]
e = "1"

[target.'cfg(unix)'.dependencies]
f = "1"

[target."cfg(target_os = \"linux\")".dev-dependencies]
g = "1"

[workspace.dependencies]
not-a-dependency = "1"

[[test]]
name = "not-the-package"
"#;
    let manifest = parse(text);
    assert_eq!(manifest.name, "demo-crate");
    let deps: Vec<(&str, Kind, bool, &str)> = manifest
        .deps
        .iter()
        .map(|d| (d.name.as_str(), d.kind, d.optional, d.section.as_str()))
        .collect();
    assert_eq!(
        deps,
        [
            ("a", Kind::Normal, false, "[dependencies]"),
            ("b", Kind::Normal, true, "[dependencies]"),
            ("plain", Kind::Normal, false, "[dependencies]"),
            ("real-name", Kind::Normal, false, "[dependencies]"),
            ("c", Kind::Normal, true, "[dependencies]"),
            (
                "table-form",
                Kind::Normal,
                true,
                "[dependencies.table-form]"
            ),
            ("d", Kind::Dev, false, "[dev-dependencies]"),
            ("e", Kind::Build, false, "[build-dependencies]"),
            (
                "f",
                Kind::Normal,
                false,
                "[target.'cfg(unix)'.dependencies]"
            ),
            (
                "g",
                Kind::Dev,
                false,
                r#"[target."cfg(target_os = \"linux\")".dev-dependencies]"#
            ),
        ]
    );
}

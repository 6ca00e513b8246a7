//! The environment seam and `${NAME}` expansion of raw file text.

use std::collections::{BTreeMap, HashMap};

use crate::error::EnvError;

/// A source of environment variables.
///
/// Loading reads the environment twice: to expand `${NAME}` in the files and
/// to read each provider's `api_key_env`. Injecting it keeps tests away from
/// the process environment, which is shared by every test thread.
///
/// Implemented for [`SystemEnv`], for maps from name to value, and for
/// closures `Fn(&str) -> Option<String>`.
pub trait Env {
    /// The value of `name`, or `None` when it is not set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
///
/// A variable whose value is not valid Unicode counts as unset: Busbar has no
/// use for such a value, and the error names the variable.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> Env for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Whether `c` may not appear in an expanded value: every Unicode control
/// character (C0 including `\n \r \t` NUL, DEL, C1 including U+0085) and the
/// two Unicode line and paragraph separators, which YAML also treats as
/// line breaks.
pub(crate) fn is_forbidden_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Replaces every `${NAME}` in `text` with the variable's value.
///
/// Only the brace form is recognised; a `$` not followed by `{` is left as
/// it is. The closing `}` must be on the same line, so a missing one is
/// reported where it was opened instead of swallowing the rest of the file.
/// All failures are returned together with their 1-based line numbers.
pub(crate) fn expand(text: &str, env: &dyn Env) -> Result<String, Vec<(usize, EnvError)>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        expand_line(line, env, &mut out, &mut |error| {
            errors.push((index + 1, error))
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn expand_line(line: &str, env: &dyn Env, out: &mut String, report: &mut dyn FnMut(EnvError)) {
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            report(EnvError::Unclosed);
            // Keep the text so the (unused) output stays aligned; loading
            // stops before parsing anyway.
            out.push_str(&rest[start..]);
            return;
        };
        let name = &after[..end];
        if name.is_empty() {
            report(EnvError::Empty);
        } else {
            match env.var(name) {
                None => report(EnvError::Unset(name.to_owned())),
                Some(value) if value.chars().any(is_forbidden_char) => {
                    report(EnvError::ControlCharacter(name.to_owned()));
                }
                Some(value) => out.push_str(&value),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn replaces_brace_references_only() {
        let env = env(&[("A", "one"), ("B", "two")]);
        let got = expand("x: ${A}-${B} $A $ {A} $${A}\n", &env).unwrap();
        assert_eq!(got, "x: one-two $A $ {A} $one\n");
    }

    #[test]
    fn text_without_references_is_unchanged() {
        let text = "a: 1\r\nb: \"$\"\n\tc: }\n";
        assert_eq!(expand(text, &env(&[])).unwrap(), text);
    }

    #[test]
    fn unset_variable_is_fatal_with_its_name_and_line() {
        let errors = expand("a: 1\nb: ${MISSING}\n", &env(&[])).unwrap_err();
        assert_eq!(errors, vec![(2, EnvError::Unset("MISSING".into()))]);
        assert_eq!(
            errors[0].1.to_string(),
            "unset environment variable: MISSING"
        );
    }

    #[test]
    fn empty_value_is_allowed_in_text() {
        assert_eq!(expand("a: '${E}'", &env(&[("E", "")])).unwrap(), "a: ''");
    }

    #[test]
    fn unclosed_reference_is_fatal() {
        let errors = expand("a: ${OPEN\nb: }\n", &env(&[("OPEN", "x")])).unwrap_err();
        assert_eq!(errors, vec![(1, EnvError::Unclosed)]);
        assert_eq!(errors[0].1.to_string(), "unclosed `${`");
    }

    #[test]
    fn empty_reference_is_fatal() {
        let errors = expand("a: ${}\n", &env(&[])).unwrap_err();
        assert_eq!(errors, vec![(1, EnvError::Empty)]);
        assert_eq!(errors[0].1.to_string(), "empty `${}`");
    }

    #[test]
    fn every_control_character_in_a_value_is_fatal() {
        for bad in [
            "\n", "\r", "\t", "\0", "\u{7f}", "\u{85}", "\u{2028}", "\u{2029}", "\u{1b}",
        ] {
            let value = format!("token{bad}extra: 1");
            let errors = expand("a: ${V}\n", &env(&[("V", &value)])).unwrap_err();
            assert_eq!(
                errors,
                vec![(1, EnvError::ControlCharacter("V".into()))],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn all_failures_are_collected() {
        let errors = expand("a: ${X}\nb: ${}\nc: ${Y}\nd: ${Z", &env(&[])).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 2, 3, 4]);
    }

    #[test]
    fn closures_and_hash_maps_are_environments() {
        let closure = |name: &str| (name == "K").then(|| "v".to_owned());
        assert_eq!(expand("${K}", &closure).unwrap(), "v");
        let map: HashMap<String, String> = HashMap::from([("K".to_owned(), "w".to_owned())]);
        assert_eq!(expand("${K}", &map).unwrap(), "w");
    }
}

//! The errors loading can report, and the collection that carries all of them.

use std::fmt;

/// One problem found while loading the configuration.
///
/// Each variant names the file it was found in (the path given to
/// [`load`](crate::load), or `providers.yaml` / `config.yaml` for
/// [`load_str`](crate::load_str)). Messages never contain a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{file}: cannot read: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The operating system's explanation.
        reason: String,
    },
    /// `${NAME}` expansion failed.
    #[error("{file}:{line}: {source}")]
    Env {
        /// The file.
        file: String,
        /// The 1-based line holding the reference.
        line: usize,
        /// What went wrong.
        source: EnvError,
    },
    /// The text is not valid YAML.
    #[error("{file}: invalid YAML: {reason}")]
    Yaml {
        /// The file.
        file: String,
        /// The parser's explanation, with its line and column.
        reason: String,
    },
    /// A field is missing, has the wrong type or an invalid value, or refers
    /// to something that does not exist.
    #[error("{file}: {path}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The field's path, e.g. `pools.smart.members[1].weight`.
        path: String,
        /// What is wrong with it, e.g. `must be >= 1`.
        reason: String,
    },
}

impl ConfigError {
    /// The file the error was found in.
    pub fn file(&self) -> &str {
        match self {
            Self::Read { file, .. }
            | Self::Env { file, .. }
            | Self::Yaml { file, .. }
            | Self::Invalid { file, .. } => file,
        }
    }

    /// The field path, for errors about a field.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// A failure while expanding `${NAME}` in a file's raw text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The variable is not set.
    #[error("unset environment variable: {0}")]
    Unset(String),
    /// `${` with no `}` before the end of the line.
    #[error("unclosed `${{`")]
    Unclosed,
    /// `${}`.
    #[error("empty `${{}}`")]
    Empty,
    /// The variable's value holds a control character (a line break, tab,
    /// NUL, DEL, U+0085, U+2028 or U+2029), which could change the YAML's
    /// structure.
    #[error("environment variable {0} holds a control character")]
    ControlCharacter(String),
}

/// Every error found while loading, in the order found.
///
/// Never empty when returned by a loading function. `Display` writes one
/// error per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    pub(crate) fn new(errors: Vec<ConfigError>) -> Self {
        Self(errors)
    }

    /// The individual errors.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never true for a returned value).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

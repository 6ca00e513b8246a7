//! Errors: the store's, opening's, and the admin API's (with its status).

use std::io;
use std::path::PathBuf;

/// A failure of the governance store (SQLite or PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or did not answer in time: a refused
    /// connection, a timeout, a database locked past the busy timeout.
    /// Admission follows `fail_open` for these.
    #[error("governance store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with an error.
    #[error("governance store error: {0}")]
    Backend(String),
    /// A row the store returned cannot be understood.
    #[error("governance store holds a malformed row: {0}")]
    Corrupt(String),
}

/// Why [`Governor::open`](crate::Governor::open) could not start governance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A setting is unusable (a negative price, a store URL that is not
    /// `postgres://`, an empty secret).
    #[error("governance: {0}")]
    Config(String),
    /// The sealing key file could not be created or read.
    #[error("governance key file {path}: {source}")]
    KeyFile {
        /// The file beside `db_path`.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The store's keys were sealed under a different server secret than
    /// the one this process has: SigV4 could not recover them. Replicas
    /// sharing a PostgreSQL store must share `secret_key_env`.
    #[error(
        "governance: the store's virtual keys were sealed with a different server secret; \
         set governance.secret_key_env to the secret they were created with (replicas sharing \
         a store must all use the same one)"
    )]
    SealingKeyMismatch,
    /// The store could not be opened or prepared.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An admin API failure, with the HTTP status it answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The body or a field is invalid; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// No key has this id.
    #[error("no virtual key with id `{0}`")]
    NotFound(String),
    /// The admin token is missing or wrong.
    #[error("a valid admin token is required (Authorization: Bearer or x-admin-token)")]
    Unauthorized,
    /// No admin token is configured, so the admin API refuses every call.
    #[error("the admin API is disabled: set governance.admin_token")]
    Disabled,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that should not fail did (the operating system's random
    /// generator, sealing a key).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

pub(crate) fn sqlite_error(err: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match err.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull,
        ) => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Backend(err.to_string()),
    }
}

pub(crate) fn postgres_error(err: tokio_postgres::Error) -> StoreError {
    // A server-side error carries an SQLSTATE; anything else is the
    // connection failing.
    match err.as_db_error() {
        Some(db) => StoreError::Backend(format!("{} ({})", db.message(), db.code().code())),
        None if err.is_closed() => StoreError::Unavailable("connection closed".to_owned()),
        None => StoreError::Unavailable(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_is_wrong() {
        assert_eq!(
            AdminError::invalid("max_budget_cents must be a number ≥ 0").to_string(),
            "max_budget_cents must be a number ≥ 0"
        );
        assert_eq!(
            AdminError::NotFound("vk_0123456789abcdef".into()).to_string(),
            "no virtual key with id `vk_0123456789abcdef`"
        );
    }
}

//! Placeholder while the bedrock wire format is written: every entry point exists with its final
//! signature so the dispatch in `dialect.rs` compiles.
#![allow(
    missing_docs,
    unused_variables,
    unreachable_pub,
    dead_code,
    clippy::new_without_default
)]
pub mod error;
pub mod request;
pub mod response;
pub mod stream;

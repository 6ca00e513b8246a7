//! Integration tests of the mock upstream, driven over loopback with hyper's client.
//!
//! One test binary; its modules say what belongs where:
//! - `openai`: Chat Completions replies, auth, validation and streams;
//! - `anthropic`: Messages replies, auth, validation and streams;
//! - `faults`: every scripted fault, on both formats;
//! - `server`: lifecycle, recording, options, the thread-hosted variant.

mod anthropic;
mod faults;
mod openai;
mod server;
mod support;

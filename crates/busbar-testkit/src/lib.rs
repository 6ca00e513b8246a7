//! A faithful mock of the LLM providers' upstream APIs, for Busbar's end-to-end tests, for
//! `busbar demo` and for load benchmarks.
//!
//! [`MockUpstream`] is a small hyper server on loopback that answers like the real vendors:
//! the same routes (matched by suffix, so a provider's path prefix works), the same auth and
//! validation failures, the same response and stream shapes, the same error bodies. Its answers
//! are deterministic and derived from the request (see [Replies](#replies)), so a test
//! can predict every byte a gateway should hand back, across protocols.
//!
//! # Formats
//! One module per wire format, each with the same inner shape (handle, error, stream error,
//! not-found): OpenAI Chat Completions (`…/chat/completions`) and Anthropic Messages
//! (`…/v1/messages`). A request to any other path gets a 404 in the vendor shape its headers
//! suggest.
//!
//! # Replies
//! - tools defined (and tool choice not `none`), last turn not a tool result → a call to the
//!   first tool, or to the first two when the last user text says "parallel"; arguments follow
//!   the tool's JSON schema (`string` → `"Paris"`, numbers → `1`, `boolean` → `true`, enums →
//!   their first value, objects and arrays recursively);
//! - last turn a tool result → `Tool result received: <content>`;
//! - otherwise `Echo: <last user text>`, or [`PANGRAM`] when that turn has no text;
//! - Anthropic `thinking: {type: enabled}` adds a thinking block ([`THINKING_TEXT`]);
//! - stop sequences cut the text before their first match; `max_tokens` keeps that many words;
//! - usage counts whitespace-separated words: every input text in, the reply out.
//!
//! Ids are per-server counters: `chatcmpl-mock…`, `msg_mock…`, `call_mock…`, `toolu_mock…`.
//!
//! # Recording and faults
//! Every request is recorded ([`MockUpstream::received`]) unless [`MockOptions::record`] turns it
//! off. Faults ([`Fault`]) are scripted per request with [`MockUpstream::push_fault`] (a queue,
//! each used once) or [`MockUpstream::set_fault`] (sticky), optionally only for a path suffix, a
//! model or a format ([`FaultRule`]). A fault is picked once the body is read and recorded, before
//! auth and validation. Errors are vendor-neutral ([`VendorError`]) and rendered in each vendor's
//! real status and body, so one script drives every format. Stream faults wait for a request with
//! `stream: true`; one that meets an answer which is not a stream (a 400, say) is used up.
//!
//! # Not modelled
//! OpenAI `n > 1` (one choice is returned), logprobs, audio, and the OpenAI models list; tool
//! definitions and prior tool-call arguments do not count as input tokens.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use busbar_testkit::{Fault, FaultRule, MockUpstream};
//!
//! let upstream = MockUpstream::start().await?;
//! upstream.push_fault(FaultRule::new(Fault::overloaded()).model("claude-x"));
//! // point a provider's base_url at upstream.base_url(), send requests, then:
//! let sent = upstream.received();
//! # drop(sent);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod anthropic;
mod behaviour;
mod body;
mod faults;
mod format;
mod openai;
mod record;
mod server;
pub mod sse;

pub use behaviour::{PANGRAM, STRING_ARGUMENT, THINKING_SIGNATURE, THINKING_TEXT};
pub use faults::{ErrorKind, Fault, FaultRule, VendorError};
pub use format::Format;
pub use record::RecordedRequest;
pub use server::{MockOptions, MockUpstream};

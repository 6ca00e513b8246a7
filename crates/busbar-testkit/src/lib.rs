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
//! not-found); [`Format`] names them:
//! - OpenAI Chat Completions, `…/chat/completions`, Bearer (or Azure's `api-key`);
//! - OpenAI Responses, `…/responses`, Bearer: the Response object and its typed event stream
//!   (`sequence_number` on every event; `response.incomplete` when `max_output_tokens` cuts the
//!   reply, which must be at least 16 as on the real API);
//! - Anthropic Messages, `…/v1/messages`, `x-api-key` or Bearer, `anthropic-version` required;
//! - Gemini, `…/models/{model}:generateContent` and `:streamGenerateContent` (under `/v1beta/`
//!   or `/v1/`), key in `x-goog-api-key` or `?key=`; `?alt=sse` streams server-sent events,
//!   otherwise one JSON array in pieces; function calls carry a `thoughtSignature`, and a request
//!   replaying a current-turn call without one is refused as Gemini 3 does (see
//!   [`MockOptions::require_thought_signatures`]);
//! - Cohere Chat v2, `…/v2/chat`, Bearer; streams end with `data: [DONE]`;
//! - Bedrock Converse, `…/model/{model}/converse` and `/converse-stream` (the model id
//!   percent-encoded in the path), SigV4 (recomputed with AWS's signer under
//!   [`MockOptions::aws_credentials`]) or Bearer; streams are `application/vnd.amazon.eventstream`
//!   frames written by `aws-smithy-eventstream`;
//! - Claude through Bedrock InvokeModel, `…/model/{model}/invoke` and
//!   `/invoke-with-response-stream`, the same auth: the Messages body in Bedrock's envelope (no
//!   `model` or `stream`, `anthropic_version` required, betas in `anthropic_beta`), answered by the
//!   Anthropic module; streams are `chunk` frames of base64 Anthropic events, the last with
//!   `amazon-bedrock-invocationMetrics`; errors are Bedrock's.
//!
//! The cloud platforms' paths are served too (see `cloud.rs`): Gemini and Claude on Vertex AI
//! (`…/projects/P/locations/L/publishers/{google,anthropic}/models/M:…`, an OAuth access token
//! required; Claude's body carries `anthropic_version` and no `model`) and Azure OpenAI
//! (`/openai/deployments/D/chat/completions?api-version=…`, `/openai/responses?api-version=…`,
//! `/openai/v1/…`; `api-key` or an Entra ID token). With [`MockOptions::access_tokens`] only
//! tokens issued there and not yet expired are accepted.
//!
//! Each format also answers its vendor's token-counting endpoint with the word count below:
//! Anthropic `…/v1/messages/count_tokens` (`{"input_tokens"}`), Responses `…/responses/input_tokens`
//! (`{"object":"response.input_tokens","input_tokens"}`), Gemini `…/models/{model}:countTokens`
//! (`{"totalTokens"}`), Bedrock `…/model/{model}/count-tokens` (`{"inputTokens"}`).
//!
//! Requests are checked against what each API takes today (see `test_data/vendor/README.md` for
//! the SDK and API-description versions, held to by the `vendor` test): unknown fields, wrong
//! types, unknown roles, missing required fields and values outside an enum get the vendor's
//! 400 in its own words and shape.
//!
//! A request to any other path gets a 404 in the vendor shape its headers suggest.
//!
//! # Replies
//! - tools defined (and tool choice not `none`), last turn not a tool result → a call to the
//!   first tool, or to the first two when the last user text says "parallel"; arguments follow
//!   the tool's JSON schema (`string` → `"Paris"`, numbers → `1`, `boolean` → `true`, enums →
//!   their first value, objects and arrays recursively); the calls follow a short text,
//!   `Calling <name>.` (Cohere's `tool_plan`);
//! - last turn a tool result → `Tool result received: <content>` (a result wrapped in a
//!   one-field object, `{"result": "18C"}`, counts as its content);
//! - otherwise `Echo: <last user text>`, or [`PANGRAM`] when that turn has no text;
//! - thinking when asked ([`THINKING_TEXT`], signed [`THINKING_SIGNATURE`]): Anthropic
//!   `thinking`, Responses `reasoning.effort` (the signature as `encrypted_content` only when
//!   `include` asks for it, the text as a summary only when `reasoning.summary` is set), Gemini
//!   `thinkingConfig.includeThoughts`, Cohere `thinking`, Bedrock
//!   `additionalModelRequestFields.thinking` or `.reasoning_config`;
//! - stop sequences cut the text before their first match; `max_tokens` keeps that many words;
//! - usage counts whitespace-separated words: every input text in, the reply out;
//! - cache markers (Anthropic `cache_control`, Bedrock `cachePoint`): the words up to the last
//!   marker are written to the cache on the first request with that prefix and read from it on
//!   later ones, and the plain input count leaves them out; a write is split by lifetime, the
//!   words up to the last `ttl: 1h` marker written for an hour (see `cache.rs`); Anthropic's
//!   `thinking.display: omitted` returns the thinking block with its signature and no text.
//!
//! Ids are per-server counters: `chatcmpl-mock…`, `resp_mock…`, `msg_mock…`, `fc_mock…`,
//! `call_mock…`, `rs_mock…`, `toolu_mock…`, `tooluse_mock…`; Cohere's are UUID-shaped.
//!
//! # Recording and faults
//! Every request is recorded ([`MockUpstream::received`]) unless [`MockOptions::record`] turns it
//! off. Faults ([`Fault`]) are scripted per request with [`MockUpstream::push_fault`] (a queue,
//! each used once) or [`MockUpstream::set_fault`] (sticky), optionally only for a path suffix, a
//! model or a format ([`FaultRule`]). A fault is picked once the body is read and recorded, before
//! auth and validation. Errors are vendor-neutral ([`VendorError`]) and rendered in each vendor's
//! real status and body, so one script drives every format. Stream faults wait for a streaming
//! request (`stream: true`, or Gemini's and Bedrock's streaming paths); one that meets an answer
//! which is not a stream (a 400, say) is used up. Gemini and Bedrock rules match the model named
//! in the URL (Bedrock's percent-decoded).
//!
//! # Not modelled
//! OpenAI `n > 1` (one choice is returned), logprobs, audio, and the OpenAI models list; Gemini
//! `candidateCount`; Responses `previous_response_id` state and built-in tools; citations; tool
//! definitions and prior tool-call arguments do not count as input tokens; OpenAI's automatic
//! prompt caching (no markers, so no cache tokens); Bedrock CountTokens of an `invokeModel` body
//! (counts 0).
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
mod bedrock;
mod behaviour;
mod body;
mod cache;
mod check;
mod cloud;
mod cohere;
mod faults;
mod format;
mod gemini;
mod openai;
mod options;
mod record;
mod responses;
mod server;
pub mod sse;

pub use behaviour::{PANGRAM, STRING_ARGUMENT, THINKING_SIGNATURE, THINKING_TEXT};
pub use cloud::AccessTokens;
pub use faults::{Chaos, ErrorKind, Fault, FaultRule, VendorError};
pub use format::Format;
pub use options::MockOptions;
pub use record::RecordedRequest;
pub use server::MockUpstream;

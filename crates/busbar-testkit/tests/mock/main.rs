//! Integration tests of the mock upstream, driven over loopback with hyper's client.
//!
//! One test binary; its modules say what belongs where:
//! - `openai`: Chat Completions replies, auth, validation and streams;
//! - `responses`: OpenAI Responses objects, validation, reasoning and typed streams;
//! - `anthropic`: Messages replies, auth, validation and streams;
//! - `gemini`: generateContent, keys, thought signatures, SSE and array streams;
//! - `cohere`: Chat v2 replies, tool plans and typed streams;
//! - `bedrock`: Converse with SigV4 checked for real, ConverseStream decoded by AWS's decoder;
//! - `counting`: the token-counting endpoints and the prompt-cache rule of usage;
//! - `faults`: every scripted fault, on OpenAI Chat and Anthropic;
//! - `vendor_faults`: error bodies and broken streams on the other four formats;
//! - `server`: lifecycle, recording, options, the thread-hosted variant;
//! - `vendor`: validation against the vendored current request types of all six APIs.

mod anthropic;
mod bedrock;
mod cohere;
mod counting;
mod faults;
mod gemini;
mod invoke;
mod openai;
mod responses;
mod server;
mod support;
mod vendor;
mod vendor_faults;

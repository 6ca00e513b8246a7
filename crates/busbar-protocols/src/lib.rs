//! The LLM vendors' wire formats, decoded into and encoded from `busbar-ir`.
//!
//! One module per wire format, each with the same inner shape:
//!
//! * `request` — the vendor's request body ⇄ [`busbar_ir::Request`];
//! * `response` — the vendor's complete reply ⇄ [`busbar_ir::Response`];
//! * `stream` — the vendor's streamed reply ⇄ [`busbar_ir::StreamEvent`]s,
//!   with one stateful [`StreamDecoder`] or [`StreamEncoder`] per stream;
//! * `error` — the vendor's error body ⇄ [`busbar_ir::ApiError`];
//! * `count` — for the four formats with a token-counting endpoint, its
//!   request ⇄ [`busbar_ir::Request`] and its reply ⇄ a number (see
//!   [`count`], which also holds the estimate for the other two).
//!
//! Each module also implements [`Wire`], everything else Busbar knows about
//! the format: the paths clients call and where the model name is, the
//! upstream path, credential scheme and extra headers, the token-cap field,
//! content types and end-of-stream markers. [`Protocol`] names a format and
//! finds its [`Wire`] ([`Protocol::wire`]), so a caller that learns the
//! ingress and egress formats at run time needs no `match` of its own.
//! [`sse`] is the Server-Sent Events codec the SSE-based formats share.
//!
//! This crate does no I/O: bytes in, values out. It never panics on input;
//! malformed input is a [`DecodeError`].
#![deny(missing_docs)]

mod claude;
mod cloud;
mod dialect;
mod end;
mod error;
mod fold;
mod json;
mod names;
mod overflow;
mod signature;
pub mod wire;

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod count;
#[doc(hidden)]
pub mod fuzzing;
pub mod gemini;
#[cfg(test)]
mod golden;
pub mod invoke;
pub mod openai;
#[cfg(test)]
mod pairs;
#[cfg(test)]
mod proptests;
pub mod responses;
pub mod sse;
#[cfg(test)]
mod testing;

pub use cloud::Platform;
pub use dialect::{
    DecodedRequest, Encoded, EncodedError, Protocol, ReplyOptions, RequestOptions, StreamDecoder,
    StreamEncoder,
};
pub use end::EndWatch;
pub use error::DecodeError;
pub use wire::{Endpoint, IngressRoute, KeyHeader, PathMatch, UpstreamHeader, Wire};

//! Claude through Bedrock's InvokeModel (`bedrock-invoke`): the Anthropic
//! Messages body in an AWS envelope.
//!
//! InvokeModel carries a model's own request and reply formats; for
//! Anthropic models those are the Messages API's, so this format is an
//! envelope over the `anthropic` codecs rather than codecs of its own:
//!
//! * **Paths.** `POST /model/ID/invoke` (a complete reply) and
//!   `/model/ID/invoke-with-response-stream` (a stream): the model is in the
//!   path, streaming is chosen by the path, and the body has neither
//!   `model` nor `stream`.
//! * **Body.** The Messages body plus `anthropic_version`
//!   (`bedrock-2023-05-31` in the AWS documentation; the Anthropic SDK 2.x
//!   sends its own API version) and optionally `anthropic_beta: [...]`.
//!   Ingress accepts any version; egress sends `bedrock-2023-05-31`, or the
//!   client's own on a relayed hop.
//! * **Stream.** `application/vnd.amazon.eventstream`: each Anthropic stream
//!   event, as JSON, base64-encoded in the `bytes` member of a `chunk`
//!   event's payload (`{"bytes":"eyJ0eXBl…"}`, with random `p` padding from
//!   AWS). Errors are exception frames, as in ConverseStream.
//! * **Errors and credentials** are Bedrock's: SigV4 (service `bedrock`) or
//!   a Bedrock API key as a bearer token; `{"message"}` bodies named by the
//!   `x-amzn-errortype` header.
//!
//! Being a [`Protocol`](crate::Protocol) of its own (rather than a flag on
//! `anthropic`) keeps everything about the envelope here, behind one
//! [`Wire`](crate::Wire), and lets the server route, relay, translate and
//! report errors for it without knowing it exists. InvokeModel to InvokeModel
//! is relayed byte for byte. An Anthropic client's request to an InvokeModel
//! lane is put into the envelope as it came ([`from_messages`]), betas and all,
//! unless it carries reasoning signatures; its reply, and every other hop
//! (InvokeModel clients on Anthropic lanes included), go through the IR, so
//! Messages fields the IR lacks are dropped and named there.

mod count;
mod request;
mod stream;
mod wire;

pub use request::{from_messages, BEDROCK_ANTHROPIC_VERSION};
pub use stream::{Decoder, Encoder};
pub use wire::BedrockInvoke;

//! Responses streams: typed Server-Sent Events, each an `event: TYPE` line
//! and data repeating the `type` with a rising `sequence_number`, ⇄ IR
//! [`StreamEvent`](busbar_ir::StreamEvent)s.
//!
//! A reply streams as `response.created`, `response.in_progress`, then per
//! output item `response.output_item.added`, its content events
//! (`response.content_part.added`, `response.output_text.delta`…,
//! `response.function_call_arguments.delta`…,
//! `response.reasoning_summary_text.delta`…) and `response.output_item.done`,
//! and finally `response.completed`, `response.incomplete` or
//! `response.failed`, each carrying the whole response object. An `error`
//! event may also end a stream.
//!
//! The upstream side ([`Decoder`]) also reads content that arrives only in
//! done events. The client side ([`Encoder`]) writes what the official SDK's
//! stream helper checks: `response.created` first, `output_index` counting
//! items as they were added, `content_index` counting a message's parts,
//! and an IR error as `response.failed` with a code from the SDK's list.

mod decoder;
mod encoder;

pub use decoder::Decoder;
pub use encoder::Encoder;

#[cfg(test)]
mod tests;

//! Writing IR events as a client's Responses event stream.

use busbar_ir::{BlockDelta, BlockStart, StopReason, StreamEvent, Usage};

use super::super::error::ResponseErrorOut;
use super::super::output::{Header, ItemOut, ResponseOut, SummaryOut, TextOut};
use super::super::{
    item_id, parse_signature, response_id, split_namespace, status, INVENTED_REDACTED,
    INVENTED_THINKING, SIGNATURE_PREFIX,
};
use crate::{ReplyOptions, StreamEncoder};

mod events;

use events::{
    emit, ArgumentsDelta, ArgumentsDone, ItemEvent, PartEvent, ResponseEvent, SummaryDelta,
    SummaryDone, SummaryPartEvent, TextDelta, TextDone,
};

/// Encodes one client's Responses stream. One value per stream.
///
/// Every IR block is one output item: a text block an assistant message with
/// one `output_text` part, a tool call a `function_call`, thinking a
/// `reasoning` item with one summary part. Each event names its item's id,
/// `output_index` and, where the SDK wants them, `content_index` and
/// `summary_index`; `sequence_number` counts every event from 0. The final
/// `response.completed` (or `.incomplete`, `.failed`) carries the whole
/// response, as the non-streamed reply would.
#[derive(Debug)]
pub struct Encoder {
    id: String,
    model: String,
    created: u64,
    sequence: u64,
    started: bool,
    /// No event is encoded any more (after `MessageStop` or an error).
    ended: bool,
    /// Items already done, for the final response object.
    items: Vec<ItemOut<'static>>,
    open: Option<Open>,
    stop_reason: Option<StopReason>,
    usage: Usage,
    /// The request's namespace tools, which calls are split back into.
    tool_namespaces: Vec<String>,
}

/// The output item of the open IR block.
#[derive(Debug)]
enum Open {
    /// A thinking block whose item id is not known yet: a signature from
    /// Responses names it, but the signature may still be arriving.
    Pending { block: usize, signature: String },
    Reasoning {
        block: usize,
        id: String,
        invented: bool,
        text: String,
        signature: String,
    },
    Redacted {
        block: usize,
        id: String,
        data: String,
    },
    Message {
        block: usize,
        id: String,
        text: String,
    },
    Call {
        block: usize,
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

impl Open {
    fn block(&self) -> usize {
        match self {
            Self::Pending { block, .. }
            | Self::Reasoning { block, .. }
            | Self::Redacted { block, .. }
            | Self::Message { block, .. }
            | Self::Call { block, .. } => *block,
        }
    }
}

impl Encoder {
    /// An encoder for a new stream.
    pub fn new(options: &ReplyOptions) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created: options.created,
            sequence: 0,
            started: false,
            ended: false,
            items: Vec::new(),
            open: None,
            stop_reason: None,
            usage: Usage::default(),
            tool_namespaces: options.tool_namespaces.clone(),
        }
    }

    /// `response.created` and `response.in_progress`, which the SDK's stream
    /// helper requires before anything else; also covers events arriving
    /// without a `MessageStart`.
    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = response_id(&self.id, self.created).into_owned();
        for kind in ["response.created", "response.in_progress"] {
            let response = ResponseOut::new(
                header(&self.id, &self.model, self.created),
                ("in_progress", None),
                &[],
                None,
            );
            emit(&mut self.sequence, out, kind, &ResponseEvent { response });
        }
    }

    fn output_index(&self) -> usize {
        self.items.len()
    }

    fn item_added(&mut self, item: &ItemOut<'_>, out: &mut Vec<u8>) {
        let output_index = self.output_index();
        let event = ItemEvent { output_index, item };
        emit(
            &mut self.sequence,
            out,
            "response.output_item.added",
            &event,
        );
    }

    fn item_done(&mut self, item: ItemOut<'static>, out: &mut Vec<u8>) {
        let output_index = self.output_index();
        let event = ItemEvent {
            output_index,
            item: &item,
        };
        emit(&mut self.sequence, out, "response.output_item.done", &event);
        self.items.push(item);
    }

    fn block_start(&mut self, block: usize, start: &BlockStart, out: &mut Vec<u8>) {
        self.close(out);
        let index = self.output_index();
        self.open = Some(match start {
            BlockStart::Text => {
                let id = item_id("msg_", &self.id, index);
                self.item_added(
                    &ItemOut::message(id.as_str(), "in_progress", Vec::new()),
                    out,
                );
                let part = PartEvent {
                    item_id: &id,
                    output_index: index,
                    content_index: 0,
                    part: TextOut::new(""),
                };
                emit(
                    &mut self.sequence,
                    out,
                    "response.content_part.added",
                    &part,
                );
                Open::Message {
                    block,
                    id,
                    text: String::new(),
                }
            }
            BlockStart::ToolUse {
                id: call_id, name, ..
            } => {
                let id = item_id("fc_", &self.id, index);
                let item = ItemOut::call(
                    id.as_str(),
                    call_id,
                    (name, &self.tool_namespaces),
                    "",
                    "in_progress",
                );
                self.item_added(&item, out);
                Open::Call {
                    block,
                    id,
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                }
            }
            BlockStart::RedactedThinking { data } => {
                let id = item_id(INVENTED_REDACTED, &self.id, index);
                self.item_added(&ItemOut::reasoning(id.as_str(), "", Some(data)), out);
                Open::Redacted {
                    block,
                    id,
                    data: data.clone(),
                }
            }
            // The id waits for the signature or the first text.
            _ => Open::Pending {
                block,
                signature: String::new(),
            },
        });
    }

    fn block_delta(&mut self, block: usize, delta: &BlockDelta, out: &mut Vec<u8>) {
        if self.open.as_ref().map(Open::block) != Some(block) {
            return;
        }
        match delta {
            BlockDelta::Text(text) if !text.is_empty() => {
                if let Some(Open::Message { id, text: all, .. }) = &mut self.open {
                    all.push_str(text);
                    let event = TextDelta {
                        item_id: id,
                        output_index: self.items.len(),
                        content_index: 0,
                        delta: text,
                        logprobs: [],
                    };
                    emit(
                        &mut self.sequence,
                        out,
                        "response.output_text.delta",
                        &event,
                    );
                }
            }
            BlockDelta::ToolArguments(arguments) if !arguments.is_empty() => {
                if let Some(Open::Call {
                    id, arguments: all, ..
                }) = &mut self.open
                {
                    all.push_str(arguments);
                    let event = ArgumentsDelta {
                        item_id: id,
                        output_index: self.items.len(),
                        delta: arguments,
                    };
                    emit(
                        &mut self.sequence,
                        out,
                        "response.function_call_arguments.delta",
                        &event,
                    );
                }
            }
            BlockDelta::Thinking(text) if !text.is_empty() => {
                self.commit_reasoning(out);
                if let Some(Open::Reasoning { id, text: all, .. }) = &mut self.open {
                    let output_index = self.items.len();
                    if all.is_empty() {
                        let event = SummaryPartEvent {
                            item_id: id,
                            output_index,
                            summary_index: 0,
                            part: SummaryOut::new(""),
                        };
                        emit(
                            &mut self.sequence,
                            out,
                            "response.reasoning_summary_part.added",
                            &event,
                        );
                    }
                    all.push_str(text);
                    let event = SummaryDelta {
                        item_id: id,
                        output_index,
                        summary_index: 0,
                        delta: text,
                    };
                    emit(
                        &mut self.sequence,
                        out,
                        "response.reasoning_summary_text.delta",
                        &event,
                    );
                }
            }
            BlockDelta::ThinkingSignature(piece) => match &mut self.open {
                Some(Open::Pending { signature, .. }) => {
                    signature.push_str(piece);
                    if decidable(signature) {
                        self.commit_reasoning(out);
                    }
                }
                Some(Open::Reasoning { signature, .. }) => signature.push_str(piece),
                _ => {}
            },
            _ => {}
        }
    }

    /// Fixes a pending reasoning block's item id and announces the item.
    fn commit_reasoning(&mut self, out: &mut Vec<u8>) {
        if !matches!(self.open, Some(Open::Pending { .. })) {
            return;
        }
        let Some(Open::Pending { block, signature }) = self.open.take() else {
            return;
        };
        let (id, invented) = match parse_signature(&signature) {
            Some((id, _)) if !id.is_empty() => (id.to_owned(), false),
            _ => (
                item_id(INVENTED_THINKING, &self.id, self.output_index()),
                true,
            ),
        };
        self.item_added(&ItemOut::reasoning(id.as_str(), "", None), out);
        self.open = Some(Open::Reasoning {
            block,
            id,
            invented,
            text: String::new(),
            signature,
        });
    }

    /// Ends the open item: its done events, then the item itself.
    fn close(&mut self, out: &mut Vec<u8>) {
        self.commit_reasoning(out);
        let Some(open) = self.open.take() else {
            return;
        };
        let output_index = self.output_index();
        let item = match open {
            Open::Message { id, text, .. } => {
                let done = TextDone {
                    item_id: &id,
                    output_index,
                    content_index: 0,
                    text: &text,
                    logprobs: [],
                };
                emit(&mut self.sequence, out, "response.output_text.done", &done);
                let part = PartEvent {
                    item_id: &id,
                    output_index,
                    content_index: 0,
                    part: TextOut::new(text.as_str()),
                };
                emit(&mut self.sequence, out, "response.content_part.done", &part);
                ItemOut::message(id, "completed", vec![TextOut::new(text)]).into_owned()
            }
            Open::Call {
                id,
                call_id,
                name,
                arguments,
                ..
            } => {
                let done = ArgumentsDone {
                    item_id: &id,
                    output_index,
                    name: split_namespace(&self.tool_namespaces, &name).1,
                    arguments: &arguments,
                };
                emit(
                    &mut self.sequence,
                    out,
                    "response.function_call_arguments.done",
                    &done,
                );
                let namespaces = &self.tool_namespaces;
                ItemOut::call(id, &call_id, (&name, namespaces), &arguments, "completed")
                    .into_owned()
            }
            Open::Reasoning {
                id,
                invented,
                text,
                signature,
                ..
            } => {
                if !text.is_empty() {
                    let done = SummaryDone {
                        item_id: &id,
                        output_index,
                        summary_index: 0,
                        text: &text,
                    };
                    emit(
                        &mut self.sequence,
                        out,
                        "response.reasoning_summary_text.done",
                        &done,
                    );
                    let part = SummaryPartEvent {
                        item_id: &id,
                        output_index,
                        summary_index: 0,
                        part: SummaryOut::new(text.as_str()),
                    };
                    emit(
                        &mut self.sequence,
                        out,
                        "response.reasoning_summary_part.done",
                        &part,
                    );
                }
                let encrypted = if invented {
                    Some(signature.as_str()).filter(|signature| !signature.is_empty())
                } else {
                    parse_signature(&signature)
                        .filter(|(signed, _)| *signed == id)
                        .and_then(|(_, encrypted)| encrypted)
                };
                ItemOut::reasoning(id.as_str(), &text, encrypted).into_owned()
            }
            Open::Redacted { id, data, .. } => ItemOut::reasoning(id, "", Some(&data)).into_owned(),
            Open::Pending { .. } => return,
        };
        self.item_done(item, out);
    }

    /// The terminal event: the whole response with its status and usage.
    fn complete(&mut self, out: &mut Vec<u8>) {
        self.ensure_started(out);
        self.close(out);
        let status = status(self.stop_reason.as_ref());
        let kind = match status.0 {
            "incomplete" => "response.incomplete",
            "failed" => "response.failed",
            _ => "response.completed",
        };
        let mut response = ResponseOut::new(
            header(&self.id, &self.model, self.created),
            status,
            &self.items,
            Some(&self.usage),
        );
        if status.0 == "failed" {
            response = response.with_error(ResponseErrorOut::generation_failed());
        }
        emit(&mut self.sequence, out, kind, &ResponseEvent { response });
    }
}

impl StreamEncoder for Encoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::MessageStart {
                id,
                model,
                created,
                usage,
            } => {
                if !self.started {
                    self.id.clone_from(id);
                    self.model.clone_from(model);
                    if let Some(created) = created {
                        self.created = *created;
                    }
                }
                self.usage.merge(usage);
                self.ensure_started(out);
            }
            StreamEvent::BlockStart { index, block } => {
                self.ensure_started(out);
                self.block_start(*index, block, out);
            }
            StreamEvent::BlockDelta { index, delta } => self.block_delta(*index, delta, out),
            StreamEvent::BlockStop { index }
                if self.open.as_ref().map(Open::block) == Some(*index) =>
            {
                self.close(out);
            }
            StreamEvent::MessageDelta {
                stop_reason, usage, ..
            } => {
                if stop_reason.is_some() {
                    self.stop_reason.clone_from(stop_reason);
                }
                if let Some(usage) = usage {
                    self.usage.merge(usage);
                }
            }
            StreamEvent::MessageStop => {
                self.complete(out);
                self.ended = true;
            }
            StreamEvent::Error(error) => {
                self.ensure_started(out);
                // The open item never completed: the failed response lists
                // only the items that did.
                self.open = None;
                let response = ResponseOut::new(
                    header(&self.id, &self.model, self.created),
                    ("failed", None),
                    &self.items,
                    None,
                )
                .with_error(ResponseErrorOut::new(error));
                emit(
                    &mut self.sequence,
                    out,
                    "response.failed",
                    &ResponseEvent { response },
                );
                self.ended = true;
            }
            _ => {}
        }
    }

    fn finish(&mut self, _out: &mut Vec<u8>) {
        // Responses streams have no terminal marker beyond their last event;
        // a stream cut short ends without `response.completed`, which the
        // SDK reports.
    }
}

/// The facts every rendering of this stream's response shares.
fn header<'a>(id: &'a str, model: &'a str, created_at: u64) -> Header<'a> {
    Header {
        id,
        model,
        created_at,
    }
}

/// Whether a pending reasoning block's signature so far decides its item
/// id: a Responses signature once its id is complete, any other at once.
fn decidable(signature: &str) -> bool {
    match signature.strip_prefix(SIGNATURE_PREFIX) {
        Some(rest) => rest.contains(':'),
        None => !SIGNATURE_PREFIX.starts_with(signature),
    }
}

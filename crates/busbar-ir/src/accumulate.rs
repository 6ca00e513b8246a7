//! Folding a stream into a complete reply, and unfolding a reply into a stream.

use crate::content::ContentBlock;
use crate::response::Response;
use crate::stream::{BlockDelta, BlockStart, StreamEvent};
use crate::ApiError;

/// Folds [`StreamEvent`]s into the [`Response`] they describe.
///
/// Useful to answer a non-streaming client from a streaming upstream, to read
/// a stream's final usage, and to test that a stream and a complete reply say
/// the same thing.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    response: Response,
    open: Option<(usize, ContentBlock)>,
    error: Option<ApiError>,
    complete: bool,
}

impl StreamAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds in one event.
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::MessageStart {
                id,
                model,
                created,
                usage,
            } => {
                self.response.id.clone_from(id);
                self.response.model.clone_from(model);
                self.response.created = *created;
                self.response.usage.merge(usage);
            }
            StreamEvent::BlockStart { index, block } => {
                self.close_open();
                let block = match block {
                    BlockStart::Text => ContentBlock::text(""),
                    BlockStart::ToolUse {
                        id,
                        name,
                        signature,
                    } => ContentBlock::ToolUse {
                        id: id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                        signature: signature.clone(),
                    },
                    BlockStart::Thinking => ContentBlock::thinking("", None),
                    BlockStart::RedactedThinking { data } => {
                        ContentBlock::RedactedThinking { data: data.clone() }
                    }
                };
                self.open = Some((*index, block));
            }
            StreamEvent::BlockDelta { index, delta } => {
                if let Some((open_index, block)) = &mut self.open {
                    if open_index == index {
                        apply_delta(block, delta);
                    }
                }
            }
            StreamEvent::BlockStop { index } => {
                if matches!(&self.open, Some((open_index, _)) if open_index == index) {
                    self.close_open();
                }
            }
            StreamEvent::MessageDelta {
                stop_reason,
                stop_sequence,
                usage,
            } => {
                if stop_reason.is_some() {
                    self.response.stop_reason.clone_from(stop_reason);
                }
                if stop_sequence.is_some() {
                    self.response.stop_sequence.clone_from(stop_sequence);
                }
                if let Some(usage) = usage {
                    self.response.usage.merge(usage);
                }
            }
            StreamEvent::MessageStop => {
                self.close_open();
                self.complete = true;
            }
            StreamEvent::Error(error) => {
                self.close_open();
                self.error = Some(error.clone());
            }
        }
    }

    /// Whether `MessageStop` has been seen.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The reply so far, with any open block closed, or the error the stream
    /// ended with.
    pub fn finish(mut self) -> Result<Response, ApiError> {
        self.close_open();
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.response),
        }
    }

    fn close_open(&mut self) {
        if let Some((_, block)) = self.open.take() {
            self.response.content.push(block);
        }
    }
}

fn apply_delta(block: &mut ContentBlock, delta: &BlockDelta) {
    match (block, delta) {
        (ContentBlock::Text { text }, BlockDelta::Text(more)) => text.push_str(more),
        (ContentBlock::ToolUse { arguments, .. }, BlockDelta::ToolArguments(more)) => {
            arguments.push_str(more)
        }
        (ContentBlock::Thinking { text, .. }, BlockDelta::Thinking(more)) => text.push_str(more),
        (ContentBlock::Thinking { signature, .. }, BlockDelta::ThinkingSignature(more)) => {
            signature.get_or_insert_with(String::new).push_str(more)
        }
        // A delta that does not fit its block is ignored: decoders never
        // produce one, and a reply is better than a panic.
        _ => {}
    }
}

impl Response {
    /// The reply as a well-formed event sequence, each block's content in a
    /// single delta. Tool results and images never occur in a reply and are
    /// skipped.
    pub fn to_events(&self) -> Vec<StreamEvent> {
        let mut events = vec![StreamEvent::MessageStart {
            id: self.id.clone(),
            model: self.model.clone(),
            created: self.created,
            usage: Default::default(),
        }];
        let mut index = 0;
        for block in &self.content {
            let (start, delta) = match block {
                ContentBlock::Text { text } => {
                    (BlockStart::Text, vec![BlockDelta::Text(text.clone())])
                }
                ContentBlock::ToolUse {
                    id,
                    name,
                    arguments,
                    signature,
                } => (
                    BlockStart::ToolUse {
                        id: id.clone(),
                        name: name.clone(),
                        signature: signature.clone(),
                    },
                    vec![BlockDelta::ToolArguments(arguments.clone())],
                ),
                ContentBlock::Thinking { text, signature } => {
                    let mut deltas = vec![BlockDelta::Thinking(text.clone())];
                    if let Some(signature) = signature {
                        deltas.push(BlockDelta::ThinkingSignature(signature.clone()));
                    }
                    (BlockStart::Thinking, deltas)
                }
                ContentBlock::RedactedThinking { data } => {
                    (BlockStart::RedactedThinking { data: data.clone() }, vec![])
                }
                ContentBlock::Image { .. }
                | ContentBlock::ToolResult { .. }
                | ContentBlock::CachePoint(_) => continue,
            };
            events.push(StreamEvent::BlockStart {
                index,
                block: start,
            });
            events.extend(
                delta
                    .into_iter()
                    .map(|delta| StreamEvent::BlockDelta { index, delta }),
            );
            events.push(StreamEvent::BlockStop { index });
            index += 1;
        }
        events.push(StreamEvent::MessageDelta {
            stop_reason: self.stop_reason.clone(),
            stop_sequence: self.stop_sequence.clone(),
            usage: Some(self.usage),
        });
        events.push(StreamEvent::MessageStop);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StopReason, Usage};

    fn sample() -> Response {
        let mut response = Response::new(
            "msg_1",
            "model-x",
            vec![
                ContentBlock::thinking("hmm", Some("sig".into())),
                ContentBlock::text("Hello"),
                ContentBlock::tool_use("call_1", "get_weather", "{\"city\":\"Paris\"}"),
            ],
        );
        response.stop_reason = Some(StopReason::ToolUse);
        response.usage = Usage::new(10, 5);
        response
    }

    #[test]
    fn a_reply_survives_unfolding_and_folding() {
        let response = sample();
        let mut accumulator = StreamAccumulator::new();
        for event in response.to_events() {
            accumulator.push(&event);
        }
        assert!(accumulator.is_complete());
        assert_eq!(accumulator.finish().unwrap(), response);
    }

    #[test]
    fn deltas_concatenate_and_usage_merges() {
        let mut accumulator = StreamAccumulator::new();
        let events = [
            StreamEvent::MessageStart {
                id: "a".into(),
                model: "m".into(),
                created: None,
                usage: Usage::new(7, 0),
            },
            StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Text,
            },
            StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("Hel".into()),
            },
            StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("lo".into()),
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::MessageDelta {
                stop_reason: Some(StopReason::EndTurn),
                stop_sequence: None,
                usage: Some(Usage::new(0, 2)),
            },
            StreamEvent::MessageStop,
        ];
        for event in &events {
            accumulator.push(event);
        }
        let response = accumulator.finish().unwrap();
        assert_eq!(response.text(), "Hello");
        assert_eq!(response.usage, Usage::new(7, 2));
    }

    #[test]
    fn an_error_event_wins() {
        let mut accumulator = StreamAccumulator::new();
        accumulator.push(&StreamEvent::Error(ApiError::new(
            crate::ErrorKind::Overloaded,
            "busy",
        )));
        assert_eq!(accumulator.finish().unwrap_err().message, "busy");
    }
}

//! Saying a mid-conversation instruction in a format that has no place for
//! one (Gemini, Bedrock Converse: a system prompt only at the top).
//!
//! The instruction becomes a user-turn text at its position, wrapped in a
//! `<system_instruction>` element so the model reads it as an instruction
//! from the application rather than as words of the user. The fold is
//! deterministic (same message, same text) so prompt caches keep working.

use std::borrow::Cow;

use busbar_ir::{ContentBlock, Message, Role};

/// The opening tag of a folded instruction.
pub(crate) const OPEN: &str = "<system_instruction>\n";
/// The closing tag of a folded instruction.
pub(crate) const CLOSE: &str = "\n</system_instruction>";

/// The conversation with each system message folded into a user message
/// at its place; borrowed as it is when it holds none.
pub(crate) fn fold_instructions<'a>(
    messages: &'a [Message],
    dropped: &mut Vec<&'static str>,
) -> Cow<'a, [Message]> {
    if !messages.iter().any(|m| m.role == Role::System) {
        return Cow::Borrowed(messages);
    }
    let mut out = Vec::with_capacity(messages.len());
    for message in messages {
        if message.role != Role::System {
            out.push(message.clone());
        } else if let Some(text) = instruction_text(message, dropped) {
            out.push(Message::text(Role::User, text));
        }
    }
    Cow::Owned(out)
}

/// The system message as user text, or `None` when it holds no text. Blocks
/// other than text are named in `dropped` (cache points as `cache_control`);
/// the encoders name each field once.
pub(crate) fn instruction_text(
    message: &Message,
    dropped: &mut Vec<&'static str>,
) -> Option<String> {
    for block in &message.content {
        match block {
            ContentBlock::Text { .. } => {}
            ContentBlock::CachePoint(_) => dropped.push("cache_control"),
            _ => dropped.push("content_block"),
        }
    }
    let text = message.joined_text()?;
    Some(format!("{OPEN}{text}{CLOSE}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instruction_is_wrapped_and_its_cache_point_named() {
        let message = Message::new(
            Role::System,
            vec![
                ContentBlock::text("Be terse."),
                ContentBlock::cache_point(),
                ContentBlock::text("Use tools."),
            ],
        );
        let mut dropped = Vec::new();
        assert_eq!(
            instruction_text(&message, &mut dropped).as_deref(),
            Some("<system_instruction>\nBe terse.\n\nUse tools.\n</system_instruction>")
        );
        assert_eq!(dropped, ["cache_control"]);
        let empty = Message::new(Role::System, vec![ContentBlock::text("")]);
        assert_eq!(instruction_text(&empty, &mut dropped), None);
    }

    #[test]
    fn folding_keeps_the_position_and_borrows_when_there_is_nothing_to_fold() {
        let plain = [Message::text(Role::User, "hi")];
        assert!(matches!(
            fold_instructions(&plain, &mut Vec::new()),
            Cow::Borrowed(_)
        ));
        let messages = [
            Message::text(Role::User, "a"),
            Message::text(Role::System, "b"),
            Message::text(Role::Assistant, "c"),
        ];
        let folded = fold_instructions(&messages, &mut Vec::new());
        let roles: Vec<Role> = folded.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::User, Role::Assistant]);
        assert_eq!(
            folded[1].joined_text().as_deref(),
            Some("<system_instruction>\nb\n</system_instruction>")
        );
    }
}

//! Unit tests of the request mapping rules, both ways.

mod decoding;
mod encoding;

use busbar_ir::{ContentBlock, Request};
use serde_json::Value;

use super::{decode_value, encode};
use crate::RequestOptions;

fn decode_json(body: Value) -> Request {
    decode_value(&body).unwrap()
}

fn encode_json(request: &Request) -> (Value, Vec<&'static str>) {
    let encoded = encode(request, &RequestOptions::new("gemini-3-pro-preview"));
    (
        serde_json::from_slice(&encoded.body).unwrap(),
        encoded.dropped,
    )
}

fn signed(mut block: ContentBlock, sig: &str) -> ContentBlock {
    if let ContentBlock::ToolUse { signature, .. } = &mut block {
        *signature = Some(sig.to_owned());
    }
    block
}

#[test]
fn turns_of_one_role_merge_on_the_way_out() {
    use busbar_ir::{Message, Role};
    let request = Request::new(
        "m",
        vec![
            Message::text(Role::User, "a"),
            Message::text(Role::User, "b"),
        ],
    );
    let encoded = encode(&request, &RequestOptions::new("m"));
    let decoded = super::decode(&encoded.body).unwrap();
    assert_eq!(
        decoded.messages,
        vec![Message::new(
            Role::User,
            vec![ContentBlock::text("a"), ContentBlock::text("b")]
        )]
    );
}

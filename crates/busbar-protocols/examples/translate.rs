//! The CPU cost of translating one request and its reply between two
//! formats, in this process alone (no network, no server): Anthropic in,
//! OpenAI Chat out, and the reply back. Steadier than the end-to-end
//! benchmark in `bench/`, which shares the machine with its client, mock and
//! nginx.
//!
//! ```sh
//! cargo run --release -p busbar-protocols --example translate
//! ```

use busbar_protocols::{Protocol, ReplyOptions, RequestOptions};
use std::time::Instant;

const REQ: &[u8] = br#"{"model":"claude-sonnet","max_tokens":256,"system":"You are terse.","messages":[{"role":"user","content":"Say hello in three languages and explain the difference between them in a short paragraph, please, with an example sentence for each one."},{"role":"assistant","content":"Hello, hola, bonjour."},{"role":"user","content":[{"type":"text","text":"Now do it again with more detail about greetings across cultures."}]}],"temperature":0.7,"stream":false}"#;
const RESP: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello (English), hola (Spanish), bonjour (French). Each greeting carries its own register and history; in French bonjour is the default polite greeting for the whole day until evening."},"finish_reason":"stop"}],"usage":{"prompt_tokens":57,"completion_tokens":48,"total_tokens":105}}"#;

fn main() {
    let n = 200_000;
    // The best of five rounds: the least disturbed by the rest of the machine.
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut bytes = 0usize;
        for _ in 0..n {
            let decoded = Protocol::Anthropic.decode_request(REQ).unwrap();
            let mut options = RequestOptions::new("gpt-4o");
            options.ingress = Some(Protocol::Anthropic);
            bytes += Protocol::OpenAi
                .encode_request(&decoded.request, &options)
                .body
                .len();
            let response = Protocol::OpenAi.decode_response(RESP).unwrap();
            let mut reply = ReplyOptions::new(1700000000);
            reply.egress = Some(Protocol::OpenAi);
            bytes += Protocol::Anthropic
                .encode_response(&response, &reply)
                .body
                .len();
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        best = best.min(per);
        std::hint::black_box(bytes);
    }
    println!("best of 5: {best:.2} µs per translated request+reply");
}

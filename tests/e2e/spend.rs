//! What replies cost: tokens by class and exact money per lane, in
//! `/metrics` (`busbar_tokens_total`, `busbar_cost_total`) and `/stats`,
//! for complete and streamed replies, relayed and translated.
//!
//! The mock's usage is deterministic but its exact counts are its own
//! business, so each test reads the usage the client was shown and checks
//! that the gateway counted exactly that, priced exactly.

use busbar_testkit::Fault;
use serde_json::{json, Value};

use crate::support::{Metrics, Setup};

/// Two priced lanes and one without a price. `$1` and `$2` per million
/// tokens are 1 and 2 micro-dollars a token; `$0.5` and `$1.5` leave half
/// micro-dollars to carry.
const MODELS: &str = "
  gpt:
    provider: mock-openai
    max_concurrent: 8
    upstream_model: gpt-4o-mini
    price: {input: 1, output: 2}
  claude:
    provider: mock-anthropic
    max_concurrent: 8
    upstream_model: claude-3-5-haiku
    price: {input: 0.5, output: 1.5}
  free:
    provider: mock-openai
    max_concurrent: 8
";

/// Input and output tokens a client was shown.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    input: u64,
    output: u64,
}

impl Seen {
    fn add(&mut self, other: Seen) {
        self.input += other.input;
        self.output += other.output;
    }
}

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a count: {value}"))
}

fn chat(model: &str, text: &str, stream: bool) -> Value {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": text}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn messages(text: &str, stream: bool) -> Value {
    json!({"max_tokens": 50, "stream": stream, "messages": [{"role": "user", "content": text}]})
}

/// An OpenAI chat reply's usage, complete or streamed (the last chunk).
fn openai_usage(usage: &Value) -> Seen {
    Seen {
        input: number(&usage["prompt_tokens"]),
        output: number(&usage["completion_tokens"]),
    }
}

#[tokio::test]
async fn every_reply_is_counted_and_priced_exactly() {
    let gateway = Setup::new().models(MODELS).start().await;
    Metrics::ready(&gateway).await;
    let (mut gpt, mut claude, mut free) = (Seen::default(), Seen::default(), Seen::default());

    // OpenAI in, OpenAI out: complete, then streamed (relayed untouched).
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("gpt", "one two three", false))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    gpt.add(openai_usage(&reply.json()["usage"]));
    let reply = gateway
        .stream(
            "/v1/chat/completions",
            &chat("gpt", "four five six seven", true),
        )
        .await;
    let usage = reply
        .data()
        .into_iter()
        .rev()
        .find(|chunk| chunk["usage"].is_object())
        .expect("a usage chunk");
    gpt.add(openai_usage(&usage["usage"]));

    // Anthropic in, Anthropic out: complete, then streamed (relayed).
    let reply = gateway
        .post_json("/claude/v1/messages", &messages("eight nine", false))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let usage = &reply.json()["usage"];
    claude.add(Seen {
        input: number(&usage["input_tokens"]),
        output: number(&usage["output_tokens"]),
    });
    let reply = gateway
        .stream("/claude/v1/messages", &messages("ten eleven twelve", true))
        .await;
    let data = reply.data();
    let start = data
        .iter()
        .find(|event| event["type"] == "message_start")
        .expect("message_start");
    let delta = data
        .iter()
        .rev()
        .find(|event| event["type"] == "message_delta")
        .expect("message_delta");
    claude.add(Seen {
        input: number(&start["message"]["usage"]["input_tokens"]),
        output: number(&delta["usage"]["output_tokens"]),
    });

    // OpenAI in, Anthropic out: complete and streamed, translated.
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("claude", "a b c d e", false))
        .await;
    claude.add(openai_usage(&reply.json()["usage"]));
    let reply = gateway
        .stream("/v1/chat/completions", &chat("claude", "f g h", true))
        .await;
    let usage = reply
        .data()
        .into_iter()
        .rev()
        .find(|chunk| chunk["usage"].is_object())
        .expect("a usage chunk");
    claude.add(openai_usage(&usage["usage"]));

    // A lane without a price counts tokens, not money.
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("free", "x y", false))
        .await;
    free.add(openai_usage(&reply.json()["usage"]));

    assert!(gpt.input > 0 && gpt.output > 0 && claude.input > 0 && claude.output > 0);
    // $1 and $2 per million: whole micro-dollars.
    let gpt_cost = gpt.input + 2 * gpt.output;
    // $0.5 and $1.5 per million, in picodollars, then whole micro-dollars.
    let claude_cost = (claude.input * 500_000 + claude.output * 1_500_000) / 1_000_000;

    let metrics = Metrics::read(&gateway).await;
    let tokens = |lane: &str, class: &str| {
        metrics.sum(
            "busbar_tokens_total",
            &[("pool", lane), ("lane", lane), ("class", class)],
        )
    };
    let cost = |lane: &str| metrics.sum("busbar_cost_total", &[("pool", lane), ("lane", lane)]);
    assert_eq!(
        (tokens("gpt", "input"), tokens("gpt", "output")),
        (gpt.input, gpt.output)
    );
    assert_eq!(
        (tokens("claude", "input"), tokens("claude", "output")),
        (claude.input, claude.output)
    );
    assert_eq!(
        (tokens("free", "input"), tokens("free", "output")),
        (free.input, free.output)
    );
    assert_eq!(cost("gpt"), gpt_cost);
    assert_eq!(cost("claude"), claude_cost);
    assert!(
        metrics
            .series("busbar_cost_total")
            .all(|(labels, _)| !labels.iter().any(|(_, v)| v == "free")),
        "a lane without a price has no cost series"
    );

    for (lane, seen, expected) in [
        ("gpt", gpt, Some(gpt_cost)),
        ("claude", claude, Some(claude_cost)),
        ("free", free, None),
    ] {
        let stats = gateway.lane_stats(lane).await;
        assert_eq!(stats["tokens"]["input"], seen.input, "{lane}: {stats}");
        assert_eq!(stats["tokens"]["output"], seen.output, "{lane}: {stats}");
        assert_eq!(stats["tokens"]["cache_read"], 0, "{lane}: {stats}");
        assert_eq!(
            stats["cost_microdollars"],
            json!(expected),
            "{lane}: {stats}"
        );
    }
}

#[tokio::test]
async fn a_pool_counts_under_its_own_name() {
    let gateway = Setup::new()
        .models(MODELS)
        .extra("pools:\n  smart:\n    members:\n      - target: gpt\n")
        .start()
        .await;
    Metrics::ready(&gateway).await;
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("smart", "one two", false))
        .await;
    let seen = openai_usage(&reply.json()["usage"]);
    let metrics = Metrics::read(&gateway).await;
    assert_eq!(
        metrics.sum("busbar_cost_total", &[("pool", "smart"), ("lane", "gpt")]),
        seen.input + 2 * seen.output
    );
    assert_eq!(metrics.sum("busbar_cost_total", &[("pool", "gpt")]), 0);
}

/// A Claude model priced with whole micro-dollars a token for each class,
/// the 1-hour writes dearest, on Anthropic and on Bedrock.
const CACHING_MODELS: &str = "
  claude:
    provider: mock-anthropic
    max_concurrent: 8
    upstream_model: claude-3-5-haiku
    price: {input: 1, output: 2, cache_write: 3, cache_write_1h: 7}
  rock:
    provider: mock-bedrock
    max_concurrent: 8
    upstream_model: anthropic.claude-haiku-4-5
    price: {input: 1, output: 2, cache_write: 3, cache_write_1h: 7}
";

/// Tokens of a reply by the classes its price charges.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Cached {
    input: u64,
    write_5m: u64,
    write_1h: u64,
    output: u64,
}

impl Cached {
    fn add(&mut self, other: Cached) {
        self.input += other.input;
        self.write_5m += other.write_5m;
        self.write_1h += other.write_1h;
        self.output += other.output;
    }

    /// At `CACHING_MODELS`' price, in micro-dollars.
    fn cost(self) -> u64 {
        self.input + 3 * self.write_5m + 7 * self.write_1h + 2 * self.output
    }
}

/// Anthropic `usage` as a client sees it; it must split the writes.
fn anthropic_cached(usage: &Value, output: &Value) -> Cached {
    let split = &usage["cache_creation"];
    let cached = Cached {
        input: number(&usage["input_tokens"]),
        write_5m: number(&split["ephemeral_5m_input_tokens"]),
        write_1h: number(&split["ephemeral_1h_input_tokens"]),
        output: number(output),
    };
    assert_eq!(
        cached.write_5m + cached.write_1h,
        number(&usage["cache_creation_input_tokens"]),
        "{usage}"
    );
    cached
}

/// A Messages request whose system prompt (`stable`) is cached for an hour
/// and whose first user block for five minutes.
fn cached_messages(model: &str, stable: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 50, "stream": stream,
        "system": [{"type": "text", "text": stable,
                    "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "the case file in three parts",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "summarise it"}]}]})
}

#[tokio::test]
async fn one_hour_cache_writes_are_charged_at_their_own_rate() {
    let gateway = Setup::new()
        .every_protocol()
        .models(CACHING_MODELS)
        .start()
        .await;
    Metrics::ready(&gateway).await;
    let (mut claude, mut rock) = (Cached::default(), Cached::default());

    // Anthropic in, Anthropic out, relayed: complete, then streamed (where
    // `message_start` carries the split).
    let body = cached_messages("claude", "you are a careful paralegal", false);
    let reply = gateway.post_json("/v1/messages", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let usage = &reply.json()["usage"];
    claude.add(anthropic_cached(usage, &usage["output_tokens"]));
    let body = cached_messages("claude", "you are a careful archivist", true);
    let data = gateway.stream("/v1/messages", &body).await.data();
    let start = data
        .iter()
        .find(|event| event["type"] == "message_start")
        .expect("message_start");
    let delta = data
        .iter()
        .rev()
        .find(|event| event["type"] == "message_delta")
        .expect("message_delta");
    claude.add(anthropic_cached(
        &start["message"]["usage"],
        &delta["usage"]["output_tokens"],
    ));

    // OpenAI in, Anthropic out: the client has no cache markers nor a
    // field for the split, so the upstream's reply is scripted; the cost
    // still charges its 1-hour writes at their rate.
    let upstream = json!({"id": "msg_cache1h", "type": "message", "role": "assistant",
        "model": "claude-3-5-haiku", "content": [{"type": "text", "text": "cached"}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 50,
                  "cache_read_input_tokens": 0, "output_tokens": 7,
                  "cache_creation": {"ephemeral_5m_input_tokens": 20,
                                     "ephemeral_1h_input_tokens": 30}}});
    gateway
        .mock
        .push_fault(Fault::json_reply(upstream.to_string()));
    let reply = gateway
        .post_json("/v1/chat/completions", &chat("claude", "hi", false))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let usage = &reply.json()["usage"];
    assert_eq!(usage["prompt_tokens"], 60, "{usage}");
    assert_eq!(usage["prompt_tokens_details"]["cache_write_tokens"], 50);
    claude.add(Cached {
        input: 10,
        write_5m: 20,
        write_1h: 30,
        output: number(&usage["completion_tokens"]),
    });

    // Anthropic in, Bedrock out, translated both ways: the markers become
    // cache points with their lifetimes, `cacheDetails` the client's split.
    let body = cached_messages("rock", "you are a careful auditor", false);
    let reply = gateway.post_json("/v1/messages", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let usage = &reply.json()["usage"];
    rock.add(anthropic_cached(usage, &usage["output_tokens"]));

    for seen in [claude, rock] {
        assert!(seen.write_5m > 0 && seen.write_1h > 0, "{seen:?}");
    }
    let metrics = Metrics::read(&gateway).await;
    for (lane, seen) in [("claude", claude), ("rock", rock)] {
        let tokens = |class: &str| {
            metrics.sum(
                "busbar_tokens_total",
                &[("pool", lane), ("lane", lane), ("class", class)],
            )
        };
        let counted = Cached {
            input: tokens("input"),
            write_5m: tokens("cache_write"),
            write_1h: tokens("cache_write_1h"),
            output: tokens("output"),
        };
        assert_eq!(counted, seen, "{lane}");
        assert_eq!(
            metrics.sum("busbar_cost_total", &[("pool", lane), ("lane", lane)]),
            seen.cost(),
            "{lane}"
        );
        let stats = gateway.lane_stats(lane).await;
        assert_eq!(stats["tokens"]["cache_write_1h"], seen.write_1h, "{stats}");
        assert_eq!(stats["cost_microdollars"], seen.cost(), "{stats}");
    }
}

/// An OpenAI Chat client that streams without `stream_options.include_usage`
/// still has its tokens counted and priced on a priced lane: the upstream is
/// asked for usage, and the client is not shown the extra chunk.
#[tokio::test]
async fn a_priced_stream_is_counted_even_when_its_client_asked_for_no_usage() {
    let gateway = Setup::new().models(MODELS).start().await;
    let text = "count these words please";
    let mut unasked = chat("gpt", text, true);
    unasked
        .as_object_mut()
        .expect("an object")
        .remove("stream_options");
    let data = gateway
        .stream("/v1/chat/completions", &unasked)
        .await
        .data();
    assert!(!data.is_empty());
    assert!(
        data.iter().all(|chunk| !chunk["usage"].is_object()),
        "the client asked for no usage: {data:?}"
    );
    let metrics = Metrics::read(&gateway).await;
    let tokens = |metrics: &Metrics, class: &str| {
        metrics.sum(
            "busbar_tokens_total",
            &[("pool", "gpt"), ("lane", "gpt"), ("class", class)],
        )
    };
    let counted = Seen {
        input: tokens(&metrics, "input"),
        output: tokens(&metrics, "output"),
    };
    let cost = metrics.sum("busbar_cost_total", &[("pool", "gpt"), ("lane", "gpt")]);

    // The same request with usage asked for shows what the first one used
    // (the mock's counts are deterministic).
    let asked = gateway
        .stream("/v1/chat/completions", &chat("gpt", text, true))
        .await
        .data();
    let usage = asked
        .iter()
        .rev()
        .find(|chunk| chunk["usage"].is_object())
        .expect("a usage chunk");
    let shown = openai_usage(&usage["usage"]);
    assert!(shown.input > 0 && shown.output > 0);
    assert_eq!((counted.input, counted.output), (shown.input, shown.output));
    assert_eq!(cost, shown.input + 2 * shown.output);
}

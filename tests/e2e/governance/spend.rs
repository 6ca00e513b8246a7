//! The spend report (`GET /admin/spend`) after real requests on two lanes,
//! the usage's tokens by class, and the report's parameter checks.

use serde_json::{json, Value};

use super::{Governed, ADMIN_TOKEN};

/// Half a cent a request and a cent a token, so costs are easy to check.
const PRICES: &str = "  price_per_request_cents: 0.5\n  price_per_1k_tokens_cents: 1000\n";

/// The report's rows as (key id, model, lane, requests, input, output, cost).
fn rows(report: &Value) -> Vec<(String, String, String, u64, u64, u64, f64)> {
    let text = |row: &Value, field: &str| row[field].as_str().unwrap_or_default().to_owned();
    let number = |row: &Value, field: &str| row[field].as_u64().unwrap_or_default();
    report["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|row| {
            (
                text(row, "key_id"),
                text(row, "model"),
                text(row, "lane"),
                number(row, "requests"),
                number(row, "input_tokens"),
                number(row, "output_tokens"),
                row["cost_cents"].as_f64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_spend_report_sums_requests_by_key_model_lane_and_day() {
    let governed = Governed::start(PRICES, "").await;
    let (a, secret_a) = governed.create_key(json!({"name": "a"})).await;
    let (b, secret_b) = governed.create_key(json!({"name": "b"})).await;
    // What each (key, lane) used, by the replies' own usage.
    let mut used: Vec<(String, &str, u64, u64, u64)> = Vec::new();
    for (id, secret, pool, lane) in [
        (&a, &secret_a, "fast", "gpt"),
        (&a, &secret_a, "fast", "gpt"),
        (&a, &secret_a, "slow", "claude"),
        (&b, &secret_b, "fast", "gpt"),
    ] {
        let reply = governed.chat(secret, pool).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let usage = &reply.json()["usage"];
        let (input, output) = (
            usage["prompt_tokens"].as_u64().expect("prompt tokens"),
            usage["completion_tokens"]
                .as_u64()
                .expect("completion tokens"),
        );
        match used.iter_mut().find(|u| &u.0 == id && u.1 == lane) {
            Some(u) => (u.2, u.3, u.4) = (u.2 + 1, u.3 + input, u.4 + output),
            None => used.push((id.clone(), lane, 1, input, output)),
        }
    }

    let reply = governed.admin("GET", "/admin/spend", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let report = reply.json();
    assert_eq!(report["group_by"], json!(["key", "model", "lane", "day"]));
    assert_eq!(report["truncated"], false);
    // The default range is this month, and every request was made today.
    let from = report["from"].as_str().expect("from").to_owned();
    let to = report["to"].as_str().expect("to").to_owned();
    assert!(from.ends_with("-01") && from[..8] == to[..8], "{from} {to}");
    let days: Vec<&str> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["day"].as_str().expect("a day"))
        .collect();
    assert!(days
        .iter()
        .all(|day| *day == days[0] && (from.as_str()..=to.as_str()).contains(day)));

    let mut expected: Vec<_> = used
        .iter()
        .map(|(id, lane, requests, input, output)| {
            let model = if *lane == "gpt" {
                "gpt-4o-mini"
            } else {
                "claude-3-5-haiku"
            };
            let cost = 0.5 * *requests as f64 + (input + output) as f64;
            (
                id.clone(),
                model.to_owned(),
                (*lane).to_owned(),
                *requests,
                *input,
                *output,
                cost,
            )
        })
        .collect();
    expected.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    assert_eq!(rows(&report), expected);

    // The total is every key's spend, which /usage shows with its classes.
    let usage_a = governed.usage(&a).await;
    let usage_b = governed.usage(&b).await;
    let spend = |usage: &Value| usage["spend_cents"].as_f64().expect("spend");
    assert_eq!(report["total"]["requests"], 4);
    assert_eq!(
        report["total"]["cost_cents"].as_f64(),
        Some(spend(&usage_a) + spend(&usage_b))
    );
    let a_input: u64 = used.iter().filter(|u| u.0 == a).map(|u| u.3).sum();
    let a_output: u64 = used.iter().filter(|u| u.0 == a).map(|u| u.4).sum();
    assert_eq!(usage_a["input_tokens"], a_input, "{usage_a}");
    assert_eq!(usage_a["output_tokens"], a_output, "{usage_a}");
    assert_eq!(usage_a["tokens"], a_input + a_output, "{usage_a}");
    let cents = report["total"]["cost_cents"].as_f64().expect("cents");
    let usd: f64 = report["total"]["cost_usd"]
        .as_str()
        .expect("a decimal string")
        .parse()
        .expect("a number");
    assert!((usd * 100.0 - cents).abs() < 1e-9, "{usd} {cents}");

    // By lane alone; and a range with nothing in it.
    let reply = governed
        .admin("GET", "/admin/spend?group_by=lane", None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let by_lane = reply.json();
    let lanes: Vec<(String, u64)> = by_lane["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            assert!(
                row.get("key_id").is_none() && row.get("day").is_none(),
                "{row}"
            );
            (
                row["lane"].as_str().expect("lane").to_owned(),
                row["requests"].as_u64().expect("n"),
            )
        })
        .collect();
    assert_eq!(lanes, [("claude".to_owned(), 1), ("gpt".to_owned(), 3)]);
    let reply = governed
        .admin(
            "GET",
            "/admin/spend?from=2001-01-01&to=2001-12-31&group_by=key%2Cday",
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["rows"], json!([]));
    assert_eq!(reply.json()["total"]["requests"], 0);
}

#[tokio::test]
async fn spend_report_parameters_are_checked() {
    let governed = Governed::start("", "").await;
    for (query, named) in [
        ("from=2025-13-01", "from"),
        ("to=tomorrow", "to"),
        ("from=2025-06-02&to=2025-06-01", "must not be after"),
        ("group_by=key,week", "group_by"),
        ("group_by=lane&group_by=day", "group_by is given twice"),
        ("limit=5", "`limit`"),
        ("from=%zz", "percent-encoded"),
    ] {
        let reply = governed
            .admin("GET", &format!("/admin/spend?{query}"), None)
            .await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.text());
        let message = reply.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(named), "{query}: {message}");
    }
    let anonymous = governed.get("/admin/spend", &[]).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    let wrong = governed
        .get("/admin/spend", &[("x-admin-token", "not-the-token")])
        .await;
    assert_eq!(wrong.status, 401);
    let posted = governed
        .admin("POST", "/admin/spend", Some(&json!({})))
        .await;
    assert_eq!(posted.status, 405);
    assert_eq!(posted.header("allow"), Some("GET, HEAD"));
    let ok = governed
        .get(
            "/admin/spend",
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[tokio::test]
async fn catalog_pricing_charges_the_serving_models_price_class_by_class() {
    // `gpt` costs $3 a million input tokens and $15 a million output tokens;
    // `claude` has no price, so it is charged flat (1 cent a request).
    let models = crate::support::DEFAULT_MODELS.replacen(
        "upstream_model: gpt-4o-mini",
        "upstream_model: gpt-4o-mini\n    price: {input: 3, output: 15}",
        1,
    );
    let governed = Governed::start_with_models(&models, "  pricing: catalog\n", "").await;
    let (id, secret) = governed.create_key(json!({"name": "catalog"})).await;
    let reply = governed.chat(&secret, "fast").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let usage = &reply.json()["usage"];
    let input = usage["prompt_tokens"].as_u64().expect("prompt tokens");
    let output = usage["completion_tokens"]
        .as_u64()
        .expect("completion tokens");
    // In micro-cents (10⁻⁸ dollars): $3/MTok is 300 micro-cents a token.
    let expected = 300 * input + 1500 * output;
    let spent = super::usage_settled(&governed, &id, 1).await;
    let spent_micros = (spent["spend_cents"].as_f64().expect("spend") * 1e6).round() as u64;
    assert_eq!(spent_micros, expected, "{spent}");

    let reply = governed.chat(&secret, "slow").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let spent = super::usage_settled(&governed, &id, 2).await;
    let spent_micros = (spent["spend_cents"].as_f64().expect("spend") * 1e6).round() as u64;
    assert_eq!(spent_micros, expected + 1_000_000, "{spent}");

    // The reservation is the priced worst case: a key whose budget is below
    // it is refused before anything reaches the upstream.
    let (_, poor) = governed
        .create_key(json!({"name": "poor", "max_budget_cents": 0.001}))
        .await;
    let before = governed.mock.received().len();
    let body = json!({"model": "fast", "max_tokens": 1000,
                      "messages": [{"role": "user", "content": "hello"}]});
    let refused = governed
        .post(
            "/v1/chat/completions",
            &body,
            &[("authorization", &format!("Bearer {poor}"))],
        )
        .await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(governed.mock.received().len(), before);
}

#[tokio::test]
async fn catalog_pricing_charges_one_hour_cache_writes_at_their_rate() {
    // `claude` costs $1 a million input tokens, $3 a million 5-minute cache
    // writes and $7 a million 1-hour ones, $2 a million output tokens.
    let models = crate::support::DEFAULT_MODELS.replacen(
        "upstream_model: claude-3-5-haiku",
        "upstream_model: claude-3-5-haiku\n    \
         price: {input: 1, output: 2, cache_write: 3, cache_write_1h: 7}",
        1,
    );
    let governed = Governed::start_with_models(&models, "  pricing: catalog\n", "").await;
    let (id, secret) = governed.create_key(json!({"name": "cache"})).await;
    // An OpenAI client cannot see the split; the Anthropic upstream reports it.
    let upstream = json!({"id": "msg_cache1h", "type": "message", "role": "assistant",
        "model": "claude-3-5-haiku", "content": [{"type": "text", "text": "cached"}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 50,
                  "cache_read_input_tokens": 0, "output_tokens": 7,
                  "cache_creation": {"ephemeral_5m_input_tokens": 20,
                                     "ephemeral_1h_input_tokens": 30}}});
    governed
        .mock
        .push_fault(busbar_testkit::Fault::json_reply(upstream.to_string()));
    let reply = governed.chat(&secret, "slow").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // In micro-cents (10⁻⁸ dollars): $1/MTok is 100 micro-cents a token.
    let expected = 100 * 10 + 300 * 20 + 700 * 30 + 200 * 7;
    let spent = super::usage_settled(&governed, &id, 1).await;
    let spent_micros = (spent["spend_cents"].as_f64().expect("spend") * 1e6).round() as u64;
    assert_eq!(spent_micros, expected, "{spent}");
    assert_eq!(spent["cache_write_tokens"], 50, "{spent}");
}

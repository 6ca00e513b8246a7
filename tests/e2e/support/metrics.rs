//! A `/metrics` page, read as the tests need it: counters summed by label,
//! and a wait for the recorder, which comes up on a background thread.

use std::time::{Duration, Instant};

use serde_json::json;

use super::Gateway;

/// A `/metrics` page, parsed enough to sum counters by label.
pub(crate) struct Metrics {
    text: String,
}

impl Metrics {
    /// Waits until the Prometheus recorder is installed (it starts on a
    /// background thread and drops what is recorded before), using requests
    /// for an unknown model, which reach no upstream and count under
    /// `pool="unresolved"`.
    pub(crate) async fn ready(gateway: &Gateway) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body = json!({
                "model": "no-such-model-warm-up",
                "messages": [{"role": "user", "content": "hello"}],
            });
            let reply = gateway.post_json("/v1/chat/completions", &body).await;
            assert_eq!(reply.status, 404, "{}", reply.text());
            if Self::read(gateway).await.sum("busbar_requests_total", &[]) > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "/metrics never came up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A page already fetched.
    pub(crate) fn from_text(text: String) -> Self {
        Self { text }
    }

    /// The current page.
    pub(crate) async fn read(gateway: &Gateway) -> Self {
        let reply = gateway.get("/metrics", &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        Self { text: reply.text() }
    }

    /// The sum of every series of `name` whose labels include all of
    /// `labels`; 0 when there is none.
    pub(crate) fn sum(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.series(name)
            .filter(|(have, _)| {
                labels
                    .iter()
                    .all(|(key, value)| have.iter().any(|(k, v)| k == key && v == value))
            })
            .map(|(_, value)| value)
            .sum()
    }

    /// Every series of counter `name`: its labels and value.
    pub(crate) fn series<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (Vec<(String, String)>, u64)> + 'a {
        self.text.lines().filter_map(move |line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(inner) => {
                    let (labels, value) = inner.rsplit_once('}')?;
                    (parse_labels(labels), value)
                }
                None if rest.starts_with(' ') => (Vec::new(), rest),
                None => return None,
            };
            let value: f64 = value.trim().parse().ok()?;
            // Counters are whole numbers.
            Some((labels, value as u64))
        })
    }
}

/// `key="value",…` into pairs; values are configured names, so no escapes
/// beyond `\"` need handling.
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                _ => value.push(c),
            }
        }
        labels.push((key.trim_start_matches(',').trim().to_owned(), value));
        rest = &after[end..];
    }
    labels
}

#[test]
fn metric_labels_parse_in_any_order() {
    let labels = parse_labels(r#"pool="p",lane="a\"b",disposition="failover""#);
    assert_eq!(
        labels,
        [
            ("pool".to_owned(), "p".to_owned()),
            ("lane".to_owned(), "a\"b".to_owned()),
            ("disposition".to_owned(), "failover".to_owned()),
        ]
    );
    let metrics = Metrics {
        text: "# TYPE x counter\nx{a=\"1\",b=\"2\"} 3\nx{b=\"2\"} 4\nx_total 9\nx 1\n".into(),
    };
    assert_eq!(metrics.sum("x", &[("b", "2")]), 7);
    assert_eq!(metrics.sum("x", &[("a", "1")]), 3);
    assert_eq!(metrics.sum("x", &[]), 8);
}

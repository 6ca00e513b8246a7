//! The Grafana dashboard in `docs/grafana/` asks only for what Busbar
//! exports, and shows all of it.
//!
//! "Exported" is read from the source: every `"busbar_…"` string in
//! `busbar-server` (where every metric is recorded) and every metric macro's
//! name elsewhere. "Documented" is the metrics table of
//! `docs/operations.md`, with its label column. The test checks that every
//! query names exported metrics (a histogram by its `_bucket`, `_sum` or
//! `_count` series), groups only by labels the table gives that metric,
//! that every exported metric is documented and on some panel, and that the
//! panels are well formed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::root;

const DASHBOARD: &str = "docs/grafana/busbar-dashboard.json";

/// Series suffixes Prometheus adds to a histogram's name.
const HISTOGRAM_SERIES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// Every `busbar_…` identifier in `text`, in order.
fn metric_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("busbar_") {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The metrics the code records.
fn exported() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut files = Vec::new();
    rust_files(&root().join("crates/busbar-server/src"), &mut files);
    for file in &files {
        let text = fs::read_to_string(file).expect("read a source file");
        for line in text.lines() {
            for name in metric_names(line) {
                if line.contains(&format!("\"{name}\"")) {
                    names.insert(name);
                }
            }
        }
    }
    let mut others = Vec::new();
    for dir in ["crates", "bin"] {
        rust_files(&root().join(dir), &mut others);
    }
    for file in others.iter().filter(|f| !files.contains(f)) {
        let text = fs::read_to_string(file).expect("read a source file");
        for macro_name in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in text.match_indices(macro_name) {
                let call = &text[at + macro_name.len()..];
                let call = call.trim_start().strip_prefix('"').unwrap_or("");
                if let Some(name) = metric_names(call).first().filter(|n| call.starts_with(*n)) {
                    names.insert(name.clone());
                }
            }
        }
    }
    names
}

/// The metrics table of `docs/operations.md`: each name with its labels.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = fs::read_to_string(root().join("docs/operations.md")).expect("read operations.md");
    let mut table = BTreeMap::new();
    for line in text.lines() {
        let Some(row) = line.strip_prefix("| `busbar_") else {
            continue;
        };
        let mut cells = row.split('|');
        let name = format!(
            "busbar_{}",
            cells.next().unwrap_or("").trim().trim_end_matches('`')
        );
        let labels = cells
            .next()
            .unwrap_or("")
            .split(',')
            .map(|label| label.trim().trim_matches('`').to_owned())
            .filter(|label| !label.is_empty() && label != "—")
            .collect();
        table.insert(name, labels);
    }
    table
}

/// The metric a series name belongs to: a histogram's series map to it.
fn metric_of<'a>(series: &'a str, exported: &BTreeSet<String>) -> Option<&'a str> {
    if exported.contains(series) {
        return Some(series);
    }
    HISTOGRAM_SERIES
        .iter()
        .find_map(|suffix| series.strip_suffix(suffix))
        .filter(|base| exported.contains(*base))
}

/// Each `by (…)` grouping in `expr` with the first metric after it.
fn groupings(expr: &str) -> Vec<(BTreeSet<String>, String)> {
    let mut out = Vec::new();
    for (at, _) in expr.match_indices("by (") {
        let after = &expr[at + 4..];
        let Some(close) = after.find(')') else {
            continue;
        };
        let labels = after[..close]
            .split(',')
            .map(|label| label.trim().to_owned())
            .collect();
        if let Some(metric) = metric_names(&after[close..]).into_iter().next() {
            out.push((labels, metric));
        }
    }
    out
}

fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .expect("the dashboard has panels")
        .iter()
        .filter(|panel| panel["type"] != "row")
        .collect()
}

#[test]
fn the_dashboard_asks_only_for_what_busbar_exports_and_shows_all_of_it() {
    let text = fs::read_to_string(root().join(DASHBOARD)).expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let exported = exported();
    let documented = documented();
    assert!(exported.len() >= 10, "too few metrics found: {exported:?}");
    let mut problems = Vec::new();
    for name in &exported {
        if !documented.contains_key(name) {
            problems.push(format!(
                "{name} is exported but not in docs/operations.md's table"
            ));
        }
    }
    for name in documented.keys() {
        if !exported.contains(name) {
            problems.push(format!("{name} is documented but nothing records it"));
        }
    }
    let mut shown = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        if !ids.insert(panel["id"].to_string()) {
            problems.push(format!("panel `{title}`: its id is not unique"));
        }
        let targets = panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if targets.is_empty() {
            problems.push(format!("panel `{title}` has no query"));
        }
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or("");
            let names = metric_names(expr);
            if names.is_empty() {
                problems.push(format!("panel `{title}`: `{expr}` names no Busbar metric"));
            }
            for series in &names {
                match metric_of(series, &exported) {
                    Some(metric) => {
                        shown.insert(metric.to_owned());
                    }
                    None => problems.push(format!(
                        "panel `{title}`: `{series}` is not a metric Busbar exports"
                    )),
                }
            }
            for (labels, series) in groupings(expr) {
                let Some(metric) = metric_of(&series, &exported) else {
                    continue;
                };
                let known = documented.get(metric).cloned().unwrap_or_default();
                for label in labels {
                    if label != "le" && !known.contains(&label) {
                        problems.push(format!(
                            "panel `{title}`: groups {metric} by `{label}`, a label it does not have"
                        ));
                    }
                }
            }
        }
    }
    for name in &exported {
        if !shown.contains(name) {
            problems.push(format!("{name} is on no panel of the dashboard"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn metric_names_are_read_whole() {
    assert_eq!(
        metric_names("sum by (le) (rate(busbar_x_bucket{a=\"b\"}[5m])) / busbar_y"),
        ["busbar_x_bucket", "busbar_y"]
    );
    assert!(metric_names("not_busbar_x").is_empty());
    assert_eq!(
        groupings("sum by (pool, lane) (rate(busbar_cost_total[1m]))"),
        [(
            BTreeSet::from(["pool".to_owned(), "lane".to_owned()]),
            "busbar_cost_total".to_owned()
        )]
    );
}

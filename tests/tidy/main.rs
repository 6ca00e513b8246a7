//! Tidy: every crate's dependencies keep the layering of
//! `docs/architecture.md`.
//!
//! The layering is a table, [`STACK`] (bottom first) and [`ASIDE`], one
//! entry per crate saying what it may depend on and why. The test reads the
//! `Cargo.toml` of every crate under `crates/` and of the root package (with
//! the small parser in `manifest.rs`) and checks every edge against the
//! table:
//!
//! * a crate depends on no crate above it in the stack, in any section, and
//!   on a crate aside from it (`busbar-testkit`) only as a dev-dependency or,
//!   where its entry says so, an optional one (the binary's `demo` feature);
//! * what a crate builds with (`[dependencies]`, `[build-dependencies]`,
//!   and their `[target.….…]` forms) names only the busbar crates its entry
//!   `uses`, and none of the crates it `bans`;
//! * `serde_yaml` is a dependency of `busbar-config` alone;
//! * every crate under `crates/` has an entry, so a new crate must be placed.
//!
//! A failure names the crate, the section and the edge, and says the rule.

mod dashboard;
mod manifest;

use std::fs;
use std::path::Path;

use manifest::{parse, Kind, Manifest};

/// One crate's place: what it may build with.
struct Layer {
    /// The package name.
    name: &'static str,
    /// The busbar crates its normal and build dependencies may name.
    uses: &'static [&'static str],
    /// Busbar crates it may name only as optional dependencies (behind a
    /// feature), outside the stack's order.
    optional: &'static [&'static str],
    /// Groups of crates its normal and build dependencies must not name.
    bans: &'static [&'static [&'static str]],
    /// When set, the only crates its normal and build dependencies may name.
    only: Option<&'static [&'static str]>,
}

/// The HTTP stacks: only the server (and the binary above it) speaks HTTP.
const HTTP: &[&str] = &[
    "http",
    "http-body",
    "http-body-util",
    "hyper",
    "hyper-util",
    "hyper-rustls",
    "reqwest",
    "axum",
];

/// The async runtime: the pure layers do no I/O and spawn nothing.
const TOKIO: &[&str] = &["tokio"];

/// The one crate that reads YAML.
const YAML_READER: &str = "busbar-config";

/// `busbar-ir`: the vocabulary every wire format is translated into and out
/// of. Embeddable in anything, so it knows no HTTP, YAML, runtime or vendor:
/// serde and nothing else.
const IR: Layer = Layer {
    name: "busbar-ir",
    uses: &[],
    optional: &[],
    bans: &[],
    only: Some(&["serde", "serde_json"]),
};

/// `busbar-protocols`: the six wire formats, decoded into and encoded from
/// the IR. Pure functions over bytes: no I/O, so no runtime and no HTTP.
const PROTOCOLS: Layer = Layer {
    name: "busbar-protocols",
    uses: &["busbar-ir"],
    optional: &[],
    bans: &[TOKIO, HTTP],
    only: None,
};

/// `busbar-routing`: lanes, pools, breakers. Synchronous and handed its
/// clock, so it may speak the IR but knows no runtime, HTTP or wire format.
const ROUTING: Layer = Layer {
    name: "busbar-routing",
    uses: &["busbar-ir"],
    optional: &[],
    bans: &[TOKIO, HTTP],
    only: None,
};

/// `busbar-config`: loads and validates the two YAML files into the types
/// routing and the protocols take; no runtime, no HTTP.
const CONFIG: Layer = Layer {
    name: "busbar-config",
    uses: &["busbar-ir", "busbar-protocols", "busbar-routing"],
    optional: &[],
    bans: &[TOKIO, HTTP],
    only: None,
};

/// `busbar-governance`: virtual keys, budgets and rate limits over a store.
/// It does database I/O (so it may use the runtime) but no HTTP: the server
/// renders its refusals.
const GOVERNANCE: Layer = Layer {
    name: "busbar-governance",
    uses: &[
        "busbar-ir",
        "busbar-protocols",
        "busbar-routing",
        "busbar-config",
    ],
    optional: &[],
    bans: &[HTTP],
    only: None,
};

/// `busbar-server`: the one crate that speaks HTTP, over everything below.
/// The mock upstream is for its tests only.
const SERVER: Layer = Layer {
    name: "busbar-server",
    uses: &[
        "busbar-ir",
        "busbar-protocols",
        "busbar-routing",
        "busbar-config",
        "busbar-governance",
    ],
    optional: &[],
    bans: &[],
    only: None,
};

/// `busbar`, the binary: glue over everything. The mock upstream comes in
/// only behind the `demo` feature, so a build without it has no test code.
const BINARY: Layer = Layer {
    name: "busbar",
    uses: &[
        "busbar-ir",
        "busbar-protocols",
        "busbar-routing",
        "busbar-config",
        "busbar-governance",
        "busbar-server",
    ],
    optional: &["busbar-testkit"],
    bans: &[],
    only: None,
};

/// The stack, bottom first: a crate may depend only on crates before it.
const STACK: [&Layer; 7] = [
    &IR,
    &PROTOCOLS,
    &ROUTING,
    &CONFIG,
    &GOVERNANCE,
    &SERVER,
    &BINARY,
];

/// `busbar-testkit`: an independent model of the vendors' APIs, which the
/// tests hold Busbar against. Were it built on Busbar's own crates, a bug
/// there would be a bug in the model too and no test would see it: it
/// depends on no busbar crate at all.
const TESTKIT: Layer = Layer {
    name: "busbar-testkit",
    uses: &[],
    optional: &[],
    bans: &[],
    only: None,
};

/// Crates outside the stack; others may name them only as dev-dependencies
/// (or as a [`Layer::optional`] dependency).
const ASIDE: [&Layer; 1] = [&TESTKIT];

/// A crate's entry, with its rank in [`STACK`] (`None` for [`ASIDE`]).
fn place(name: &str) -> Option<(&'static Layer, Option<usize>)> {
    if let Some(rank) = STACK.iter().position(|layer| layer.name == name) {
        return Some((STACK[rank], Some(rank)));
    }
    ASIDE
        .iter()
        .find(|layer| layer.name == name)
        .map(|layer| (*layer, None))
}

fn is_busbar(name: &str) -> bool {
    name == "busbar" || name.starts_with("busbar-")
}

/// Every edge of `manifest` that breaks the layering, as a sentence.
fn violations(manifest: &Manifest) -> Vec<String> {
    let krate = manifest.name.as_str();
    let Some((layer, rank)) = place(krate) else {
        return vec![format!(
            "{krate}: not in tests/tidy/main.rs's table; give it a place in STACK or ASIDE"
        )];
    };
    let mut found = Vec::new();
    for dep in &manifest.deps {
        let edge = format!("{krate} → {} (in {})", dep.name, dep.section);
        let builds_with = dep.kind != Kind::Dev;
        let mut fail = |rule: String| found.push(format!("{edge}: {rule}"));
        if is_busbar(&dep.name) {
            let Some((_, dep_rank)) = place(&dep.name) else {
                fail(format!("{} is not in tests/tidy/main.rs's table", dep.name));
                continue;
            };
            let optional_allowed = dep.optional && layer.optional.contains(&dep.name.as_str());
            match (rank, dep_rank) {
                (None, _) => fail(format!("{krate} depends on no busbar crate")),
                (Some(_), None) if !builds_with || optional_allowed => {}
                (Some(_), None) => fail(format!(
                    "{} is aside from the stack: a dev-dependency only{}",
                    dep.name,
                    if layer.optional.contains(&dep.name.as_str()) {
                        format!(", or optional for {krate}")
                    } else {
                        String::new()
                    }
                )),
                (Some(rank), Some(dep_rank)) if dep_rank >= rank => fail(format!(
                    "{} is not below {krate} in the stack ({})",
                    dep.name,
                    STACK.map(|layer| layer.name).join(" < ")
                )),
                (Some(_), Some(_)) if builds_with && !layer.uses.contains(&dep.name.as_str()) => {
                    fail(format!(
                        "{krate} may use only {} among busbar crates",
                        list(layer.uses)
                    ))
                }
                (Some(_), Some(_)) => {}
            }
            continue;
        }
        if !builds_with {
            continue;
        }
        if let Some(only) = layer.only {
            if !only.contains(&dep.name.as_str()) {
                fail(format!("{krate} may depend only on {}", list(only)));
            }
        }
        if layer
            .bans
            .iter()
            .any(|group| group.contains(&dep.name.as_str()))
        {
            fail(format!("{krate} must not depend on {}", dep.name));
        }
        if dep.name == "serde_yaml" && krate != YAML_READER {
            fail(format!("only {YAML_READER} reads YAML"));
        }
    }
    found
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn read(path: &Path) -> Manifest {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&text)
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The manifests of every crate under `crates/`, by directory.
fn crate_manifests() -> Vec<(String, Manifest)> {
    let dir = root().join("crates");
    let mut found: Vec<(String, Manifest)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, read(&path.join("Cargo.toml")))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[test]
fn every_dependency_edge_keeps_the_layering() {
    let mut manifests: Vec<Manifest> = crate_manifests().into_iter().map(|(_, m)| m).collect();
    manifests.push(read(&root().join("Cargo.toml")));
    let found: Vec<String> = manifests.iter().flat_map(violations).collect();
    assert!(
        found.is_empty(),
        "dependency edges that break the layering (see tests/tidy/main.rs):\n{}",
        found.join("\n")
    );
}

#[test]
fn every_crate_has_a_place_and_every_place_a_crate() {
    let crates = crate_manifests();
    let mut problems = Vec::new();
    for (dir, manifest) in &crates {
        if manifest.name.is_empty() {
            problems.push(format!("crates/{dir}/Cargo.toml: no [package] name"));
        } else if place(&manifest.name).is_none() {
            problems.push(format!(
                "crates/{dir} ({}): not in tests/tidy/main.rs's table; give it a place in STACK or ASIDE",
                manifest.name
            ));
        }
    }
    let root_name = read(&root().join("Cargo.toml")).name;
    for layer in STACK.iter().chain(ASIDE.iter()) {
        let exists = layer.name == root_name || crates.iter().any(|(_, m)| m.name == layer.name);
        if !exists {
            problems.push(format!("{}: in the table but not a crate", layer.name));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The table agrees with itself: what a crate `uses` is below it.
#[test]
fn the_table_allows_only_downward_edges() {
    for (rank, layer) in STACK.iter().enumerate() {
        for used in layer.uses {
            let below = STACK[..rank].iter().any(|lower| lower.name == *used);
            assert!(below, "{} uses {used}, which is not below it", layer.name);
        }
    }
    for layer in ASIDE {
        assert!(
            layer.uses.is_empty(),
            "{} is aside yet uses busbar crates",
            layer.name
        );
    }
}

#[test]
fn the_checker_reports_edges_that_break_the_layering() {
    let fake = parse(
        r#"
[package]
name = "busbar-routing"

[dependencies]
busbar-ir.workspace = true
busbar-config.workspace = true
busbar-protocols.workspace = true
hyper.workspace = true
serde_yaml = "0.9"
busbar-testkit = { workspace = true, optional = true }

[dev-dependencies]
busbar-testkit.workspace = true
busbar-server.workspace = true
"#,
    );
    let found = violations(&fake);
    let expected = [
        "busbar-routing → busbar-config (in [dependencies]): busbar-config is not below busbar-routing",
        "busbar-routing → busbar-protocols (in [dependencies]): busbar-routing may use only busbar-ir",
        "busbar-routing → hyper (in [dependencies]): busbar-routing must not depend on hyper",
        "busbar-routing → serde_yaml (in [dependencies]): only busbar-config reads YAML",
        "busbar-routing → busbar-testkit (in [dependencies]): busbar-testkit is aside from the stack",
        "busbar-routing → busbar-server (in [dev-dependencies]): busbar-server is not below",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (sentence, start) in found.iter().zip(expected) {
        assert!(
            sentence.starts_with(start),
            "{sentence:?}\ndoes not start {start:?}"
        );
    }

    let testkit =
        parse("[package]\nname = \"busbar-testkit\"\n[dev-dependencies]\nbusbar-ir = \"0.1\"\n");
    assert_eq!(
        violations(&testkit),
        ["busbar-testkit → busbar-ir (in [dev-dependencies]): busbar-testkit depends on no busbar crate"]
    );

    let ir =
        parse("[package]\nname = \"busbar-ir\"\n[dependencies]\nserde = \"1\"\ntokio = \"1\"\n");
    assert_eq!(
        violations(&ir),
        ["busbar-ir → tokio (in [dependencies]): busbar-ir may depend only on serde, serde_json"]
    );

    let binary = parse("[package]\nname = \"busbar\"\n[dependencies]\nbusbar-testkit = { workspace = true, optional = true }\n");
    assert_eq!(violations(&binary), Vec::<String>::new());

    let stranger = parse("[package]\nname = \"busbar-newcomer\"\n");
    assert_eq!(violations(&stranger).len(), 1);
}

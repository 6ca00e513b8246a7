//! The server's modules are layered: each imports only from the modules
//! `lib.rs` declares before it, so there is no import circle and no upward
//! import. A file inside a module directory (`proxy/attempt.rs`) belongs to
//! its module and may use its siblings, never its parent's items.

use std::path::{Path, PathBuf};

/// The top-level modules in `lib.rs`'s order.
fn layers(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|line| line.strip_prefix("mod "))
        .map(|rest| rest.split(';').next().unwrap_or_default().trim().to_owned())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its `#[cfg(test)]` tail, where tests may
/// reach for fixtures anywhere.
fn production_code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// The top-level module a file under `src` belongs to.
fn module_of(relative: &Path) -> String {
    relative
        .components()
        .next()
        .and_then(|component| component.as_os_str().to_str())
        .unwrap_or_default()
        .trim_end_matches(".rs")
        .to_owned()
}

/// Whether a `use super::…` path names a sibling module (`super::call::X`)
/// rather than the parent's own items (`super::X`).
fn names_a_sibling(path: &str) -> bool {
    let mut parts = path.split("::");
    let first = parts.next().unwrap_or_default();
    parts.next().is_some()
        && first
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Every violation in the source tree at `src`.
fn violations(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let order = layers(&lib);
    let rank = |name: &str| order.iter().position(|module| module == name);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let top = module_of(relative);
        if top == "lib" {
            continue;
        }
        let Some(own) = rank(&top) else {
            found.push(format!(
                "{}: module `{top}` is not declared in lib.rs",
                relative.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("readable source");
        let code = production_code(&text);
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if rank(&name).is_some_and(|theirs| theirs > own) {
                found.push(format!(
                    "{}: `{top}` imports `{name}`, which lib.rs declares after it",
                    relative.display()
                ));
            }
        }
        if relative.components().count() > 1 {
            for line in code.lines() {
                let Some(path) = line.trim().strip_prefix("use super::") else {
                    continue;
                };
                if !names_a_sibling(path) {
                    found.push(format!(
                        "{}: imports its parent module's items: `{}`",
                        relative.display(),
                        line.trim()
                    ));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_module_imports_a_later_layer_or_its_parent() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_upward_and_parent_imports() {
    let dir = std::env::temp_dir().join(format!("busbar-layers-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("low")).expect("temp dir");
    std::fs::write(dir.join("lib.rs"), "mod low;\nmod high;\n").expect("lib");
    std::fs::write(dir.join("low.rs"), "mod part;\n").expect("low");
    std::fs::write(
        dir.join("low/part.rs"),
        "use crate::high::X;\nuse super::Y;\nuse super::sibling::Z;\n",
    )
    .expect("part");
    std::fs::write(dir.join("high.rs"), "use crate::low::Z;\n").expect("high");
    let found = violations(&dir);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("imports `high`"), "{found:?}");
    assert!(found[1].contains("parent"), "{found:?}");
}

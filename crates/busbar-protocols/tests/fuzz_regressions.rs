//! The fuzz targets' inputs, replayed on every `cargo test`.
//!
//! `test_data/fuzz/<target>/` holds inputs a fuzzer once crashed a target
//! with; each runs through the same `busbar_protocols::fuzzing` function the
//! target calls, so a fixed bug stays fixed without libFuzzer. The committed
//! seed corpora in `fuzz/corpus/<target>/` run the same way: they are real
//! payloads, and a seed that crashes its target would stop the fuzzer at its
//! first input. A last test keeps the `fuzz/` targets in step with the list
//! the library knows.

use std::fs;
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use busbar_protocols::fuzzing;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fuzz_dir() -> PathBuf {
    crate_dir().join("../../fuzz")
}

/// Each `<dir>/<target>/<input>` as (target, path), sorted.
fn inputs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut inputs = Vec::new();
    let Ok(targets) = fs::read_dir(dir) else {
        return inputs;
    };
    for target in targets {
        let target = target.unwrap().path();
        if !target.is_dir() {
            continue;
        }
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        for input in fs::read_dir(&target).unwrap() {
            let input = input.unwrap().path();
            let hidden = input
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with('.');
            if input.is_file() && !hidden {
                inputs.push((name.clone(), input));
            }
        }
    }
    inputs.sort();
    inputs
}

/// Runs every input through its target; fails naming each one that panicked
/// (the panic messages are printed above by the panic hook).
fn replay(inputs: &[(String, PathBuf)]) {
    let mut failures = Vec::new();
    for (target, path) in inputs {
        let data = fs::read(path).unwrap();
        match catch_unwind(|| fuzzing::run(target, &data)) {
            Ok(true) => {}
            Ok(false) => failures.push(format!("{}: no fuzz target `{target}`", path.display())),
            Err(_) => failures.push(format!("{}: {target} panicked", path.display())),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn inputs_that_once_crashed_a_target_no_longer_do() {
    replay(&inputs(&crate_dir().join("test_data/fuzz")));
}

#[test]
fn every_seed_passes_its_target() {
    let seeds = inputs(&fuzz_dir().join("corpus"));
    assert!(!seeds.is_empty(), "no seeds under fuzz/corpus");
    replay(&seeds);
}

#[test]
fn fuzz_targets_match_the_library_list() {
    let mut files: Vec<String> = fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            path.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    files.sort();
    let mut targets = fuzzing::targets();
    targets.sort();
    assert_eq!(
        files, targets,
        "fuzz/fuzz_targets/*.rs vs fuzzing::targets()"
    );

    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for target in &targets {
        let bin = format!("name = \"{target}\"\npath = \"fuzz_targets/{target}.rs\"");
        assert!(
            manifest.contains(&bin),
            "fuzz/Cargo.toml lacks a [[bin]] for {target}"
        );
    }
}

//! The fuzz targets' inputs, replayed on every `cargo test`.
//!
//! `test_data/fuzz/<target>/` holds each target's regression inputs: those a
//! fuzzer once crashed it with, and small hand-written edge cases (an empty
//! input, a payload cut in half, a JSON array where an object belongs, a
//! stream that is only its split byte). Each runs through the same
//! `busbar_protocols::fuzzing` function the target calls, so a fixed bug
//! stays fixed without libFuzzer. The committed seed corpora in
//! `fuzz/corpus/<target>/` run the same way: they are real payloads, and a
//! seed that crashes its target would stop the fuzzer at its first input.
//!
//! Neither replay can pass by finding nothing: both folders must hold one
//! directory per target in `fuzz/fuzz_targets/`, none of them empty, and no
//! directory for a target that does not exist. A last test keeps the
//! `fuzz/` targets in step with the list the library knows.

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

/// The fuzz targets: the file stems in `fuzz/fuzz_targets/`, sorted.
fn fuzz_targets() -> Vec<String> {
    let dir = fuzz_dir().join("fuzz_targets");
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut targets: Vec<String> = entries
        .map(|entry| {
            let path = entry.unwrap().path();
            path.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    targets.sort();
    targets
}

/// A corpus folder read as `<dir>/<target>/<input>`: every input as
/// (target, path), sorted, and what is wrong with the folder when it does
/// not hold exactly one non-empty directory per target in `targets`.
fn read_corpus(dir: &Path, targets: &[String]) -> (Vec<(String, PathBuf)>, Vec<String>) {
    let mut inputs = Vec::new();
    let mut problems = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(format!("{}: {e}", dir.display()));
            return (inputs, problems);
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !targets.contains(&name) {
            problems.push(format!("{}: no fuzz target `{name}`", path.display()));
        }
        let before = inputs.len();
        for input in fs::read_dir(&path).unwrap() {
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
        if inputs.len() == before {
            problems.push(format!("{}: no inputs", path.display()));
        }
        found.push(name);
    }
    for target in targets {
        if !found.contains(target) {
            problems.push(format!(
                "{}: missing (the fuzz target `{target}` has no inputs here)",
                dir.join(target).display()
            ));
        }
    }
    inputs.sort();
    problems.sort();
    (inputs, problems)
}

/// The inputs under `dir`, failing the test when the folder does not cover
/// every target.
fn corpus(dir: &Path) -> Vec<(String, PathBuf)> {
    let (inputs, problems) = read_corpus(dir, &fuzz_targets());
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
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
fn every_regression_input_passes_its_target() {
    replay(&corpus(&crate_dir().join("test_data/fuzz")));
}

#[test]
fn every_seed_passes_its_target() {
    replay(&corpus(&fuzz_dir().join("corpus")));
}

/// The coverage check itself: a missing, an empty and a stray directory
/// are each reported, and so is a folder that is not there.
#[test]
fn a_corpus_that_misses_a_target_is_reported() {
    let dir = std::env::temp_dir().join(format!("busbar-fuzz-corpus-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("sse")).unwrap();
    fs::write(dir.join("sse/input"), b"\x05data: x\n\n").unwrap();
    fs::write(dir.join("sse/.hidden"), b"").unwrap();
    fs::create_dir_all(dir.join("eventstream")).unwrap();
    fs::write(dir.join("eventstream/.gitkeep"), b"").unwrap();
    fs::create_dir_all(dir.join("retired_target")).unwrap();
    fs::write(dir.join("retired_target/input"), b"x").unwrap();
    let targets = ["eventstream", "openai_stream", "sse"].map(String::from);

    let (inputs, problems) = read_corpus(&dir, &targets);
    let (missing_folder, missing_problems) = read_corpus(&dir.join("nowhere"), &targets);
    fs::remove_dir_all(&dir).unwrap();

    let names: Vec<_> = inputs
        .iter()
        .map(|(t, p)| (t.as_str(), p.file_name().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("retired_target", "input".as_ref()),
            ("sse", "input".as_ref())
        ]
    );
    let expected = [
        "eventstream: no inputs",
        "openai_stream: missing",
        "retired_target: no fuzz target `retired_target`",
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (problem, expected) in problems.iter().zip(expected) {
        assert!(problem.contains(expected), "{problem:?} lacks {expected:?}");
    }
    assert!(missing_folder.is_empty());
    assert_eq!(missing_problems.len(), 1, "{missing_problems:#?}");
}

#[test]
fn fuzz_targets_match_the_library_list() {
    let files = fuzz_targets();
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

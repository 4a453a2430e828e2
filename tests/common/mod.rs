//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod capture_writer;
pub mod expected;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures").join(name)
}

/// `../shared/corpus` beside the repository, when present.
pub fn corpus() -> Option<PathBuf> {
    let dir = repo().join("../shared/corpus");
    dir.join("EXPECTED.tsv").is_file().then_some(dir)
}

/// Runs the mailtap binary.
pub fn mailtap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailtap")).args(args).env("NO_COLOR", "1").output().expect("run mailtap")
}

/// Runs mailtap with `--format json` and parses the document.
pub fn mailtap_json(args: &[&str]) -> (serde_json::Value, Output) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = mailtap(&all);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (doc, out)
}

pub fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailtap-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

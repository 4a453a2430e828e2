//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod capture_writer;
pub mod expected;
pub mod rng;
pub mod tls_vectors;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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
    Command::new(env!("CARGO_BIN_EXE_mailtap"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mailtap")
}

/// Runs mailtap with `stdin` piped in.
pub fn mailtap_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtap"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A pipe hands over a few bytes at a time.
    for chunk in stdin.chunks(100) {
        input.write_all(chunk).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
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

/// A real TLS conversation recorded by fixtures/tools/tls_vectors.py: (from client, bytes)
/// chunks in order.
pub fn tls_vector(name: &str) -> Vec<(bool, Vec<u8>)> {
    tls_vectors::chunks(&tls_vectors::read(name))
        .map(|(from_client, bytes)| (from_client, bytes.to_vec()))
        .collect()
}

/// Writes a real TLS conversation (see [`tls_vector`]) onto a connection, after its `220`.
pub fn replay_tls(c: &mut capture_writer::Conn, vector: &str) {
    for (from_client, bytes) in tls_vector(vector) {
        if from_client {
            c.client(&bytes);
        } else {
            c.server(&bytes);
        }
    }
}

/// Analyses a capture held in memory.
pub fn analyze_bytes(bytes: &[u8]) -> mailtap::Analysis {
    mailtap::analyze(bytes, &mailtap::analyzer::Config::default()).expect("a readable capture")
}

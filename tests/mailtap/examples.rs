//! The library examples (`examples/`) run as a user would run them. `cargo test` builds them
//! beside the tests; run alone (`cargo test --test mailtap` without them built) these tests say
//! so and pass.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::common::fixture;

/// `target/<profile>/examples/NAME`, when cargo built it.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipped: {} is not built", path.display());
        None
    }
}

#[test]
fn require_tls_passes_upgraded_captures_and_names_the_others() {
    let Some(bin) = example("require_tls") else {
        return;
    };
    let ok = Command::new(&bin)
        .arg(fixture("postfix-swaks-upgraded.pcap"))
        .arg(fixture("postfix-swaks-upgraded-tls12.pcap"))
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = Command::new(&bin)
        .arg(fixture("postfix-swaks-upgraded.pcap"))
        .arg(fixture("postfix-swaks-rejected-454.pcap"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("FAIL") && out.contains("rejected") && out.contains("454"),
        "{out}"
    );
}

#[test]
fn stream_sessions_prints_each_session_from_a_pipe() {
    let Some(bin) = example("stream_sessions") else {
        return;
    };
    let capture = std::fs::read(fixture("relay-asa-keyword-swaks-both-legs.pcapng")).unwrap();
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &capture).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("stripped") && text.contains("not-used"),
        "{text}"
    );
}

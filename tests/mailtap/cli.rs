//! The command line: formats, exit codes, error messages.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::common::capture_writer::{Capture, Format, Link};
use crate::common::{mailtap, mailtap_json, replay_tls, temp_path};

/// Two sessions: one upgraded, one through a "firewall" that masked STARTTLS.
fn two_sessions(name: &str) -> PathBuf {
    let mut cap = Capture::new(Format::PcapNg, Link::Ethernet);
    let mut a = cap.tcp(
        "192.0.2.10:40000".parse().unwrap(),
        "198.51.100.25:25".parse().unwrap(),
    );
    a.handshake();
    a.server(b"220 mx.example.test ESMTP\r\n");
    a.client(b"EHLO client.example.test\r\n");
    a.server(b"250-mx.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
    a.client(b"STARTTLS\r\n");
    a.server(b"220 2.0.0 Ready to start TLS\r\n");
    replay_tls(&mut a, "tls13-ok.bin");
    a.close();
    let mut b = cap.tcp(
        "192.0.2.11:40001".parse().unwrap(),
        "198.51.100.26:25".parse().unwrap(),
    );
    b.handshake();
    b.server(b"220 mx2.example.test ESMTP\r\n");
    b.client(b"EHLO client.example.test\r\n");
    b.server(b"250-mx2.example.test\r\n250-XXXXXXXA\r\n250 8BITMIME\r\n");
    b.client(b"AUTH PLAIN AGFsaWNlAFMzY3JldFBhc3N3MHJk\r\n");
    b.server(b"235 2.7.0 Authentication successful\r\n");
    b.client(b"MAIL FROM:<alice@example.test>\r\n");
    b.server(b"250 2.1.0 Ok\r\n");
    b.client(b"QUIT\r\n");
    b.close();
    let path = temp_path(name);
    cap.save(&path).unwrap();
    path
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn json_document_field_by_field() {
    let path = two_sessions("json.pcapng");
    let (doc, out) = mailtap_json(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(doc["schema"], "mailtap/1");
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);

    let up = &sessions[0];
    assert_eq!(up["client"], "192.0.2.10:40000");
    assert_eq!(up["server"], "198.51.100.25:25");
    assert_eq!(up["verdict"], "upgraded");
    assert_eq!(up["banner"]["lines"][0], "220 mx.example.test ESMTP");
    assert_eq!(
        up["ehlo_keywords"],
        serde_json::json!(["STARTTLS", "8BITMIME"])
    );
    assert_eq!(up["starttls"]["reply"]["code"], 220);
    assert_eq!(up["tls"]["established"], true);
    assert_eq!(up["tls"]["server_hello"]["version"]["name"], "TLS 1.3");
    assert_eq!(up["end"]["how"], "closed");
    assert!(up["first_frame"].as_u64().unwrap() < up["last_frame"].as_u64().unwrap());
    assert!(up["first_time"]
        .as_str()
        .unwrap()
        .starts_with("2024-01-01T00:00:00"));

    let stripped = &sessions[1];
    assert_eq!(stripped["verdict"], "stripped");
    let findings = stripped["findings"].as_array().unwrap();
    let kinds: Vec<&str> = findings
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["masked-keyword", "auth-before-tls", "cleartext-mail"]
    );
    assert_eq!(
        findings[0]["evidence"],
        "250-XXXXXXXA (8 characters: could be STARTTLS)"
    );
    assert_eq!(findings[0]["severity"], "high");
    assert!(findings[0]["frame"].as_u64().unwrap() > 0);
    assert_eq!(stripped["auth"]["mechanism"], "PLAIN");
    assert_eq!(
        stripped["tls_rpt"],
        serde_json::json!(["starttls-not-supported"])
    );

    let summary = &doc["summary"];
    assert_eq!(summary["sessions"], 2);
    assert_eq!(summary["verdicts"]["upgraded"], 1);
    assert_eq!(summary["verdicts"]["stripped"], 1);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("AGFsaWNl"));
}

#[test]
fn jsonl_is_one_session_per_line() {
    let path = two_sessions("jsonl.pcapng");
    let out = mailtap(&["--format", "jsonl", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let verdicts: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["verdict"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(verdicts.len(), 2);
    assert!(
        verdicts.contains(&"upgraded".to_string()) && verdicts.contains(&"stripped".to_string())
    );
    assert!(stderr(&out).contains("2 SMTP sessions"));
}

#[test]
fn table_and_transcript() {
    let path = two_sessions("table.pcapng");
    let out = mailtap(&[path.to_str().unwrap()]);
    let table = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        table.contains("stripped") && table.contains("upgraded") && table.contains("250-XXXXXXXA"),
        "{table}"
    );
    // The summary goes to standard error, beside the data.
    assert!(!table.contains("SMTP sessions"), "{table}");
    assert!(stderr(&out).contains("2 SMTP sessions (1 stripped, 1 upgraded)"));
    assert!(
        !table.contains('\x1b'),
        "NO_COLOR is set: no escape sequences"
    );

    let out = mailtap(&["--format", "transcript", path.to_str().unwrap()]);
    let transcript = String::from_utf8(out.stdout).unwrap();
    assert!(
        transcript.contains(" -> STARTTLS") && transcript.contains("<-  250-XXXXXXXA"),
        "{transcript}"
    );
    assert!(transcript.contains(" -> AUTH PLAIN [redacted]"));
    assert!(!transcript.contains("AGFsaWNl"));
}

#[test]
fn fail_on_sets_the_exit_status() {
    let path = two_sessions("fail-on.pcapng");
    let p = path.to_str().unwrap();
    assert_eq!(
        mailtap(&["--format", "json", "--fail-on", "stripped", p])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        mailtap(&[
            "--format",
            "json",
            "--fail-on",
            "rejected,handshake-failed",
            p
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        mailtap(&["--format", "json", "--fail-on", "auth-before-tls", p])
            .status
            .code(),
        Some(1)
    );
    let bad = mailtap(&["--fail-on", "strippd", p]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("'strippd' is neither a verdict nor a finding"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn standard_input() {
    let path = two_sessions("stdin.pcapng");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtap"))
        .args(["--format", "jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A pipe hands over a few bytes at a time.
    for chunk in bytes.chunks(7) {
        stdin.write_all(chunk).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
}

#[test]
fn input_errors_exit_2_and_name_the_file() {
    let missing = mailtap(&["/nonexistent/capture.pcap"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/capture.pcap"));

    let text = temp_path("not-a-capture.txt");
    std::fs::write(&text, "hello, this is not a capture\n").unwrap();
    let out = mailtap(&[text.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not-a-capture.txt")
            && err.contains("byte offset 0")
            && err.contains("expected"),
        "{err}"
    );

    let empty = temp_path("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let out = mailtap(&[empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("empty"));

    assert_eq!(mailtap(&[]).status.code(), Some(2));
    assert_eq!(
        mailtap(&["--format", "xml", "x.pcap"]).status.code(),
        Some(2)
    );
}

#[test]
fn truncated_file_reports_what_came_before() {
    let path = two_sessions("whole.pcapng");
    let bytes = std::fs::read(&path).unwrap();
    let cut = temp_path("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let (doc, out) = mailtap_json(&[cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 2);
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("cut.pcapng") && err.contains("byte offset"),
        "{err}"
    );
    assert_eq!(doc["summary"]["errors"].as_array().unwrap().len(), 1);
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let path = two_sessions("pipe.pcapng");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtap"))
        .args([
            "--format",
            "transcript",
            path.to_str().unwrap(),
            path.to_str().unwrap(),
            path.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn several_files_keep_their_order() {
    let a = two_sessions("order-a.pcapng");
    let b = two_sessions("order-b.pcapng");
    let (doc, _) = mailtap_json(&[b.to_str().unwrap(), "-r", a.to_str().unwrap()]);
    let captures: Vec<&str> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["capture"].as_str().unwrap())
        .collect();
    assert_eq!(captures.len(), 4);
    // -r inputs come first, then the positional ones, each in the order given.
    assert!(
        captures[0].ends_with("order-a.pcapng") && captures[3].ends_with("order-b.pcapng"),
        "{captures:?}"
    );
}

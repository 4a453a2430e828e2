//! Inputs (compressed captures, filters, selectors, -c on files), error messages, exit codes
//! and `--fail-on` as a CI job sees them (issue 10).

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::{busy_capture, fixture, mailtap, mailtap_json, mailtap_stdin, temp_path};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn compressed(name: &str) -> PathBuf {
    fixture("compressed").join(name)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The sessions of a JSON document without the capture's name, in order of first frame.
fn sessions(doc: &Value) -> Vec<Value> {
    let mut sessions: Vec<Value> = doc["sessions"].as_array().unwrap().clone();
    for s in &mut sessions {
        s.as_object_mut().unwrap().remove("capture");
    }
    sessions.sort_by_key(|s| s["first_frame"].as_u64());
    sessions
}

// ---- compressed captures -------------------------------------------------------------------

#[test]
fn compressed_files_give_the_same_sessions_as_the_capture() {
    let plain = fixture("postfix-swaks-upgraded.pcap");
    let (want, out) = mailtap_json(&[path(&plain)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let want_sessions = sessions(&want);
    assert_eq!(want_sessions.len(), 1);
    assert_eq!(want_sessions[0]["verdict"], "upgraded");
    // Made with gzip 1.12 -9 -n, zstd 1.5.4 -19, xz 5.4.1 -9 (fixtures/compressed/README.md).
    for name in [
        "postfix-swaks-upgraded.pcap.gz",
        "postfix-swaks-upgraded.pcap.zst",
        "postfix-swaks-upgraded.pcap.xz",
    ] {
        let (got, out) = mailtap_json(&[path(&compressed(name))]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert_eq!(sessions(&got), want_sessions, "{name}");
        assert_eq!(got["summary"], want["summary"], "{name}");
        // The same table too, the capture's name aside.
        let table = |p: &Path| {
            let out = mailtap(&[path(p)]);
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(table(&compressed(name)), table(&plain), "{name}");
    }
}

#[test]
fn compressed_standard_input_gives_the_same_sessions() {
    for (plain, zst) in [
        (
            "postfix-swaks-upgraded.pcap",
            "postfix-swaks-upgraded.pcap.zst",
        ),
        (
            "relay-asa-keyword-swaks-both-legs.pcapng",
            "relay-asa-keyword-swaks-both-legs.pcapng.zst",
        ),
    ] {
        let (want, _) = mailtap_json(&[path(&fixture(plain))]);
        let bytes = std::fs::read(compressed(zst)).unwrap();
        let out = mailtap_stdin(&["--format", "json", "-"], &bytes);
        assert_eq!(out.status.code(), Some(0), "{zst}: {}", stderr(&out));
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(sessions(&got), sessions(&want), "{zst}");
        assert!(!sessions(&want).is_empty());
    }
}

#[test]
fn compression_is_recognised_by_content_not_name() {
    // A gzip file named .pcap, and a plain capture named .gz.
    let gz_as_pcap = temp_path("really-gzip.pcap");
    std::fs::copy(compressed("postfix-swaks-upgraded.pcap.gz"), &gz_as_pcap).unwrap();
    let plain_as_gz = temp_path("really-plain.pcap.gz");
    std::fs::copy(fixture("postfix-swaks-upgraded.pcap"), &plain_as_gz).unwrap();
    for p in [&gz_as_pcap, &plain_as_gz] {
        let (doc, out) = mailtap_json(&[path(p)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(doc["sessions"][0]["verdict"], "upgraded");
    }
}

#[test]
fn a_cut_compressed_capture_reports_what_came_before_then_exits_2() {
    let gz = std::fs::read(compressed("postfix-swaks-upgraded.pcap.gz")).unwrap();
    let cut = temp_path("cut.pcap.gz");
    std::fs::write(&cut, &gz[..gz.len() * 2 / 3]).unwrap();
    let (doc, out) = mailtap_json(&[path(&cut)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    let err = stderr(&out);
    assert!(
        err.contains("damaged gzip data") && err.contains("decompressed"),
        "{err}"
    );
    let (_, out) = mailtap_json(&["--allow-damage", path(&cut)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning"));
}

#[test]
fn an_unsupported_compression_says_which_and_what_to_do() {
    // Made with bzip2 1.0.8 -9.
    let out = mailtap(&[path(&compressed("postfix-swaks-upgraded.pcap.bz2"))]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bzip2-compressed") && err.contains("bzcat"),
        "{err}"
    );
}

// ---- error messages ------------------------------------------------------------------------

#[test]
fn header_errors_name_the_cause() {
    let dir = temp_path("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let out = mailtap(&[path(&dir)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a-directory: is a directory"),
        "{}",
        stderr(&out)
    );

    let capture = std::fs::read(fixture("postfix-swaks-upgraded.pcap")).unwrap();
    for (len, want) in [
        (20, "truncated pcap header (20 of 24 bytes)"),
        (3, "truncated pcap header (3 of 24 bytes)"),
    ] {
        let short = temp_path(&format!("short-{len}.pcap"));
        std::fs::write(&short, &capture[..len]).unwrap();
        let out = mailtap(&[path(&short)]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
        assert!(!stderr(&out).contains("not a pcap"), "{}", stderr(&out));
    }
    let ng = std::fs::read(fixture("postfix-swaks-upgraded-dumpcap.pcapng")).unwrap();
    let short = temp_path("short.pcapng");
    std::fs::write(&short, &ng[..40]).unwrap();
    let out = mailtap(&[path(&short)]);
    assert!(
        stderr(&out).contains("truncated pcapng section header (40 of "),
        "{}",
        stderr(&out)
    );

    // The magic as the file's bytes, in the order xxd shows them.
    let html = temp_path("page.pcap");
    std::fs::write(&html, "<html>not a capture</html>\n").unwrap();
    let out = mailtap(&[path(&html)]);
    let err = stderr(&out);
    assert!(err.contains("it starts with 3c 68 74 6d"), "{err}");
    let own = format!(
        "{:02x} {:02x} {:02x} {:02x}",
        capture[0], capture[1], capture[2], capture[3]
    );
    assert!(
        err.contains(&own),
        "the fixture's own magic {own} is listed: {err}"
    );
}

#[test]
fn out_of_range_limits_are_rejected_with_their_range() {
    let p = fixture("postfix-swaks-upgraded.pcap");
    for (flag, value, range) in [
        ("--max-buffer", "0", "4096..="),
        ("--max-flows", "0", "16..="),
        ("--idle-timeout", "0", "1..="),
        ("--port", "0", "1..=65535"),
        ("-c", "0", "1.."),
    ] {
        let out = mailtap(&[flag, value, path(&p)]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        assert!(stderr(&out).contains(range), "{flag}: {}", stderr(&out));
    }
    for bad in [
        "--server=192.0.2.1/33",
        "--server=mx.example",
        "--client=10.0.0.0/99",
    ] {
        let out = mailtap(&[bad, path(&p)]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert_eq!(stderr(&out).lines().count(), 1, "{bad}: {}", stderr(&out));
    }
}

// ---- exit codes and --fail-on --------------------------------------------------------------

#[test]
fn a_cut_capture_exits_2_after_reporting_unless_damage_is_allowed() {
    let bytes = std::fs::read(fixture("relay-asa-keyword-swaks-both-legs.pcapng")).unwrap();
    let cut = temp_path("cut-both-legs.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let (doc, out) = mailtap_json(&["--fail-on", "handshake-failed", path(&cut)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 2);
    assert!(stderr(&out).contains("--allow-damage"), "{}", stderr(&out));
    let (_, out) = mailtap_json(&["--allow-damage", path(&cut)]);
    assert_eq!(out.status.code(), Some(0));
    // Damage on standard input (a pipe) too.
    let out = mailtap_stdin(&["--format", "jsonl", "-"], &bytes[..bytes.len() - 30]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = mailtap_stdin(
        &["--format", "jsonl", "--allow-damage", "-"],
        &bytes[..bytes.len() - 30],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn fail_on_takes_spaces_severities_and_no_sessions() {
    let p = fixture("relay-asa-keyword-swaks-both-legs.pcapng");
    let code = |args: &[&str]| {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        all.push(path(&p));
        mailtap(&all)
    };
    let out = code(&["--fail-on", "stripped, rejected"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    // The match is named on standard error, with the session it is.
    assert!(
        err.contains("match: 10.25.1.2:40011 -> 10.25.1.1:25")
            && err.contains("--fail-on stripped"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("match:")).count(),
        1,
        "{err}"
    );
    assert_eq!(
        code(&["--fail-on", "rejected handshake-failed"])
            .status
            .code(),
        Some(0)
    );
    let out = code(&["--fail-on", "high"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("masked-keyword is high"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&["--fail-on", "warning"]).status.code(), Some(1));
    assert_eq!(code(&["--fail-on", "no-sessions"]).status.code(), Some(0));

    // A capture with no SMTP session at all: the header of a real capture, no packet.
    let capture = std::fs::read(fixture("postfix-swaks-upgraded.pcap")).unwrap();
    let empty = temp_path("no-packets.pcap");
    std::fs::write(&empty, &capture[..24]).unwrap();
    assert_eq!(mailtap(&[path(&empty)]).status.code(), Some(0));
    let out = mailtap(&["--fail-on", "stripped,no-sessions", path(&empty)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no-sessions"), "{}", stderr(&out));
}

#[test]
fn require_fails_every_session_with_another_verdict() {
    let p = fixture("relay-asa-keyword-swaks-both-legs.pcapng");
    let out = mailtap(&[
        "--format",
        "json",
        "--require",
        "upgraded,implicit-tls",
        path(&p),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let named: Vec<&str> = err.lines().filter(|l| l.contains("--require")).collect();
    assert_eq!(named.len(), 2, "{err}");
    assert!(
        err.contains("verdict stripped") && err.contains("verdict not-used"),
        "{err}"
    );
    let out = mailtap(&[
        "--format",
        "json",
        "--require",
        "stripped, not-used",
        path(&p),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = mailtap(&["--require", "fine", path(&p)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("'fine' is not a verdict"));
}

// ---- selecting sessions --------------------------------------------------------------------

#[test]
fn server_and_client_select_in_every_build() {
    let p = fixture("relay-asa-keyword-swaks-both-legs.pcapng");
    let clients = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push(path(&p));
        let (doc, out) = mailtap_json(&all);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["client"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(clients(&[]).len(), 2);
    assert_eq!(clients(&["--server", "10.25.2.10:25"]), ["10.25.2.1:40012"]);
    assert_eq!(clients(&["--server", "10.25.2.0/24"]), ["10.25.2.1:40012"]);
    assert_eq!(
        clients(&["--server", "10.25.2.10:587"]),
        Vec::<String>::new()
    );
    assert_eq!(clients(&["--client", "10.25.1.2"]), ["10.25.1.2:40011"]);
    assert_eq!(
        clients(&["--client", "10.25.1.2", "--server", "10.25.2.10"]),
        Vec::<String>::new()
    );
}

#[test]
fn count_stops_files_after_n_sessions() {
    let p = fixture("relay-asa-keyword-swaks-both-legs.pcapng");
    let q = fixture("postfix-swaks-upgraded.pcap");
    let (doc, out) = mailtap_json(&["-c", "1", path(&p), path(&q)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(doc["summary"]["sessions"], 1);
    let (doc, _) = mailtap_json(&["-c", "3", path(&p), path(&q)]);
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 3);
}

#[cfg(not(feature = "live"))]
#[test]
fn a_filter_on_files_says_which_build_has_it() {
    let p = fixture("postfix-swaks-upgraded.pcap");
    for args in [
        &["-r", path(&p), "port", "25"][..],
        &[path(&p), "host 10.25.2.10"],
    ] {
        let out = mailtap(args);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("--features live") && err.contains("--server"),
            "{err}"
        );
        assert!(!err.contains("No such file"), "{err}");
    }
}

#[cfg(feature = "live")]
#[test]
fn a_filter_on_files_is_compiled_by_libpcap() {
    let p = fixture("relay-asa-keyword-swaks-both-legs.pcapng");
    // Two link types in one file (Ethernet and Linux SLL2): compiled for each.
    let clients = |args: &[&str]| {
        let mut all = vec!["-r", path(&p)];
        all.extend_from_slice(args);
        let (doc, out) = mailtap_json(&all);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["client"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(clients(&[]).len(), 2);
    assert_eq!(clients(&["host", "10.25.2.10"]), ["10.25.2.1:40012"]);
    assert_eq!(
        clients(&["tcp port 25 and host 10.25.1.2"]),
        ["10.25.1.2:40011"]
    );
    assert_eq!(clients(&["port", "2525"]), Vec::<String>::new());
    let out = mailtap(&["-r", path(&p), "host", "and"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("capture filter 'host and'"),
        "{}",
        stderr(&out)
    );
}

// ---- habits, help, completions, man page ---------------------------------------------------

#[test]
fn help_lists_every_verdict_finding_and_exit_code() {
    let out = mailtap(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for name in mailtap::classify::Verdict::ALL.iter().map(|v| v.name()) {
        assert!(
            help.contains(&format!(" {name},")) || help.contains(&format!(" {name}.")),
            "{name}"
        );
    }
    for name in mailtap::classify::FindingKind::ALL.iter().map(|k| k.name()) {
        assert!(
            help.contains(&format!(" {name},")) || help.contains(&format!(" {name}.")),
            "{name}"
        );
    }
    for words in [
        "Exit status: 0",
        "--allow-damage",
        "no-sessions",
        "--require",
        "--completions",
        "--man",
    ] {
        assert!(help.contains(words), "{words}");
    }
    let out = mailtap(&["help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("Usage: mailtap"));
}

#[test]
fn tcpdump_habits_are_accepted() {
    let p = fixture("postfix-swaks-upgraded.pcap");
    let out = mailtap(&["-n", "-r", path(&p)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8(out.stdout).unwrap().contains("upgraded"));
}

#[test]
fn completions_and_man_page_come_from_the_clap_definition() {
    for (shell, marker) in [
        ("bash", "_mailtap()"),
        ("zsh", "#compdef mailtap"),
        ("fish", "complete -c mailtap"),
    ] {
        let out = mailtap(&["--completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}");
        assert!(
            script.contains("fail-on") && script.contains("allow-damage"),
            "{shell}"
        );
    }
    let out = mailtap(&["--man"]);
    assert_eq!(out.status.code(), Some(0));
    let man = String::from_utf8(out.stdout).unwrap();
    assert!(man.contains(".TH mailtap 1"), "{man}");
    assert!(man.contains("fail\\-on") && man.contains("handshake\\-failed"));
    assert_eq!(mailtap(&["--completions", "tcsh"]).status.code(), Some(2));
}

/// A pipe is read on a thread of its own and its frames queued for the watching loop, 4,096 at
/// most: a full queue once lost the 4,097th frame.
#[test]
fn a_pipe_loses_no_frame_when_the_queue_is_full() {
    let bytes = busy_capture(6);
    let file = temp_path("busy-pipe.pcapng");
    std::fs::write(&file, &bytes).unwrap();
    let from_file = mailtap(&["--format", "jsonl", file.to_str().unwrap()]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mailtap"))
        .args(["--format", "jsonl", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // All at once: the reading thread then runs ahead of the analysis and fills the queue.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &bytes));
    let from_pipe = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let lines = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                l.replacen(&format!("\"capture\":{:?}", file.to_str().unwrap()), "", 1)
                    .replacen("\"capture\":\"-\"", "", 1)
            })
            .collect::<Vec<_>>()
    };
    assert!(lines(&from_file).len() > 300);
    assert_eq!(lines(&from_pipe), lines(&from_file));
    let summary = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .map(str::to_string)
    };
    assert_eq!(summary(&from_pipe), summary(&from_file));
}

//! The report (issue 9): a reason for every verdict in every format, a table that reads at any
//! width (in a real terminal too: tmux) and in a pipe, severity marks, time and name, `--only`,
//! `-q`, csv, and which stream carries what.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mailtap::classify::{reason, Verdict};

use crate::common::capture_writer::{Capture, Format, Link};
use crate::common::{analyze_bytes, fixture, temp_path};

/// Runs mailtap with a fixed time zone and no colour.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailtap"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .output()
        .expect("run mailtap")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const GREETING: &[u8] = b"220 mx.example.test ESMTP\r\n";
const EHLO: &[u8] = b"EHLO client.example.test\r\n";
const OFFER: &[u8] = b"250-mx.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n";

fn addrs() -> (std::net::SocketAddr, std::net::SocketAddr) {
    (
        "192.0.2.10:40000".parse().unwrap(),
        "198.51.100.25:25".parse().unwrap(),
    )
}

/// A capture that ends right after the EHLO reply (the connection still open).
fn ends_after_ehlo() -> PathBuf {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let (client, server) = addrs();
    let mut c = cap.tcp(client, server);
    c.handshake();
    c.server(GREETING);
    c.client(EHLO);
    c.server(OFFER);
    let path = temp_path("report-ends-after-ehlo.pcap");
    cap.save(&path).unwrap();
    path
}

/// A capture that loses 1,448 bytes of the server's EHLO reply.
fn gap_in_ehlo_reply() -> PathBuf {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let (client, server) = addrs();
    let mut c = cap.tcp(client, server);
    c.handshake();
    c.server(GREETING);
    c.client(EHLO);
    c.server(b"250-mx.example.test\r\n");
    c.skip_server(1448);
    c.server(b"250 8BITMIME\r\n");
    c.client(b"QUIT\r\n");
    c.server(b"221 Bye\r\n");
    c.close();
    let path = temp_path("report-gap.pcap");
    cap.save(&path).unwrap();
    path
}

/// A server that refuses the client at the greeting.
fn refused_at_the_greeting() -> PathBuf {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let (client, server) = addrs();
    let mut c = cap.tcp(client, server);
    c.handshake();
    c.server(b"554 5.7.1 mx.example.test: no SMTP service here\r\n");
    c.client(b"QUIT\r\n");
    c.server(b"221 Bye\r\n");
    c.close();
    let path = temp_path("report-refused.pcap");
    cap.save(&path).unwrap();
    path
}

/// One case: the capture, its verdict, and the reason's frame, text and line.
struct Case {
    path: PathBuf,
    verdict: &'static str,
    frame: u64,
    text: &'static str,
    line: Option<&'static str>,
}

fn case(
    name: &str,
    verdict: &'static str,
    frame: u64,
    text: &'static str,
    line: Option<&'static str>,
) -> Case {
    Case {
        path: fixture(name),
        verdict,
        frame,
        text,
        line,
    }
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        case(
            "postfix-swaks-upgraded.pcap",
            "upgraded",
            13,
            "TLS 1.3, TLS_AES_256_GCM_SHA384",
            None,
        ),
        case(
            "postfix-swaks-implicit-tls-465.pcap",
            "implicit-tls",
            6,
            "TLS 1.3, TLS_AES_256_GCM_SHA384",
            None,
        ),
        case(
            "postfix-openssl-tls13-protocol-version-alert.pcap",
            "handshake-failed",
            12,
            "protocol_version (70) from the server",
            None,
        ),
        case(
            "postfix-openssl-unknown-ca-alert.pcap",
            "handshake-failed",
            13,
            "unknown_ca (48) from the client",
            None,
        ),
        case(
            "postfix-swaks-465-plaintext-banner.pcap",
            "handshake-failed",
            4,
            "not TLS from the server",
            Some("220 mail.example.test ESMTP Postfix\r\n"),
        ),
        case(
            "relay-asa-keyword-swaks.pcap",
            "stripped",
            8,
            "STARTTLS masked in the EHLO reply",
            Some("250-XXXXXXXA"),
        ),
        case(
            "postfix-swaks-rejected-454-tls-optional-sll.pcap",
            "rejected",
            10,
            "STARTTLS refused (454)",
            Some("454 4.7.0 TLS not available due to local problem"),
        ),
        case(
            "postfix-swaks-not-used-sll2.pcap",
            "not-used",
            9,
            "STARTTLS offered at #8; client sent MAIL FROM in cleartext",
            Some("MAIL FROM:<alice@client.example.test>"),
        ),
        case(
            "postfix-swaks-not-offered.pcap",
            "not-offered",
            8,
            "EHLO reply lists no STARTTLS",
            Some("250-mail.example.test"),
        ),
        case(
            "postfix-swaks-helo-nanosecond.pcap",
            "no-ehlo",
            6,
            "client used HELO, not EHLO",
            Some("HELO client.example.test"),
        ),
        case(
            "aiosmtpd-smtplib-ehlo-rejected.pcap",
            "no-ehlo",
            8,
            "EHLO refused (502)",
            Some("502 5.5.1 EHLO not supported"),
        ),
    ];
    cases.push(Case {
        path: refused_at_the_greeting(),
        verdict: "refused",
        frame: 4,
        text: "server refused the connection at the greeting (554)",
        line: Some("554 5.7.1 mx.example.test: no SMTP service here"),
    });
    cases.push(Case {
        path: ends_after_ehlo(),
        verdict: "incomplete",
        frame: 6,
        text: "capture ends after EHLO",
        line: None,
    });
    cases.push(Case {
        path: gap_in_ehlo_reply(),
        verdict: "incomplete",
        frame: 8,
        text: "gap of 1,448 bytes at #8 (server)",
        line: None,
    });
    cases
}

#[test]
fn every_verdict_has_its_reason_in_json_table_and_transcript() {
    for c in cases() {
        let p = c.path.to_str().unwrap();
        let what = format!("{} ({})", c.verdict, c.path.display());

        let out = run(&["--format", "json", p]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = &doc["sessions"][0];
        assert_eq!(s["verdict"], c.verdict, "{what}");
        assert_eq!(s["reason"]["frame"], c.frame, "{what}: {}", s["reason"]);
        assert_eq!(s["reason"]["text"], c.text, "{what}");
        match c.line {
            Some(line) => assert_eq!(s["reason"]["line"], line, "{what}"),
            None => assert!(s["reason"].get("line").is_none(), "{what}"),
        }

        // The table's last column, in a pipe: the reason whole.
        let table = stdout(&run(&[p]));
        let row = table.lines().nth(1).unwrap();
        let shown = format!("#{} {}", c.frame, c.text);
        assert!(
            row.contains(c.verdict) && row.contains(&shown),
            "{what}: {row}"
        );
        if let Some(line) = c.line {
            let line = line.replace('\r', "\\r").replace('\n', "\\n");
            assert!(row.contains(&format!("{shown}: {line}")), "{what}: {row}");
        }

        // The transcript ends each session with it.
        let transcript = stdout(&run(&["--format", "transcript", p]));
        let last = transcript.trim_end().lines().last().unwrap();
        assert!(
            last.starts_with(&format!("  reason: {}: {shown}", c.verdict)),
            "{what}: {transcript}"
        );
    }
}

/// S4 has two faces, and the reason tells them apart: the client's leg sees its STARTTLS
/// refused as unknown although offered; the server's leg sees a command of X's.
#[test]
fn stripped_by_a_masked_command_on_both_legs() {
    let p = fixture("relay-asa-command-swaks-both-legs-sll2.pcap");
    let out = run(&["--format", "json", p.to_str().unwrap()]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reasons: Vec<(&str, &serde_json::Value)> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["verdict"].as_str().unwrap(), &s["reason"]))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "stripped",
                &serde_json::json!({"frame": 31, "text": "STARTTLS refused as unknown although offered", "line": "500 5.5.2 Error: command not recognized"})
            ),
            (
                "stripped",
                &serde_json::json!({"frame": 29, "text": "command masked", "line": "XXXXXXXX"})
            ),
        ]
    );
}

#[test]
fn refused_reason_quotes_the_greeting() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let (client, server) = addrs();
    let mut c = cap.tcp(client, server);
    c.handshake();
    c.server(b"554 5.7.1 mx.example.test: no SMTP service here\r\n");
    c.client(b"QUIT\r\n");
    c.server(b"221 Bye\r\n");
    c.close();
    let analysis = analyze_bytes(&cap.finish());
    let report = &analysis.sessions[0];
    let r = reason(&report.record, Verdict::Refused, &report.findings);
    assert_eq!(r.frame, 4);
    assert_eq!(
        r.text,
        "server refused the connection at the greeting (554)"
    );
    assert_eq!(
        r.line.as_ref().unwrap().escaped(),
        "554 5.7.1 mx.example.test: no SMTP service here"
    );
    assert_eq!(report.verdict, Verdict::Refused);
    assert_eq!(report.reason, r);
}

#[test]
fn transcript_shows_the_tls_exchange_as_far_as_it_went() {
    let p = fixture("postfix-openssl-tls13-protocol-version-alert.pcap");
    let t = stdout(&run(&["--format", "transcript", p.to_str().unwrap()]));
    assert!(t.contains(" -> TLS ClientHello, up to TLS 1.3"), "{t}");
    assert!(
        t.contains("<-  TLS alert, fatal protocol_version (70)"),
        "{t}"
    );
    assert!(t.contains("=== TLS not established: stopped after ClientHello ==="));

    let p = fixture("postfix-swaks-upgraded.pcap");
    let t = stdout(&run(&["--format", "transcript", p.to_str().unwrap()]));
    assert!(
        t.contains("<-  TLS ServerHello, TLS 1.3, TLS_AES_256_GCM_SHA384"),
        "{t}"
    );
    assert!(t.contains("=== TLS established ==="));
}

const MIXED: [&str; 6] = [
    "postfix-swaks-upgraded-ipv6.pcap",
    "postfix-openssl-tls13-protocol-version-alert.pcap",
    "postfix-swaks-465-plaintext-banner.pcap",
    "relay-asa-keyword-swaks.pcap",
    "postfix-swaks-rejected-454-tls-optional-sll.pcap",
    "postfix-swaks-inconsistent-offer.pcap",
];

fn mixed() -> Vec<String> {
    MIXED
        .iter()
        .map(|n| fixture(n).to_str().unwrap().to_string())
        .collect()
}

/// Addresses and verdicts of every session, from the JSON.
fn expected_cells(files: &[String]) -> Vec<String> {
    let mut args = vec!["--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let doc: serde_json::Value = serde_json::from_slice(&run(&args).stdout).unwrap();
    let mut cells = Vec::new();
    for s in doc["sessions"].as_array().unwrap() {
        for key in ["client", "server", "verdict"] {
            cells.push(s[key].as_str().unwrap().to_string());
        }
        cells.push(format!("{}-{}", s["first_frame"], s["last_frame"]));
    }
    cells
}

/// No line wider than `columns`; every address, verdict and frame range whole on one line.
fn assert_fits(screen: &str, columns: usize, cells: &[String]) {
    for line in screen.lines() {
        assert!(
            line.chars().count() <= columns,
            "wider than {columns}: {line:?}\n{screen}"
        );
    }
    for cell in cells {
        assert!(
            screen.lines().any(|l| l.contains(cell.as_str())),
            "{cell} not whole at {columns} columns:\n{screen}"
        );
    }
}

#[test]
fn table_fits_any_width_it_is_given() {
    let files = mixed();
    let cells = expected_cells(&files);
    for columns in [60usize, 80, 100, 120, 160, 200] {
        let w = columns.to_string();
        let mut args = vec!["--width", w.as_str()];
        args.extend(files.iter().map(String::as_str));
        let out = stdout(&run(&args));
        assert_fits(&out, columns, &cells);
        if columns == 60 {
            // The reason and the file names are what gives way.
            assert!(out.contains('…'), "{out}");
        }
    }
    // --wide shortens nothing.
    let mut args = vec!["--width", "80", "--wide"];
    args.extend(files.iter().map(String::as_str));
    let out = stdout(&run(&args));
    assert!(!out.contains('…'), "{out}");
    assert!(out.contains("#4 not TLS from the server: 220 mail.example.test ESMTP Postfix\\r\\n"));
}

#[test]
fn a_pipe_gets_plain_columns_one_session_per_line() {
    let files = mixed();
    let out = stdout(&run(&files.iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(
        !out.chars()
            .any(|c| ('\u{2500}'..='\u{257f}').contains(&c) || c == '…'),
        "box drawing or shortening in a pipe:\n{out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "capture", "time", "frames", "client", "server", "name", "verdict", "tls", "findings",
            "reason"
        ]
    );
    // One line per session; awk's fields 1..9 are the columns, whole.
    let cells = expected_cells(&files);
    assert_eq!(lines.len() - 1, cells.len() / 4, "{out}");
    for (line, expected) in lines[1..].iter().zip(cells.chunks(4)) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() >= 10, "{line}");
        assert_eq!(fields[2], expected[3], "{line}");
        assert_eq!(fields[3], expected[0], "{line}");
        assert_eq!(fields[4], expected[1], "{line}");
        assert_eq!(fields[6], expected[2], "{line}");
        assert!(fields[9].starts_with('#'), "{line}");
    }
}

#[test]
fn time_is_local_with_its_offset_or_utc() {
    let p = fixture("postfix-swaks-upgraded.pcap");
    let p = p.to_str().unwrap();
    let local = Command::new(env!("CARGO_BIN_EXE_mailtap"))
        .arg(p)
        .env("TZ", "IST-5:30")
        .output()
        .unwrap();
    let row = stdout(&local);
    let row = row.lines().nth(1).unwrap();
    assert!(row.starts_with("2026-11-22T23:50:22+05:30 "), "{row}");
    let utc = Command::new(env!("CARGO_BIN_EXE_mailtap"))
        .args(["--utc", p])
        .env("TZ", "IST-5:30")
        .output()
        .unwrap();
    assert!(
        stdout(&utc)
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("2026-11-22T18:20:22+00:00 "),
        "{}",
        stdout(&utc)
    );
    // The name: the SNI, else the banner's host name.
    assert!(row.contains(" mail.example.test "), "{row}");
}

#[test]
fn severity_is_marked_and_info_waits_for_verbose() {
    let p = fixture("relay-asa-keyword-swaks.pcap");
    let row = stdout(&run(&[p.to_str().unwrap()]));
    assert!(row.contains("!!masked-keyword,!cleartext-mail"), "{row}");

    // A 530 to a client that never asked for STARTTLS: an info finding, only with -v.
    let p = fixture("postfix-swaks-tls-required-530.pcap");
    let doc: serde_json::Value =
        serde_json::from_slice(&run(&["--format", "json", p.to_str().unwrap()]).stdout).unwrap();
    let info: Vec<String> = doc["sessions"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "info")
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(!info.is_empty(), "the fixture has an info finding");
    let quiet = stdout(&run(&[p.to_str().unwrap()]));
    let verbose = stdout(&run(&["-v", p.to_str().unwrap()]));
    for kind in &info {
        assert!(!quiet.contains(kind.as_str()), "{quiet}");
        assert!(verbose.contains(kind.as_str()), "{verbose}");
    }
}

#[test]
fn no_colour_outside_a_terminal_even_with_a_width() {
    let p = fixture("relay-asa-keyword-swaks.pcap");
    let coloured = Command::new(env!("CARGO_BIN_EXE_mailtap"))
        .args(["--width", "200", p.to_str().unwrap()])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    // Not a terminal here: no colour even with a width.
    assert!(!stdout(&coloured).contains('\x1b'));
}

#[test]
fn only_filters_sessions_in_every_format_and_the_summary_counts_all() {
    let files = mixed();
    let mut base: Vec<&str> = files.iter().map(String::as_str).collect();
    base.splice(0..0, ["--only", "stripped,rejected"]);

    let json = run(&[&["--format", "json"][..], &base].concat());
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let verdicts: Vec<&str> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["stripped", "rejected"]);
    assert_eq!(doc["summary"]["sessions"], 7);
    assert!(
        stderr(&json).contains("7 SMTP sessions"),
        "{}",
        stderr(&json)
    );

    for format in ["table", "jsonl", "transcript", "csv"] {
        let out = stdout(&run(&[&["--format", format][..], &base].concat()));
        assert!(
            out.contains("stripped") && out.contains("rejected"),
            "{format}: {out}"
        );
        assert!(
            !out.contains("upgraded") && !out.contains("handshake-failed"),
            "{format}: {out}"
        );
    }

    // A severity: sessions with a high finding.
    let out = stdout(&run(&[
        &["--only", "high"][..],
        &files.iter().map(String::as_str).collect::<Vec<_>>(),
    ]
    .concat()));
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("masked-keyword"));

    // A finding kind, known only once all sessions of a file are compared.
    let out = stdout(&run(&[
        &["--only", "inconsistent-offer"][..],
        &files.iter().map(String::as_str).collect::<Vec<_>>(),
    ]
    .concat()));
    assert_eq!(out.lines().count(), 3, "{out}");

    let bad = run(&["--only", "strippd", &files[0]]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--only: 'strippd'"));
}

#[test]
fn quiet_prints_the_summary_only() {
    let files = mixed();
    for format in ["table", "json", "jsonl", "transcript", "csv"] {
        let mut args = vec!["-q", "--format", format];
        args.extend(files.iter().map(String::as_str));
        let out = run(&args);
        assert!(out.stdout.is_empty(), "{format}: {}", stdout(&out));
        assert_eq!(
            stderr(&out).trim(),
            "mailtap: 7 SMTP sessions (2 handshake-failed, 1 not-offered, 1 rejected, 1 stripped, 2 upgraded); 163 frames",
        );
    }
}

#[test]
fn csv_has_fixed_columns() {
    let p = fixture("postfix-swaks-rejected-454-tls-optional-sll.pcap");
    let out = stdout(&run(&["--format", "csv", p.to_str().unwrap()]));
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "capture,client,server,verdict,first_frame,last_frame,first_time,last_time,server_name,tls_version,tls_cipher,findings,reason_frame,reason_text,reason_line"
    );
    assert!(
        lines[1].ends_with(
            ",10.25.1.2:55026,10.25.2.14:25,rejected,1,22,2026-11-22T18:20:48.982471Z,2026-11-22T18:20:48.999498Z,mail.example.test,,,cleartext-mail starttls-rejected,10,STARTTLS refused (454),454 4.7.0 TLS not available due to local problem"
        ),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "");
    assert_eq!(lines.len(), 3);
}

#[test]
fn summary_on_stderr_in_every_format_none_after_unreadable_input() {
    let p = fixture("postfix-swaks-upgraded.pcap");
    for format in ["table", "json", "jsonl", "transcript", "csv"] {
        let out = run(&["--format", format, p.to_str().unwrap()]);
        assert!(!stdout(&out).contains("SMTP session"), "{format}");
        assert_eq!(
            stderr(&out),
            "mailtap: 1 SMTP session (1 upgraded); 32 frames\n",
            "{format}"
        );
        let missing = run(&["--format", format, "/nonexistent.pcap"]);
        assert_eq!(missing.status.code(), Some(2));
        // JSON says what failed in its document; csv keeps its header line.
        assert!(
            missing.stdout.is_empty() || format == "json" || format == "csv",
            "{format}"
        );
        assert!(!stderr(&missing).contains("SMTP session"), "{format}");
    }
    // One frame is "1 frame".
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let (client, server) = addrs();
    cap.tcp(client, server).syn();
    let path = temp_path("report-one-frame.pcap");
    cap.save(&path).unwrap();
    let out = run(&[path.to_str().unwrap()]);
    assert!(stderr(&out).contains("; 1 frame"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 connection attempt without data"),
        "{}",
        stderr(&out)
    );
}

// ---- a real terminal: tmux ------------------------------------------------------------------

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs mailtap in a tmux pane of `columns` × 50 and returns the screen, wrapped lines joined
/// (`capture-pane -J`), so that a line the terminal had to wrap shows as one line too wide.
fn in_tmux(columns: usize, args: &[String]) -> String {
    in_tmux_with(columns, args, "NO_COLOR=1", false)
}

/// [`in_tmux`] with these environment assignments; `escapes`: keep the colours
/// (`capture-pane -e`).
fn in_tmux_with(columns: usize, args: &[String], env: &str, escapes: bool) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let socket = format!("mailtap-test-{}-{n}", std::process::id());
    let tmux = |a: &[&str]| {
        Command::new("tmux")
            .args(["-L", socket.as_str(), "-f", "/dev/null"])
            .args(a)
            .output()
            .expect("run tmux")
    };
    let bin = env!("CARGO_BIN_EXE_mailtap");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let command = format!(
        "env -u NO_COLOR TZ=UTC {env} '{bin}' {}; echo __END__; sleep 60",
        quoted.join(" ")
    );
    let w = columns.to_string();
    let started = tmux(&[
        "new-session",
        "-d",
        "-x",
        w.as_str(),
        "-y",
        "50",
        "sh",
        "-c",
        command.as_str(),
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    let deadline = Instant::now() + Duration::from_secs(30);
    let screen = loop {
        let shot = if escapes {
            tmux(&["capture-pane", "-p", "-J", "-e"])
        } else {
            tmux(&["capture-pane", "-p", "-J"])
        };
        let screen = String::from_utf8_lossy(&shot.stdout).into_owned();
        if screen.contains("__END__") || Instant::now() > deadline {
            break screen;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    tmux(&["kill-server"]);
    assert!(
        screen.contains("__END__"),
        "mailtap did not finish:\n{screen}"
    );
    screen.replace("__END__", "")
}

#[test]
fn tmux_80_120_200_columns() {
    if !tmux_available() {
        eprintln!("tmux not installed: skipped (.ci/run installs it)");
        return;
    }
    let files = mixed();
    let cells = expected_cells(&files);
    for columns in [80, 120, 200] {
        let screen = in_tmux(columns, &files);
        assert_fits(&screen, columns, &cells);
        assert!(
            screen.contains("#12 protocol_version (70) from the server"),
            "{screen}"
        );
        if columns == 200 {
            assert!(
                screen.starts_with("time "),
                "one line per session at 200:\n{screen}"
            );
        }
    }
}

#[test]
fn tmux_colours_unless_no_color() {
    if !tmux_available() {
        eprintln!("tmux not installed: skipped (.ci/run installs it)");
        return;
    }
    let files = vec![fixture("relay-asa-keyword-swaks.pcap")
        .to_str()
        .unwrap()
        .to_string()];
    let coloured = in_tmux_with(120, &files, "TERM=xterm-256color", true);
    assert!(
        coloured.contains('\x1b'),
        "colours on a terminal:\n{coloured}"
    );
    // The words stay whole between the colour codes.
    assert!(coloured.contains("stripped") && coloured.contains("!!masked-keyword"));
    let plain = in_tmux_with(120, &files, "NO_COLOR=1", true);
    assert!(!plain.contains('\x1b'), "NO_COLOR:\n{plain}");
}

// ---- README ---------------------------------------------------------------------------------

/// The README's examples are the real output of the current binary: each fenced block whose
/// first line is `$ mailtap ARGS` holds what `mailtap ARGS` writes (run from the repository,
/// TZ=UTC, NO_COLOR, in a pipe), standard output then standard error. After a change of
/// output, `MAILTAP_UPDATE_README=1 cargo test readme` writes the blocks anew.
#[test]
fn readme_examples_are_real_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let update = std::env::var_os("MAILTAP_UPDATE_README").is_some();
    const START: &str = "```\n$ mailtap ";
    let mut parts = readme.split(START);
    let mut rewritten = parts.next().unwrap().to_string();
    let mut checked = 0;
    for block in parts {
        let (command, rest) = block.split_once('\n').unwrap();
        let end = rest.find("```").unwrap();
        let expected = &rest[..end];
        let args: Vec<&str> = command.split_whitespace().collect();
        let out = Command::new(env!("CARGO_BIN_EXE_mailtap"))
            .args(&args)
            .current_dir(root)
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .output()
            .unwrap();
        // CSV's CRLF line ends are LF in the README.
        let actual = format!("{}{}", stdout(&out), stderr(&out)).replace("\r\n", "\n");
        if !update {
            assert_eq!(
                actual, expected,
                "README example `mailtap {command}` differs from the binary's output \
                 (MAILTAP_UPDATE_README=1 cargo test readme writes it anew)"
            );
        }
        rewritten.push_str(START);
        rewritten.push_str(command);
        rewritten.push('\n');
        rewritten.push_str(&actual);
        rewritten.push_str(&rest[end..]);
        checked += 1;
    }
    if update {
        std::fs::write(&path, rewritten).unwrap();
    }
    assert!(checked >= 5, "README examples found: {checked}");
}

// ---- JSON Schema ------------------------------------------------------------------------------

fn schema() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/mailtap-1.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, doc: &serde_json::Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

/// Real output, every shipped capture and the hand-made edge cases, validates against
/// schema/mailtap-1.schema.json, whose objects are closed: a field the schema (and so the doc
/// in src/report/json.rs) does not list fails.
#[test]
fn json_output_validates_against_the_schema() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let mut files: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
            .map(|p| p.to_str().unwrap().to_string())
            .collect();
    files.sort();
    for extra in [ends_after_ehlo(), gap_in_ehlo_reply()] {
        files.push(extra.to_str().unwrap().to_string());
    }
    let mut args = vec!["--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let doc: serde_json::Value = serde_json::from_slice(&run(&args).stdout).unwrap();
    assert!(doc["sessions"].as_array().unwrap().len() >= 28);
    assert_valid(&validator, &doc, "--format json");

    // Each JSON line is a session of the same schema.
    args[1] = "jsonl";
    let lines = stdout(&run(&args));
    let sessions: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let wrapped = serde_json::json!({
        "schema": "mailtap/1",
        "sessions": sessions,
        "summary": doc["summary"],
    });
    assert_valid(&validator, &wrapped, "--format jsonl");

    // The schema is closed: an undocumented field fails.
    let mut leaked = doc.clone();
    leaked["sessions"][0]["tls"]["records"] = serde_json::json!([1, 2]);
    leaked["sessions"][0]["internal"] = serde_json::json!(true);
    assert!(!validator.is_valid(&leaked));
}

/// The schema and the module doc name every verdict, finding kind and session field.
#[test]
fn schema_and_doc_name_everything() {
    let schema = schema();
    let defs = &schema["$defs"];
    let listed = |def: &str| -> std::collections::BTreeSet<String> {
        defs[def]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let verdicts: std::collections::BTreeSet<String> =
        Verdict::ALL.iter().map(|v| v.name().to_string()).collect();
    assert_eq!(listed("verdict"), verdicts);
    let kinds: std::collections::BTreeSet<String> = mailtap::classify::FindingKind::ALL
        .iter()
        .map(|k| k.name().to_string())
        .collect();
    assert_eq!(listed("finding_kind"), kinds);

    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report/json.rs"))
            .unwrap();
    for def in [
        "session",
        "tls",
        "summary",
        "reason",
        "reply",
        "command",
        "client_hello",
        "server_hello",
        "certificate",
        "alert",
    ] {
        for field in defs[def]["properties"].as_object().unwrap().keys() {
            assert!(
                doc.contains(&format!("`{field}`")) || doc.contains(&format!("\"{field}\"")),
                "src/report/json.rs does not document {def}.{field}"
            );
        }
    }
}

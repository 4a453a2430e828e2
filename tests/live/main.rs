//! Live behaviour: a capture streamed on standard input (any build), live capture on an
//! interface (`--features live`, root) and the end-to-end test with real Postfix and swaks
//! (`e2e.sh`, root, Debian's postfix and swaks).
//!
//! Tests that need root or the mail software say "skipped: ..." and pass without them, unless
//! `MAILTAP_LIVE_REQUIRED=1` (as CI sets it): then a missing requirement fails.

#[path = "../common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use common::capture_writer::{Capture, Format, Link};

fn mailtap() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailtap"));
    command.env("NO_COLOR", "1");
    command
}

/// A pcap (µs) capture: one finished session (not-offered), then one left open after the EHLO
/// reply offered STARTTLS. Returned as the file header and the records, one by one.
fn finished_and_open_sessions() -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut a = cap.tcp(
        "192.0.2.10:40000".parse().unwrap(),
        "198.51.100.25:25".parse().unwrap(),
    );
    a.handshake();
    a.server(b"220 mx.example.test ESMTP\r\n");
    a.client(b"EHLO client.example.test\r\n");
    a.server(b"250-mx.example.test\r\n250 8BITMIME\r\n");
    a.client(b"QUIT\r\n");
    a.server(b"221 2.0.0 Bye\r\n");
    // The stalled session opens before the first one closes, so that whatever stops on the
    // first session's end (-c 1) has read the second one's start: no race with the pipe.
    let mut b = cap.tcp(
        "192.0.2.11:40001".parse().unwrap(),
        "198.51.100.25:25".parse().unwrap(),
    );
    b.handshake();
    b.server(b"220 mx.example.test ESMTP\r\n");
    b.client(b"EHLO stalled.example.test\r\n");
    b.server(b"250-mx.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
    a.close();
    let bytes = cap.finish();
    let mut records = Vec::new();
    let mut rest = &bytes[24..];
    while rest.len() >= 16 {
        let len = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        records.push(rest[..16 + len].to_vec());
        rest = &rest[16 + len..];
    }
    (bytes[..24].to_vec(), records)
}

/// mailtap reading a pipe that stays open: its stdin, and its stdout line by line.
struct Piped {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Piped {
    fn start(args: &[&str]) -> Piped {
        let mut child = mailtap()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mailtap");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Piped {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    /// Writes the header and records the way tcpdump -U does: a write per packet.
    fn feed(&mut self, header: &[u8], records: &[Vec<u8>]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(header).unwrap();
        for record in records {
            stdin.write_all(record).unwrap();
            stdin.flush().unwrap();
        }
    }

    fn line(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    /// Sends a signal by name (as `kill -INT` does).
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the exit: (status, stderr). Panics after `within`.
    fn exit(mut self, within: Duration) -> (Option<i32>, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (status.code(), err);
            }
            if start.elapsed() > within {
                let _ = self.child.kill();
                panic!("mailtap still running after {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// `tcpdump -U -w - | mailtap -`: each session is reported as it ends, while the pipe stays
/// open (the reader does not wait to fill a buffer); Ctrl-C reports the open one, then the
/// summary, exit 0.
#[test]
fn stdin_pipe_reports_sessions_as_they_end_and_flushes_on_sigint() {
    let (header, records) = finished_and_open_sessions();
    let mut mailtap = Piped::start(&["--format", "jsonl", "-"]);
    mailtap.feed(&header, &records);
    let first = mailtap
        .line(Duration::from_secs(5))
        .expect("the finished session is reported while the pipe is still open");
    let first = json(&first);
    assert_eq!(first["client"], "192.0.2.10:40000");
    assert_eq!(first["verdict"], "not-offered");
    assert_eq!(first["end"]["how"], "closed");
    assert!(
        mailtap.line(Duration::from_millis(300)).is_none(),
        "the open session is not reported before the stop"
    );

    mailtap.signal("INT");
    let second = mailtap
        .line(Duration::from_secs(5))
        .expect("the open session is reported on SIGINT");
    let second = json(&second);
    assert_eq!(second["client"], "192.0.2.11:40001");
    assert_eq!(second["verdict"], "incomplete");
    assert_eq!(second["end"]["how"], "capture-ended");
    let (status, stderr) = mailtap.exit(Duration::from_secs(5));
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        stderr.contains("mailtap: 2 SMTP sessions (1 incomplete, 1 not-offered)"),
        "{stderr}"
    );
}

/// SIGTERM stops as Ctrl-C does; the table streams a row per session.
#[test]
fn stdin_pipe_streams_table_rows_and_stops_on_sigterm() {
    let (header, records) = finished_and_open_sessions();
    let mut mailtap = Piped::start(&["-"]);
    mailtap.feed(&header, &records);
    let head = mailtap.line(Duration::from_secs(5)).expect("a header");
    assert!(head.starts_with("time "), "{head}");
    assert!(head.ends_with("reason"), "{head}");
    let row = mailtap.line(Duration::from_secs(5)).expect("a row");
    assert!(
        row.contains("192.0.2.10:40000") && row.contains(" not-offered"),
        "{row}"
    );
    mailtap.signal("TERM");
    let row = mailtap.line(Duration::from_secs(5)).expect("the open one");
    assert!(
        row.contains("192.0.2.11:40001") && row.contains(" incomplete"),
        "{row}"
    );
    assert!(
        mailtap.line(Duration::from_millis(500)).is_none(),
        "standard output carries the rows only"
    );
    let (status, stderr) = mailtap.exit(Duration::from_secs(5));
    assert_eq!(status, Some(0), "{stderr}");
    // The summary goes to standard error.
    assert!(
        stderr.contains("mailtap: 2 SMTP sessions (1 incomplete, 1 not-offered)"),
        "{stderr}"
    );
}

/// A quiet pipe still ends idle sessions: time goes on between packets.
#[test]
fn stdin_pipe_ends_idle_sessions_while_no_packet_arrives() {
    let (header, records) = finished_and_open_sessions();
    let mut mailtap = Piped::start(&["--format", "jsonl", "--idle-timeout", "1", "-"]);
    mailtap.feed(&header, &records);
    let first = json(&mailtap.line(Duration::from_secs(5)).unwrap());
    assert_eq!(first["client"], "192.0.2.10:40000");
    let second = mailtap
        .line(Duration::from_secs(5))
        .expect("the silent session ends after --idle-timeout");
    let second = json(&second);
    assert_eq!(second["client"], "192.0.2.11:40001");
    assert_eq!(second["end"]["how"], "idle-timeout");
    drop(mailtap.stdin.take());
    let (status, stderr) = mailtap.exit(Duration::from_secs(5));
    assert_eq!(status, Some(0), "{stderr}");
}

/// `-c N` stops after N sessions; `--duration` after a time, pipe open or not.
#[test]
fn stdin_pipe_stops_by_count_and_duration() {
    let (header, records) = finished_and_open_sessions();
    let mut mailtap = Piped::start(&["--format", "jsonl", "-c", "1", "-"]);
    mailtap.feed(&header, &records);
    let (status, stderr) = mailtap.exit(Duration::from_secs(5));
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stderr.contains("2 SMTP sessions"), "{stderr}");

    let mut mailtap = Piped::start(&["--format", "json", "--duration", "1", "-"]);
    mailtap.feed(&header, &records[..3]);
    let start = Instant::now();
    let (status, stderr) = mailtap.exit(Duration::from_secs(5));
    assert_eq!(status, Some(0), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

/// `--duration` needs a live source; `-c` works on files too (the first N sessions).
#[test]
fn duration_needs_a_live_source() {
    let out = mailtap()
        .args(["--duration", "1", "some.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--duration applies to live capture"), "{err}");
}

/// A build without live capture says, in one line, how to get it.
#[cfg(not(feature = "live"))]
#[test]
fn without_the_feature_live_options_say_how_to_get_it() {
    for args in [
        &["-i", "lo"][..],
        &["-D"],
        &["-i", "eth0", "tcp", "port", "25"],
    ] {
        let out = mailtap().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("apt-get install libpcap-dev")
                && err.contains("cargo build --release --features live"),
            "{err}"
        );
    }
}

#[cfg(feature = "live")]
mod live {
    use super::*;

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
            })
            .unwrap_or(false)
    }

    fn have(program: &str) -> bool {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Skips (or, with MAILTAP_LIVE_REQUIRED=1, fails) when a requirement is missing.
    fn requires(ok: bool, what: &str) -> bool {
        if ok {
            return true;
        }
        if std::env::var_os("MAILTAP_LIVE_REQUIRED").is_some_and(|v| v == "1") {
            panic!("MAILTAP_LIVE_REQUIRED=1 but {what}");
        }
        eprintln!("skipped: {what}");
        false
    }

    fn stderr_of(args: &[&str]) -> (Option<i32>, String) {
        let out = mailtap().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn unknown_interface_lists_those_that_exist() {
        let (code, err) = stderr_of(&["-i", "mailtap-nosuch0"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("mailtap-nosuch0: no such interface; the interfaces are: ")
                && err.contains("lo"),
            "{err}"
        );
    }

    #[test]
    fn list_interfaces_names_loopback() {
        let out = mailtap().arg("-D").output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines()
                .any(|l| l.contains(".lo ") && l.contains("Loopback")),
            "{text}"
        );
    }

    #[test]
    fn bad_filter_gives_libpcaps_words_and_the_filter() {
        if !requires(is_root(), "not root: cannot open an interface") {
            return;
        }
        let (code, err) = stderr_of(&["-i", "lo", "tcp", "port", "smtpx"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("bad capture filter 'tcp port smtpx': ") && err.contains("smtpx"),
            "{err}"
        );
    }

    #[test]
    fn no_permission_names_the_capabilities() {
        if !requires(is_root(), "not root: cannot drop capabilities")
            || !requires(have("setpriv"), "setpriv is not installed")
        {
            return;
        }
        let out = Command::new("setpriv")
            .args([
                "--inh-caps=-all",
                "--bounding-set=-net_raw,-net_admin",
                env!("CARGO_BIN_EXE_mailtap"),
                "-i",
                "lo",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("lo: no permission to capture")
                && err.contains("run as root")
                && err.contains("setcap cap_net_raw,cap_net_admin=eip "),
            "{err}"
        );
    }

    #[test]
    fn write_file_that_cannot_be_made_is_an_error() {
        if !requires(is_root(), "not root: cannot open an interface") {
            return;
        }
        let (code, err) = stderr_of(&["-i", "lo", "-w", "/nonexistent/dir/x.pcap"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("/nonexistent/dir/x.pcap: cannot write the capture file"),
            "{err}"
        );
    }

    /// Real Postfix, swaks and a STARTTLS-masking relay in a network namespace, mailtap
    /// watching its loopback: see e2e.sh.
    #[test]
    fn end_to_end_with_postfix_and_swaks() {
        if !requires(is_root(), "not root: the end-to-end test needs root")
            || !requires(
                have("postfix") && have("swaks") && have("openssl") && have("ip"),
                "postfix, swaks, openssl or iproute2 is not installed",
            )
        {
            return;
        }
        let script = common::repo().join("tests/live/e2e.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_mailtap"))
            .output()
            .expect("run e2e.sh");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{text}");
        assert!(out.status.success(), "e2e.sh failed:\n{text}");
    }
}

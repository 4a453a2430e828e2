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
    a.dialogue_without_starttls();
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

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = common::temp_path(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `mailtap -i lo` on a port of its own, its stderr and stdout line by line.
    struct Watching {
        child: Child,
        out: Receiver<String>,
        err: Receiver<String>,
    }

    impl Watching {
        fn start(args: &[&str]) -> Watching {
            let mut command = mailtap();
            command.args(args);
            Watching::spawn(command)
        }

        /// As systemd's DynamicUser= with AmbientCapabilities= starts it: an ordinary user
        /// holding CAP_NET_RAW and CAP_NET_ADMIN.
        fn start_unprivileged(args: &[&str]) -> Watching {
            let mut command = Command::new("setpriv");
            command
                .env("NO_COLOR", "1")
                .args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "--inh-caps=+net_raw,+net_admin",
                    "--ambient-caps=+net_raw,+net_admin",
                    env!("CARGO_BIN_EXE_mailtap"),
                ])
                .args(args);
            Watching::spawn(command)
        }

        fn spawn(mut command: Command) -> Watching {
            let mut child = command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run mailtap");
            let lines = |r: Box<dyn Read + Send>| {
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    for line in BufReader::new(r).lines().map_while(Result::ok) {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                });
                rx
            };
            let out = lines(Box::new(child.stdout.take().unwrap()));
            let err = lines(Box::new(child.stderr.take().unwrap()));
            Watching { child, out, err }
        }

        /// The stderr lines up to the one containing `what` (panics after 10 s).
        fn stderr_until(&self, what: &str) -> String {
            let mut seen = String::new();
            while let Ok(line) = self.err.recv_timeout(Duration::from_secs(10)) {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(what) {
                    return seen;
                }
            }
            panic!("no '{what}' on mailtap's stderr: {seen}");
        }

        /// `Field:` lines of /proc/PID/status, whitespace collapsed.
        fn status(&self, field: &str) -> String {
            let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
                .expect("read /proc/PID/status");
            status
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{field}:")))
                .unwrap_or_else(|| panic!("no {field} in {status}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        }

        fn stop(&mut self) -> (Option<i32>, Vec<String>) {
            let status = Command::new("kill")
                .args(["-INT", &self.child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            let code = self.child.wait().unwrap().code();
            let mut rest = Vec::new();
            while let Ok(line) = self.out.recv_timeout(Duration::from_secs(2)) {
                rest.push(line);
            }
            (code, rest)
        }
    }

    /// A test that fails midway leaves no mailtap behind.
    impl Drop for Watching {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A small SMTP server on 127.0.0.1 (a port of its own) and one client session through it:
    /// EHLO offered no STARTTLS, then QUIT — a `not-offered` session.
    fn smtp_server() -> std::net::TcpListener {
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1")
    }

    fn smtp_session(server: &std::net::TcpListener) {
        use std::net::TcpStream;
        let port = server.local_addr().unwrap().port();
        let serve = |mut c: TcpStream| {
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut line = String::new();
            c.write_all(b"220 mx.mailtap.test ESMTP\r\n").unwrap();
            r.read_line(&mut line).unwrap();
            c.write_all(b"250-mx.mailtap.test\r\n250 8BITMIME\r\n")
                .unwrap();
            r.read_line(&mut line).unwrap();
            c.write_all(b"221 2.0.0 Bye\r\n").unwrap();
        };
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (conn, _) = server.accept().unwrap();
        let handle = std::thread::spawn(move || serve(conn));
        let mut r = BufReader::new(client.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        client.write_all(b"EHLO client.mailtap.test\r\n").unwrap();
        while !line.starts_with("250 ") {
            line.clear();
            r.read_line(&mut line).unwrap();
        }
        client.write_all(b"QUIT\r\n").unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("221"), "{line}");
        handle.join().unwrap();
    }

    fn next_session(w: &Watching, port: u16) -> serde_json::Value {
        let line = w
            .out
            .recv_timeout(Duration::from_secs(10))
            .expect("a session reported within 10 s");
        let session = json(&line);
        assert_eq!(session["server"], format!("127.0.0.1:{port}"), "{line}");
        session
    }

    /// Started as root, mailtap gives everything up once the interface is open: it runs as
    /// nobody, with no supplementary group and no capability, no new privileges, under a
    /// seccomp filter — and goes on reporting sessions right. `-Z root` stays root without
    /// capabilities.
    #[test]
    fn privileges_are_dropped_once_capturing() {
        if !requires(is_root(), "not root: cannot drop privileges") {
            return;
        }
        let server = smtp_server();
        let port = server.local_addr().unwrap().port();
        let filter = format!("tcp port {port}");
        let p = port.to_string();
        // Root by default (to nobody), root with -Z root, and as systemd starts it: an
        // ordinary user with the two capabilities in its ambient set.
        for (user, uid, ambient) in [
            (None, "65534", false),
            (Some("root"), "0", false),
            (None, "65534", true),
        ] {
            if ambient && !requires(have("setpriv"), "setpriv is not installed") {
                return;
            }
            let mut args = vec!["-i", "lo", "--format", "jsonl", "--port", &p];
            if let Some(user) = user {
                args.extend(["-Z", user]);
            }
            args.extend(filter.split(' '));
            let mut w = if ambient {
                Watching::start_unprivileged(&args)
            } else {
                Watching::start(&args)
            };
            let err = w.stderr_until("listening on lo");
            assert!(!err.contains("Landlock"), "this kernel has Landlock: {err}");
            let expected_user = user.unwrap_or("nobody");
            assert!(
                err.contains(&format!("running as {expected_user} without privileges")),
                "{err}"
            );
            assert_eq!(w.status("Uid"), [uid; 4].join(" "));
            assert_eq!(
                w.status("Gid").split(' ').next().unwrap(),
                if uid == "0" { "0" } else { "65534" }
            );
            assert_eq!(w.status("Groups"), "");
            // The bounding set can only be emptied with CAP_SETPCAP, which an ordinary user
            // lacks (systemd's CapabilityBoundingSet= narrows it there); with nothing
            // permitted and no new privileges it gives nothing back.
            let sets: &[&str] = if ambient {
                &["CapInh", "CapPrm", "CapEff", "CapAmb"]
            } else {
                &["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
            };
            for &caps in sets {
                assert_eq!(w.status(caps), "0000000000000000", "{caps}");
            }
            assert_eq!(w.status("NoNewPrivs"), "1");
            assert_eq!(w.status("Seccomp"), "2");
            // Still working after the drop: two sessions, both reported right.
            for _ in 0..2 {
                smtp_session(&server);
                let session = next_session(&w, port);
                assert_eq!(session["verdict"], "not-offered", "{session}");
                assert_eq!(session["end"]["how"], "closed", "{session}");
            }
            let (code, rest) = w.stop();
            assert_eq!(code, Some(0));
            assert!(rest.is_empty(), "{rest:?}");
        }
    }

    #[test]
    fn unknown_user_is_an_error_before_capturing() {
        if !requires(is_root(), "not root: cannot open an interface") {
            return;
        }
        let (code, err) =
            stderr_of(&["-i", "lo", "-Z", "mailtap-no-such-user", "tcp", "port", "1"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("no such user: 'mailtap-no-such-user'"),
            "{err}"
        );
    }

    /// Rotating files are made after the drop, so their folder must be writable by the user:
    /// mailtap says so at once instead of failing at the first rotation.
    #[test]
    fn rotation_into_a_folder_the_user_cannot_write_is_an_error() {
        if !requires(is_root(), "not root: cannot open an interface") {
            return;
        }
        let dir = temp_dir("rotate-denied");
        let file = dir.join("cap.pcap");
        let (code, err) = stderr_of(&[
            "-i",
            "lo",
            "-w",
            file.to_str().unwrap(),
            "-C",
            "1",
            "tcp",
            "port",
            "1",
        ]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("user nobody cannot make files there") && err.contains("-Z"),
            "{err}"
        );
    }

    /// `-w -C SIZE -W N` as nobody: a ring of N files, each a pcap mailtap reads; `-G` with
    /// strftime names.
    #[test]
    fn rotated_files_ring_and_follow_the_clock() {
        if !requires(is_root(), "not root: cannot open an interface") {
            return;
        }
        let server = smtp_server();
        let port = server.local_addr().unwrap().port();
        let p = port.to_string();
        let dir = temp_dir("rotate-live");
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        let ring = dir.join("ring.pcap");
        let filter = format!("tcp port {port}");
        let mut args = vec!["-i", "lo", "--format", "jsonl", "--port", &p];
        args.extend(["-w", ring.to_str().unwrap(), "-C", "2k", "-W", "3"]);
        args.extend(filter.split(' '));
        let mut w = Watching::start(&args);
        w.stderr_until("listening on lo");
        for _ in 0..8 {
            smtp_session(&server);
            assert_eq!(next_session(&w, port)["verdict"], "not-offered");
        }
        let (code, _) = w.stop();
        assert_eq!(code, Some(0));
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["ring.pcap0", "ring.pcap1", "ring.pcap2"]);
        for name in &names {
            let path = dir.join(name);
            let size = std::fs::metadata(&path).unwrap().len();
            assert!(size <= 2000 || size < 2100, "{name}: {size} bytes");
            let out = mailtap()
                .args(["--format", "json"])
                .arg(&path)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{name}");
        }

        // -G 1 -W 2: a new file each second, named by its start time; only 2 kept.
        let timed = dir.join("t-%Y%m%d-%H%M%S.pcap");
        let mut args = vec!["-i", "lo", "--format", "jsonl", "--port", &p];
        args.extend(["-w", timed.to_str().unwrap(), "-G", "1", "-W", "2"]);
        args.extend(filter.split(' '));
        let mut w = Watching::start(&args);
        w.stderr_until("listening on lo");
        for _ in 0..4 {
            smtp_session(&server);
            assert_eq!(next_session(&w, port)["verdict"], "not-offered");
            std::thread::sleep(Duration::from_millis(1100));
        }
        let (code, _) = w.stop();
        assert_eq!(code, Some(0));
        let timed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("t-"))
            .collect();
        assert_eq!(timed.len(), 2, "{timed:?}");
        for name in &timed {
            assert!(
                name.len() == "t-20261130-022507.pcap".len() && name.ends_with(".pcap"),
                "{name}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
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

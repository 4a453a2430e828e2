//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod capture_writer;
pub mod expected;
pub mod rng;
pub mod tls_vectors;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use capture_writer::{arp_request_frame, udp_packet, Capture, Format, Link, Resolution};
use rng::Rng;

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

/// Many interleaved sessions of every kind, some to the same server with and without
/// STARTTLS (inconsistent-offer), some left open to end by idle timeout or at the end, some
/// ending in the same frame as an idle sweep. Some are on a port only content detection finds
/// (their later segments, TLS included, do not look like SMTP), some on a second interface
/// or seen on both; some lose a segment; the clock sometimes steps back; UDP and ARP frames
/// come in between.
pub fn busy_capture(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut cap = Capture::new(Format::PcapNg, Link::Ethernet);
    let second = cap.add_interface(Link::Ethernet, Resolution::Nano);
    let mut open = Vec::new();
    for i in 0..400u16 {
        let port = if rng.chance(20) { 8025 } else { 25 };
        let server = std::net::SocketAddr::from(([198, 51, 100, 25], port));
        let client = format!("192.0.2.{}:{}", 1 + i % 200, 30_000 + i)
            .parse()
            .unwrap();
        let mut c = cap.tcp(client, server);
        let mut iface = if rng.chance(10) { second } else { 0 };
        c.on_interface(iface);
        c.handshake();
        c.server(b"220 mx.example.test ESMTP\r\n");
        if rng.chance(5) {
            // The rest of the connection is seen on the other interface.
            iface = second - iface;
            c.on_interface(iface);
        }
        c.client(b"EHLO client.example.test\r\n");
        if rng.chance(50) {
            c.server(b"250-mx.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
            c.client(b"STARTTLS\r\n");
            c.server(b"220 2.0.0 Ready to start TLS\r\n");
            replay_tls(&mut c, "tls13-ok.bin");
        } else {
            c.server(b"250-mx.example.test\r\n250 8BITMIME\r\n");
            c.client(b"MAIL FROM:<a@example.test>\r\n");
            c.server(b"250 2.1.0 Ok\r\n");
        }
        if rng.chance(10) {
            // A segment lost: what follows waits for it until the flow ends.
            c.skip_client(7);
            c.client(b"RSET\r\n");
        }
        cap.advance_time(Duration::from_millis(rng.range(1, 4000)));
        if rng.chance(5) {
            cap.rewind_time(Duration::from_millis(rng.range(1, 20_000)));
        }
        if rng.chance(10) {
            let dns = ("192.0.2.53:53".parse().unwrap(), client);
            cap.write_ip(0, &udp_packet(dns.0, dns.1, b"answer"));
            cap.write_raw(
                0,
                &arp_request_frame([192, 0, 2, 1].into(), [192, 0, 2, 2].into()),
            );
        }
        match rng.below(3) {
            0 => drop(c.close()),
            1 => open.push(c),
            _ => {}
        }
        if open.len() > 5 && rng.chance(30) {
            let i = rng.index(open.len());
            open.swap_remove(i).close();
        }
    }
    cap.finish()
}

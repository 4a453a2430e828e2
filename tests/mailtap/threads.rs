//! `--threads`: one capture split between several analyzers gives exactly what one gives, in
//! the same order — sessions, findings (the cross-session `inconsistent-offer` too) and the
//! summary.

use std::io::Cursor;
use std::ops::ControlFlow;
use std::time::Duration;

use mailtap::analyzer::Config;
use mailtap::parallel::{analyze_inputs, Event, Options};

use crate::common::capture_writer::{Capture, Format, Link};
use crate::common::rng::Rng;
use crate::common::{corpus, mailtap, replay_tls, repo, temp_path};

/// Every event of analysing `bytes` with `threads` analyzers, as text.
fn events(bytes: &[u8], threads: usize) -> Vec<String> {
    let options = Options {
        threads,
        split_one_input: true,
        ..Options::default()
    };
    let mut out = Vec::new();
    analyze_inputs(
        1,
        |_| Ok(Cursor::new(bytes)),
        &Config::default(),
        &options,
        |_, event| {
            out.push(match event {
                Event::Session(s) | Event::Rendered(s, _) => {
                    format!("{:?} {:?} {:?}", s.record, s.verdict, s.findings)
                }
                Event::Done(Ok(outcome)) => format!("{:?}", outcome.summary),
                Event::Done(Err(e)) => format!("error {e}"),
            });
            ControlFlow::Continue(())
        },
    );
    out
}

/// Many interleaved sessions of every kind, some to the same server with and without
/// STARTTLS (inconsistent-offer), some left open to end by idle timeout or at the end, some
/// ending in the same frame as an idle sweep.
fn busy_capture(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut cap = Capture::new(Format::PcapNg, Link::Ethernet);
    let server: std::net::SocketAddr = "198.51.100.25:25".parse().unwrap();
    let mut open = Vec::new();
    for i in 0..400u16 {
        let client = format!("192.0.2.{}:{}", 1 + i % 200, 30_000 + i)
            .parse()
            .unwrap();
        let mut c = cap.tcp(client, server);
        c.handshake();
        c.server(b"220 mx.example.test ESMTP\r\n");
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
        cap.advance_time(Duration::from_millis(rng.range(1, 4000)));
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

#[test]
fn one_capture_split_between_threads_gives_what_one_thread_gives() {
    for seed in 1..=3 {
        let bytes = busy_capture(seed);
        let one = events(&bytes, 1);
        assert!(one.len() > 300, "{}", one.len());
        for threads in [2, 3, 8] {
            assert_eq!(
                events(&bytes, threads),
                one,
                "seed {seed}, {threads} threads"
            );
        }
    }
}

#[test]
fn json_lines_rendered_by_the_shards_are_what_one_thread_writes() {
    let file = temp_path("busy-threads.pcapng");
    std::fs::write(&file, busy_capture(4)).unwrap();
    let path = file.to_str().unwrap();
    for args in [
        &["--format", "jsonl"][..],
        &["--format", "jsonl", "--only", "high,upgraded"],
    ] {
        let run = |threads: &str| {
            let mut all = args.to_vec();
            all.extend(["--threads", threads, path]);
            let out = mailtap(&all);
            (
                out.status.code(),
                String::from_utf8(out.stdout).unwrap(),
                out.stderr,
            )
        };
        let one = run("1");
        assert!(
            one.1.lines().count() > 100,
            "{args:?}: {}",
            one.1.lines().count()
        );
        assert_eq!(run("3"), one, "{args:?}");
    }
    // The merge adds `inconsistent-offer` to sessions the shards had rendered without it:
    // those are rendered again, and the lines above could not match otherwise.
    let out = mailtap(&["--format", "jsonl", "--threads", "3", path]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("inconsistent-offer"));
}

#[test]
fn every_fixture_and_corpus_capture_is_the_same_with_threads() {
    let mut files: Vec<_> = std::fs::read_dir(repo().join("fixtures"))
        .unwrap()
        .chain(
            corpus()
                .into_iter()
                .flat_map(|d| std::fs::read_dir(d).unwrap()),
        )
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() > 20);
    for file in files {
        let path = file.to_str().unwrap();
        let run = |threads: &str| {
            let out = mailtap(&["--format", "jsonl", "--threads", threads, path]);
            (out.status.code(), out.stdout, out.stderr)
        };
        assert_eq!(run("3"), run("1"), "{path}");
    }
}

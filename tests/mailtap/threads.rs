//! `--threads`: one capture split between several analyzers gives exactly what one gives, in
//! the same order — sessions, findings (the cross-session `inconsistent-offer` too) and the
//! summary.

use std::io::Cursor;
use std::ops::ControlFlow;
use std::time::Duration;

use mailtap::analyzer::Config;
use mailtap::parallel::{analyze_inputs, Event, Options};

use crate::common::capture_writer::{udp_packet, Capture, Format, Link};
use crate::common::{busy_capture, corpus, mailtap, mailtap_json, repo, temp_path};

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
                Event::Session(s) => format!("{:?} {:?} {:?}", s.record, s.verdict, s.findings),
                Event::Rendered(s, _) => format!("{:?} {:?} {:?}", s.record, s.verdict, s.findings),
                Event::Done(Ok(outcome)) => format!("{:?}", outcome.summary),
                Event::Done(Err(e)) => format!("error {e}"),
            });
            ControlFlow::Continue(())
        },
    );
    out
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
fn standard_input_a_compressed_capture_a_filter_and_damage_are_split_too() {
    let file = temp_path("busy-filter.pcapng");
    let busy = busy_capture(5);
    std::fs::write(&file, &busy).unwrap();
    let cut = temp_path("busy-cut.pcapng");
    std::fs::write(&cut, &busy[..busy.len() / 2]).unwrap();
    let compressed =
        repo().join("fixtures/compressed/relay-asa-keyword-swaks-both-legs.pcapng.zst");
    // Standard input from a file (a pipe is watched as it comes: see `watch`).
    let run = |threads: &str, args: &[&str], stdin: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mailtap"));
        command
            .args(["--format", "jsonl", "--threads", threads])
            .args(args);
        if let Some(path) = stdin {
            command.stdin(std::fs::File::open(path).unwrap());
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            out.stderr,
        )
    };
    let path = file.to_str().unwrap();
    let cases: [(&[&str], Option<&std::path::Path>); 4] = [
        (&["-"], Some(&file)),
        (&[compressed.to_str().unwrap()], None),
        (&["--client", "192.0.2.0/25", path], None),
        // Cut inside a record: the sessions before it, the same message, exit 2.
        (&[cut.to_str().unwrap()], None),
    ];
    for (args, stdin) in cases {
        let one = run("1", args, stdin);
        assert!(one.1.lines().count() > 1, "{args:?}: {one:?}");
        assert_eq!(run("3", args, stdin), one, "{args:?}");
    }
    assert_eq!(run("3", &[cut.to_str().unwrap()], None).0, Some(2));
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

#[test]
fn a_shard_keeps_the_captures_clock_when_its_own_frames_lag_behind() {
    // Connection A ends (RST) at a frame 25 s older than the one before it, a frame no shard
    // is handed (UDP). One analyzer dates A's tombstone at the capture's "now", 25 s after the
    // RST; the sweep 130 s after the RST keeps it (tombstones last 120 s), so A's straggler
    // after the sweep is ignored. A shard that dated it by its own frames would drop it at
    // that sweep and take the straggler as a new connection.
    let mut cap = Capture::new(Format::PcapNg, Link::Ethernet);
    let server: std::net::SocketAddr = "198.51.100.25:25".parse().unwrap();
    let mut a = cap.tcp("192.0.2.1:40000".parse().unwrap(), server);
    a.handshake();
    a.dialogue_without_starttls();
    let dns: std::net::SocketAddr = "192.0.2.53:53".parse().unwrap();
    cap.advance_time(Duration::from_secs(25));
    cap.write_ip(0, &udp_packet(dns, a.client_addr(), b"the newest frame"));
    cap.rewind_time(Duration::from_secs(25));
    a.rst_client();
    cap.advance_time(Duration::from_secs(130));
    cap.write_ip(0, &udp_packet(dns, a.client_addr(), b"a sweep comes here"));
    a.client(b"NOOP\r\n");
    let bytes = cap.finish();
    let one = events(&bytes, 1);
    assert_eq!(one.len(), 2, "one session and the summary: {one:#?}");
    for threads in [2, 3] {
        assert_eq!(events(&bytes, threads), one, "{threads} threads");
    }
}

#[test]
fn max_flows_bounds_the_whole_input_when_it_is_split() {
    // 20 connections open at once, 16 allowed: whichever way 2 or 3 shards share them, one
    // holds more than its part of the 16, and evicts, as one analyzer does.
    let mut cap = Capture::new(Format::PcapNg, Link::Ethernet);
    let server: std::net::SocketAddr = "198.51.100.25:25".parse().unwrap();
    let mut open = Vec::new();
    for port in 40_000..40_020 {
        let mut c = cap.tcp(std::net::SocketAddr::from(([192, 0, 2, 7], port)), server);
        c.handshake();
        c.server(b"220 mx.example.test ESMTP\r\n");
        open.push(c);
    }
    for c in &mut open {
        c.client(b"EHLO client.example.test\r\n");
    }
    let file = temp_path("twenty-open.pcapng");
    std::fs::write(&file, cap.finish()).unwrap();
    for threads in ["1", "2", "3"] {
        let (doc, _) = mailtap_json(&[
            "--max-flows",
            "16",
            "--threads",
            threads,
            file.to_str().unwrap(),
        ]);
        let evicted = doc["summary"]["evicted_flows"].as_u64().unwrap();
        assert!(evicted > 0, "{threads} threads: {}", doc["summary"]);
    }
}

//! Hostile and broken input: the fuzz corpus replayed, damaged capture files, terminal escapes
//! and credentials on the wire.
//!
//! - Every file of `fuzz/corpus/<target>/` goes through the same harness the fuzzer runs
//!   (`fuzz/src/lib.rs`), so CI replays the corpus, and every crash saved there stays fixed,
//!   without cargo-fuzz.
//! - Damaged files (made by the capture writer, and the fixtures when present): truncated at
//!   every byte, bits flipped, wrong magic, a 4 GB record length, zero-length records, unknown
//!   pcapng blocks, timestamps going backwards. Never a panic; either an error naming the
//!   offset, or every session before the damage.
//! - Wire text with terminal escapes never reaches a terminal raw; credentials never reach any
//!   output.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mailtap::analyzer::Config;
use mailtap::classify::SessionReport;
use mailtap::Analysis;

use crate::common::capture_writer::{Capture, Format, Link};
use crate::common::rng::Rng;
use crate::common::{analyze_bytes, mailtap, repo, temp_path, tls_vector};

#[path = "../../fuzz/src/lib.rs"]
mod harness;

// ---- dialogues ------------------------------------------------------------------------------

/// One SMTP dialogue as the two sides' turns, in order: (from the client, bytes).
#[derive(Clone)]
pub struct Dialogue {
    pub name: &'static str,
    pub turns: Vec<(bool, Vec<u8>)>,
    pub verdict: &'static str,
}

fn turns(lines: &[(bool, &[u8])]) -> Vec<(bool, Vec<u8>)> {
    lines.iter().map(|(c, b)| (*c, b.to_vec())).collect()
}

/// Four dialogues with four different verdicts.
pub fn dialogues() -> Vec<Dialogue> {
    const BANNER: &[u8] = b"220 mx.example.test ESMTP Postfix\r\n";
    const EHLO: &[u8] = b"EHLO client.example.test\r\n";
    const OFFER: &[u8] =
        b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
    let mut upgraded = turns(&[
        (false, BANNER),
        (true, EHLO),
        (false, OFFER),
        (true, b"STARTTLS\r\n"),
        (false, b"220 2.0.0 Ready to start TLS\r\n"),
    ]);
    upgraded.extend(tls_vector("tls12-ok.bin"));
    vec![
        Dialogue {
            name: "upgraded",
            turns: upgraded,
            verdict: "upgraded",
        },
        Dialogue {
            name: "stripped",
            turns: turns(&[
                (false, BANNER),
                (true, EHLO),
                (
                    false,
                    b"250-mx.example.test\r\n250-PIPELINING\r\n250-XXXXXXXA\r\n250 8BITMIME\r\n",
                ),
                (true, b"MAIL FROM:<alice@example.test>\r\n"),
                (false, b"250 2.1.0 Ok\r\n"),
                (true, b"QUIT\r\n"),
                (false, b"221 2.0.0 Bye\r\n"),
            ]),
            verdict: "stripped",
        },
        Dialogue {
            name: "rejected",
            turns: turns(&[
                (false, BANNER),
                (true, EHLO),
                (false, OFFER),
                (true, b"STARTTLS\r\n"),
                (
                    false,
                    b"454 4.7.0 TLS not available due to local problem\r\n",
                ),
                (true, b"QUIT\r\n"),
                (false, b"221 2.0.0 Bye\r\n"),
            ]),
            verdict: "rejected",
        },
        Dialogue {
            name: "not-used",
            turns: turns(&[
                (false, BANNER),
                (true, EHLO),
                (false, OFFER),
                (true, b"MAIL FROM:<alice@example.test>\r\n"),
                (false, b"250 2.1.0 Ok\r\n"),
                (true, b"RCPT TO:<bob@example.test>\r\n"),
                (false, b"250 2.1.5 Ok\r\n"),
                (true, b"DATA\r\n"),
                (false, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
                (
                    true,
                    b"Subject: hello\r\n\r\nHello Bob.\r\n250 not a reply\r\n.\r\n",
                ),
                (false, b"250 2.0.0 Ok: queued as 4ABC\r\n"),
                (true, b"QUIT\r\n"),
                (false, b"221 2.0.0 Bye\r\n"),
            ]),
            verdict: "not-used",
        },
    ]
}

/// The addresses of the `n`th session of a capture.
pub fn addresses(n: usize) -> (std::net::SocketAddr, std::net::SocketAddr) {
    (
        format!("192.0.2.{}:{}", 10 + n, 40_000 + n)
            .parse()
            .unwrap(),
        format!("198.51.100.{}:25", 25 + n).parse().unwrap(),
    )
}

/// Writes one whole connection: handshake, the turns in order, orderly close.
pub fn write_dialogue(cap: &mut Capture, n: usize, turns: &[(bool, Vec<u8>)]) {
    let (client, server) = addresses(n);
    let mut c = cap.tcp(client, server);
    c.handshake();
    for (from_client, bytes) in turns {
        if *from_client {
            c.client(bytes);
        } else {
            c.server(bytes);
        }
    }
    c.close();
}

/// The four dialogues one after the other in one capture.
fn four_sessions(format: Format) -> Vec<u8> {
    let mut cap = Capture::new(format, Link::Ethernet);
    for (n, d) in dialogues().iter().enumerate() {
        write_dialogue(&mut cap, n, &d.turns);
    }
    cap.finish()
}

const FORMATS: [Format; 7] = [
    Format::PcapMicro,
    Format::PcapNano,
    Format::PcapBigEndian,
    Format::PcapNanoBigEndian,
    Format::PcapNg,
    Format::PcapNgNano,
    Format::PcapNgBigEndian,
];

#[test]
fn the_dialogues_get_their_verdicts() {
    for format in FORMATS {
        let analysis = analyze_bytes(&four_sessions(format));
        let got: Vec<&str> = analysis.sessions.iter().map(|s| s.verdict.name()).collect();
        let want: Vec<&str> = dialogues().iter().map(|d| d.verdict).collect();
        assert_eq!(got, want, "{format:?}");
        assert!(analysis.damage.is_none());
    }
}

// ---- fuzz corpus replay ---------------------------------------------------------------------

fn corpus_dir() -> PathBuf {
    repo().join("fuzz/corpus")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn fuzz_corpus_replays_without_a_panic() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (target, harness) in harness::TARGETS {
        let files = files_in(&corpus_dir().join(target));
        assert!(
            !files.is_empty(),
            "fuzz/corpus/{target} is empty: run fuzz/seed.sh"
        );
        for file in files {
            let data = std::fs::read(&file).unwrap();
            total += 1;
            if let Err(e) = catch_unwind(|| harness(&data)) {
                let message = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {message}", file.display()));
            }
        }
    }
    assert!(total > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Writes the seed corpora (`fuzz/seed.sh` runs this with MAILTAP_FUZZ_SEEDS set to the
/// corpus folder): captures from the dialogues of these tests in every file format and link
/// type, the fixtures (when present), the TLS vectors.
#[test]
#[ignore = "writes the fuzz seed corpora; run by fuzz/seed.sh"]
fn write_fuzz_seeds() {
    let Some(out) = std::env::var_os("MAILTAP_FUZZ_SEEDS") else {
        eprintln!("MAILTAP_FUZZ_SEEDS is not set: nothing written");
        return;
    };
    let out = PathBuf::from(out);
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    use harness::seed;
    // Whole files: four sessions in every format; each dialogue alone; hostile ones.
    for format in FORMATS {
        let file = four_sessions(format);
        let name = format!("four-{format:?}").to_lowercase();
        write("capture", &name, &seed::capture(&file));
        write("pipeline", &name, &file);
    }
    let mut singles: Vec<(String, Vec<u8>)> = dialogues()
        .iter()
        .map(|d| {
            let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
            write_dialogue(&mut cap, 0, &d.turns);
            (d.name.to_string(), cap.finish())
        })
        .collect();
    singles.push(("escapes".into(), escapes_capture()));
    singles.push(("secrets".into(), secrets_capture()));
    for (name, file) in &singles {
        write("pipeline", name, file);
        write("reassembly", name, &seed::reassembly(file));
        write("session", name, &seed::session(file));
        write("analyzer", name, &seed::analyzer(file, 0x7b, 200));
        write(
            "analyzer",
            &format!("{name}-small"),
            &seed::analyzer(file, 0x80, 200),
        );
    }
    write("reassembly", "oracle", &seed::reassembly_oracle());
    // One frame of each link type.
    for link in [
        Link::Ethernet,
        Link::Vlan(7),
        Link::QinQ { outer: 5, inner: 6 },
        Link::Sll,
        Link::Sll2,
        Link::RawIp,
        Link::Ipv4,
        Link::Null,
        Link::Loop,
    ] {
        let mut cap = Capture::new(Format::PcapMicro, link);
        let mut c = cap.tcp(addresses(0).0, addresses(0).1);
        c.client(b"EHLO x\r\n");
        let file = cap.finish();
        for (i, frame) in seed::decode(&file, 1).into_iter().enumerate() {
            write("decode", &format!("{link:?}-{i}").to_lowercase(), &frame);
        }
    }
    let mut cap = Capture::new(Format::PcapMicro, Link::Ipv6);
    let mut c = cap.tcp(
        "[2001:db8::10]:40000".parse().unwrap(),
        "[2001:db8::25]:25".parse().unwrap(),
    );
    c.with_hop_by_hop();
    c.client(b"EHLO x\r\n");
    for frame in seed::decode(&cap.finish(), 1) {
        write("decode", "ipv6-hop-by-hop", &frame);
    }
    // SMTP lines.
    for (i, line) in [
        &b"250-XXXXXXXA\r\n250 STARTTLS\r\n"[..],
        b"220 *******************0*0*********2****\r\n",
        b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nBDAT 100 LAST\r\n",
        b"454 4.7.0 TLS not available\r\n530 5.7.0 Must issue a STARTTLS command first\r\n",
        b"staRttLs\r\nXXXXXXXX\r\nMAIL FROM:<a@b> SIZE=10\r\n",
        b"250-mx.example.test\r\n250-SIZE 10240000\r\n250-AUTH=LOGIN PLAIN\r\n250 8BITMIME\r\n",
    ]
    .iter()
    .enumerate()
    {
        write("smtp_parse", &format!("lines-{i}"), line);
    }
    // TLS vectors, as they are.
    for file in files_in(&repo().join("tests/data/tls")) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        write("tls", &name, &std::fs::read(&file).unwrap());
    }
    // Real captures, when the fixtures are there (the smaller ones, to keep the corpus small).
    for file in fixtures() {
        let data = std::fs::read(&file).unwrap();
        if data.len() > 24 * 1024 {
            continue;
        }
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        write("capture", &name, &seed::capture(&data));
        write("pipeline", &name, &data);
        write("reassembly", &name, &seed::reassembly(&data));
        write("session", &name, &seed::session(&data));
        write("analyzer", &name, &seed::analyzer(&data, 0x7b, 200));
    }
}

/// The capture files in fixtures/, if the fixtures exist.
fn fixtures() -> Vec<PathBuf> {
    files_in(&repo().join("fixtures"))
        .into_iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".pcap") || name.ends_with(".pcapng")
        })
        .collect()
}

// ---- damaged files --------------------------------------------------------------------------

/// A record of a capture file: where it starts and ends, and whether it holds a packet.
#[derive(Clone, Copy, Debug)]
struct Record {
    start: usize,
    end: usize,
    packet: bool,
}

/// The records of a well-formed pcap or pcapng file (the file header is a record that holds
/// no packet).
fn records(file: &[u8]) -> Vec<Record> {
    let word = |at: usize, be: bool| {
        let b: [u8; 4] = file[at..at + 4].try_into().unwrap();
        if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    } as usize;
    let mut out = Vec::new();
    if file[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut at = 0;
        let mut be = false;
        while at < file.len() {
            if word(at, false) == 0x0a0d_0d0a {
                be = file[at + 8..at + 12] == [0x1a, 0x2b, 0x3c, 0x4d];
            }
            let kind = word(at, be);
            let len = word(at + 4, be);
            out.push(Record {
                start: at,
                end: at + len,
                packet: kind == 6 || kind == 3,
            });
            at += len;
        }
    } else {
        let be = matches!(
            file[..4],
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d]
        );
        out.push(Record {
            start: 0,
            end: 24,
            packet: false,
        });
        let mut at = 24;
        while at < file.len() {
            let end = at + 16 + word(at + 8, be);
            out.push(Record {
                start: at,
                end,
                packet: true,
            });
            at = end;
        }
    }
    out
}

fn analyze_caught(
    data: &[u8],
    what: &str,
) -> Result<Analysis, mailtap::capture::file::CaptureError> {
    match catch_unwind(AssertUnwindSafe(|| {
        mailtap::analyze(data, &Config::default())
    })) {
        Ok(result) => result,
        Err(_) => panic!("mailtap::analyze panicked on {what}"),
    }
}

fn key(s: &SessionReport) -> (String, String, u64) {
    (
        s.record.client.to_string(),
        s.record.server.to_string(),
        s.record.first_frame,
    )
}

/// The sessions of the file cut cleanly after its `frames`th packet record, by key, with
/// verdict and finding kinds: what must be reported when damage follows that record.
fn reference(file: &[u8], records: &[Record], frames: u64) -> Vec<((String, String, u64), String)> {
    let end = records
        .iter()
        .filter(|r| r.packet)
        .nth(frames as usize)
        .map_or(file.len(), |r| r.start);
    let a = analyze_bytes(&file[..end]);
    assert!(a.damage.is_none());
    assert_eq!(a.summary.frames, frames);
    a.sessions.iter().map(|s| (key(s), describe(s))).collect()
}

fn describe(s: &SessionReport) -> String {
    let kinds: Vec<&str> = s.findings.iter().map(|f| f.kind.name()).collect();
    format!("{} [{}]", s.verdict, kinds.join(","))
}

/// The verdict and the findings that depend on the session alone (not `inconsistent-offer`,
/// which compares it with the other sessions of the file).
fn describe_alone(s: &SessionReport) -> String {
    let kinds: Vec<&str> = s
        .findings
        .iter()
        .map(|f| f.kind.name())
        .filter(|k| *k != "inconsistent-offer")
        .collect();
    format!("{} [{}]", s.verdict, kinds.join(","))
}

/// Cuts the file at each of `cuts`: an error at offset 0 when not even the
/// header is there; else every frame before the cut is read, the damage names the offset of
/// the record that was cut, and the sessions are exactly those of the file cut cleanly before
/// that record — which keep the whole file's verdict when they had ended before the cut.
fn check_truncations(file: &[u8], name: &str, cuts: impl IntoIterator<Item = usize>) {
    let full = analyze_caught(file, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(full.damage.is_none(), "{name}: {:?}", full.damage);
    let records = records(file);
    assert_eq!(
        records.last().unwrap().end,
        file.len(),
        "{name}: record walk"
    );
    let header_end = records[0].end;
    let mut references = std::collections::HashMap::new();
    for cut in cuts.into_iter().chain([header_end, file.len() - 1]) {
        let what = format!("{name} cut at {cut}");
        let data = &file[..cut];
        let result = analyze_caught(data, &what);
        let frames_before = records.iter().filter(|r| r.packet && r.end <= cut).count() as u64;
        let cut_record = records.iter().find(|r| r.start < cut && cut < r.end);
        let analysis = match result {
            Err(e) => {
                assert!(cut < header_end, "{what}: {e}");
                assert_eq!(e.offset, 0, "{what}: {e}");
                assert!(e.what.contains("expected"), "{what}: {e}");
                continue;
            }
            Ok(a) => a,
        };
        assert_eq!(analysis.summary.frames, frames_before, "{what}");
        match (cut_record, &analysis.damage) {
            (Some(r), Some(e)) => {
                assert_eq!(e.offset, r.start as u64, "{what}: {e}");
                assert!(e.what.contains("expected"), "{what}: {e}");
                assert!(e.what.len() < 200, "{what}: {e}");
            }
            (None, None) => {}
            (r, d) => panic!("{what}: record {r:?}, damage {d:?}"),
        }
        let want = references
            .entry(frames_before)
            .or_insert_with(|| reference(file, &records, frames_before));
        let got: Vec<_> = analysis
            .sessions
            .iter()
            .map(|s| (key(s), describe(s)))
            .collect();
        assert_eq!(&got, want, "{what}");
        for s in full
            .sessions
            .iter()
            .filter(|s| s.record.last_frame <= frames_before)
        {
            assert!(
                analysis
                    .sessions
                    .iter()
                    .any(|t| key(t) == key(s) && describe_alone(t) == describe_alone(s)),
                "{what}: session {:?} {} not reported as in the whole file",
                key(s),
                describe(s)
            );
        }
    }
}

/// One short session (the STARTTLS rejected with 454), cut at every byte.
fn small_file(format: Format) -> Vec<u8> {
    let mut cap = Capture::new(format, Link::Ethernet);
    write_dialogue(&mut cap, 0, &dialogues()[2].turns);
    cap.finish()
}

#[test]
fn small_pcap_truncated_at_every_byte() {
    let file = small_file(Format::PcapMicro);
    check_truncations(&file, "small pcap", 0..file.len());
}

#[test]
fn small_pcapng_truncated_at_every_byte() {
    let file = small_file(Format::PcapNgBigEndian);
    check_truncations(&file, "small big-endian pcapng", 0..file.len());
}

/// Offsets that stand for every way of cutting a record: just after its start, inside its
/// header, just before its end (and at its start, which is a clean cut).
fn record_cuts(records: &[Record], every: usize) -> Vec<usize> {
    records
        .iter()
        .step_by(every)
        .flat_map(|r| [r.start, r.start + 1, r.start + 7, r.end - 1])
        .collect()
}

#[test]
fn four_sessions_truncated_inside_every_record() {
    for format in FORMATS {
        let file = four_sessions(format);
        // Every record of the two common layouts, every third of the others.
        let every = if matches!(format, Format::PcapMicro | Format::PcapNg) {
            1
        } else {
            3
        };
        let cuts = record_cuts(&records(&file), every);
        check_truncations(&file, &format!("{format:?}"), cuts);
    }
}

#[test]
fn fixtures_truncated_anywhere() {
    for (i, path) in fixtures().into_iter().enumerate() {
        let file = std::fs::read(&path).unwrap();
        let records = records(&file);
        let mut cuts = record_cuts(&records[..records.len().min(6)], 1);
        let mut rng = Rng(0xc0ffee + i as u64);
        cuts.extend((0..16).map(|_| rng.index(file.len())));
        check_truncations(&file, &path.display().to_string(), cuts);
        // As a new user would see it: a copy cut in the middle of a record.
        let middle = records[records.len() / 2];
        let cut = temp_path(&format!(
            "cut-{}",
            path.file_name().unwrap().to_string_lossy()
        ));
        std::fs::write(&cut, &file[..middle.start + 3]).unwrap();
        let sessions = analyze_bytes(&file[..middle.start]).sessions.len();
        assert_partly_readable(&cut, middle.start as u64, sessions);
    }
}

/// Flips 1 to 8 bits anywhere, `variants` times: never a panic; an error or damage names an
/// offset inside the file.
fn check_bit_flips(file: &[u8], name: &str, variants: usize, seed: u64) {
    let mut rng = Rng(seed);
    for v in 0..variants {
        let mut data = file.to_vec();
        let flips = 1 + rng.index(8);
        for _ in 0..flips {
            let at = rng.index(data.len());
            data[at] ^= 1 << rng.index(8);
        }
        let what = format!("{name} variant {v} (seed {seed})");
        match analyze_caught(&data, &what) {
            Ok(a) => {
                if let Some(e) = &a.damage {
                    assert!(e.offset < data.len() as u64, "{what}: {e}");
                }
                harness::check_reports(a.sessions, &a.summary);
            }
            Err(e) => assert!(e.offset < data.len() as u64, "{what}: {e}"),
        }
    }
}

#[test]
fn flipped_bits_never_panic() {
    for (i, format) in FORMATS.into_iter().enumerate() {
        let file = four_sessions(format);
        check_bit_flips(&file, &format!("{format:?}"), 80, 0x5eed + i as u64);
    }
    for (i, path) in fixtures().into_iter().enumerate() {
        let file = std::fs::read(&path).unwrap();
        check_bit_flips(&file, &path.display().to_string(), 25, 0xf1a7 + i as u64);
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Nothing readable: exit 2 and one line on stderr naming the file, the offset and what was
/// expected.
fn assert_unreadable(path: &Path, offset: u64) {
    let out = mailtap(&[path.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains(&format!("byte offset {offset}")), "{err}");
    assert!(err.contains("expected"), "{err}");
}

/// Part readable: the sessions on stdout, an error naming the file and the offset, exit 2 (a
/// CI job must not pass on half a capture); with --allow-damage, a warning and exit 0.
fn assert_partly_readable(path: &Path, offset: u64, sessions: usize) {
    let allowed = mailtap(&["--format", "json", "--allow-damage", path.to_str().unwrap()]);
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert!(stderr(&allowed).contains("warning"), "{}", stderr(&allowed));
    let out = mailtap(&["--format", "json", path.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--allow-damage"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains(&format!("byte offset {offset}")), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["sessions"].as_array().unwrap().len(), sessions, "{err}");
    assert_eq!(doc["summary"]["errors"].as_array().unwrap().len(), 1);
}

#[test]
fn wrong_magic_is_an_error_at_offset_0() {
    for format in FORMATS {
        let mut file = four_sessions(format);
        file[..4].copy_from_slice(b"GIF8");
        let e = analyze_caught(&file, "wrong magic").expect_err("not a capture");
        assert_eq!(e.offset, 0);
        assert!(e.what.contains("expected"), "{e}");
        let path = temp_path(&format!("wrong-magic-{format:?}.pcap"));
        std::fs::write(&path, &file).unwrap();
        assert_unreadable(&path, 0);
    }
    for (name, data) in [("empty", &b""[..]), ("short", b"\xd4\xc3\xb2")] {
        let path = temp_path(&format!("{name}.pcap"));
        std::fs::write(&path, data).unwrap();
        assert_unreadable(&path, 0);
    }
}

#[test]
fn cut_in_the_first_record_is_unreadable_on_the_command_line() {
    for format in [Format::PcapMicro, Format::PcapNg] {
        let file = four_sessions(format);
        let records = records(&file);
        let first_packet = records.iter().find(|r| r.packet).unwrap();
        let path = temp_path(&format!("cut-first-{format:?}.pcap"));
        std::fs::write(&path, &file[..first_packet.start + 10]).unwrap();
        assert_unreadable(&path, first_packet.start as u64);
    }
}

/// Sets a 32-bit field of the file, in the file's byte order.
fn set_u32(file: &mut [u8], at: usize, value: u32, be: bool) {
    let bytes = if be {
        value.to_be_bytes()
    } else {
        value.to_le_bytes()
    };
    file[at..at + 4].copy_from_slice(&bytes);
}

fn is_be(format: Format) -> bool {
    matches!(
        format,
        Format::PcapBigEndian | Format::PcapNanoBigEndian | Format::PcapNgBigEndian
    )
}

#[test]
fn absurd_record_length_keeps_what_came_before() {
    for format in FORMATS {
        let file = four_sessions(format);
        let full = analyze_bytes(&file);
        // The record right after the second session.
        let boundary = full.sessions[1].record.last_frame as usize;
        let records = records(&file);
        let record = records
            .iter()
            .filter(|r| r.packet)
            .nth(boundary)
            .copied()
            .unwrap();
        let ng = matches!(
            format,
            Format::PcapNg | Format::PcapNgNano | Format::PcapNgBigEndian
        );
        // The record's caplen, and for pcapng also the block length, at 4 GB.
        let fields: &[usize] = if ng { &[20, 4] } else { &[8] };
        for &field in fields {
            let mut damaged = file.clone();
            set_u32(&mut damaged, record.start + field, u32::MAX, is_be(format));
            let what = format!("{format:?} field {field} at 4 GB");
            let a = analyze_caught(&damaged, &what).unwrap_or_else(|e| panic!("{what}: {e}"));
            let e = a
                .damage
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: no damage"));
            assert_eq!(e.offset, record.start as u64, "{what}: {e}");
            assert_eq!(a.summary.frames, boundary as u64, "{what}");
            let verdicts: Vec<&str> = a.sessions.iter().map(|s| s.verdict.name()).collect();
            assert_eq!(verdicts, ["upgraded", "stripped"], "{what}");
            let path = temp_path(&format!("caplen-4g-{format:?}-{field}.pcap"));
            std::fs::write(&path, &damaged).unwrap();
            assert_partly_readable(&path, record.start as u64, 2);
        }
    }
}

/// Inserts `extra` before every packet record after the file header (and SHB/IDB).
fn interleave(file: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records(file) {
        if r.packet {
            out.extend_from_slice(extra);
        }
        out.extend_from_slice(&file[r.start..r.end]);
    }
    out
}

fn pcapng_block(kind: u32, body: &[u8], be: bool) -> Vec<u8> {
    let mut b = Vec::new();
    let len = (12 + body.len()) as u32;
    let word = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    b.extend_from_slice(&word(kind));
    b.extend_from_slice(&word(len));
    b.extend_from_slice(body);
    b.extend_from_slice(&word(len));
    b
}

fn verdicts(a: &Analysis) -> Vec<&'static str> {
    a.sessions.iter().map(|s| s.verdict.name()).collect()
}

#[test]
fn zero_length_records_and_unknown_blocks_are_skipped() {
    let want: Vec<&str> = dialogues().iter().map(|d| d.verdict).collect();
    for format in FORMATS {
        let file = four_sessions(format);
        let be = is_be(format);
        let ng = file[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
        let mut damaged = Vec::new();
        if ng {
            // An Enhanced Packet Block of zero bytes on interface 0, and two unknown blocks.
            let mut epb = Vec::new();
            for v in [0u32, 0, 0, 0, 0] {
                epb.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
            }
            let mut extra = pcapng_block(6, &epb, be);
            // Block types no one defined (one with the "local use" bit), and a custom block
            // (a Private Enterprise Number, then anything).
            extra.extend(pcapng_block(0x0000_0f00, b"junkjunk", be));
            extra.extend(pcapng_block(0x8000_1234, b"", be));
            extra.extend(pcapng_block(0x0000_0bad, b"\0\0\x7f\xffcustom!!", be));
            damaged.push(("zero-length and unknown blocks", interleave(&file, &extra)));
        } else {
            let zero = [0u8; 16];
            damaged.push(("zero-length records", interleave(&file, &zero)));
        }
        for (what, data) in damaged {
            let what = format!("{format:?}: {what}");
            let a = analyze_caught(&data, &what).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(a.damage.is_none(), "{what}: {:?}", a.damage);
            assert_eq!(verdicts(&a), want, "{what}");
        }
    }
}

#[test]
fn backwards_and_jumping_timestamps() {
    let want: Vec<&str> = dialogues().iter().map(|d| d.verdict).collect();
    for format in [Format::PcapMicro, Format::PcapNgNano] {
        // Every frame a second older than the one before.
        let mut cap = Capture::new(format, Link::Ethernet);
        cap.set_time(Duration::from_secs(1_800_000_000));
        cap.set_time_step(Duration::ZERO);
        for (n, d) in dialogues().iter().enumerate() {
            let (client, server) = addresses(n);
            let mut c = cap.tcp(client, server);
            c.handshake();
            for (from_client, bytes) in &d.turns {
                cap.rewind_time(Duration::from_secs(1));
                if *from_client {
                    c.client(bytes);
                } else {
                    c.server(bytes);
                }
            }
            c.close();
        }
        let a = analyze_caught(&cap.finish(), "backwards").unwrap();
        assert_eq!(verdicts(&a), want, "{format:?} backwards");

        // Time 0, then far in the future, then back: no panic, nothing lost.
        let mut cap = Capture::new(format, Link::Ethernet);
        cap.set_time(Duration::ZERO);
        for (n, d) in dialogues().iter().enumerate() {
            if n == 2 {
                cap.set_time(Duration::from_secs(4_000_000_000));
            }
            if n == 3 {
                cap.set_time(Duration::from_secs(1));
            }
            write_dialogue(&mut cap, n, &d.turns);
        }
        let a = analyze_caught(&cap.finish(), "jumping").unwrap();
        assert_eq!(verdicts(&a), want, "{format:?} jumping");
    }
}

// ---- terminal safety and secrets ------------------------------------------------------------

const ESCAPE_LINES: [&[u8]; 6] = [
    b"220 mx.example.test\x1b[2J\x1b[H ESMTP \x1b]0;pwned\x07 \xc2\x9b31m \xff\xfe\x7f\x08",
    b"250-mx.example.test \x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    b"250-PIPELINING\x00\x05\x1b[6n",
    b"EHLO evil\x1b[1;1H\x1bc\x0b\x0c.example",
    b"MAIL FROM:<a\x1b[31m@b>\x9b\xe2\x80\xae",
    b"250 2.1.0 Ok \x1bP+q\x1b\\ \xed\xa0\x80",
];

/// A session whose banner, EHLO, EHLO reply, commands and replies carry terminal escapes,
/// other control characters and invalid UTF-8.
fn escapes_capture() -> Vec<u8> {
    let [banner, ehlo_1, ehlo_2, ehlo, mail, ok] = ESCAPE_LINES;
    let crlf = |l: &[u8]| [l, b"\r\n"].concat();
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let t = vec![
        (false, crlf(banner)),
        (true, crlf(ehlo)),
        (
            false,
            [crlf(ehlo_1), crlf(ehlo_2), b"250 STARTTLS\r\n".to_vec()].concat(),
        ),
        (true, crlf(mail)),
        (false, crlf(ok)),
        (true, b"XXXX\x1b[2J\r\n".to_vec()),
        (
            false,
            b"502 5.5.2 \x1b[2JError: command not recognized\r\n".to_vec(),
        ),
        (true, b"QUIT\r\n".to_vec()),
    ];
    write_dialogue(&mut cap, 0, &t);
    cap.finish()
}

/// The bytes a JSON string from mailtap stands for: `\xNN` is a byte, `\\` a backslash.
fn recover(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'\\' && tail.first() == Some(&b'\\') {
            out.push(b'\\');
            rest = &tail[1..];
        } else if b == b'\\' && tail.first() == Some(&b'x') && tail.len() >= 3 {
            let hex = std::str::from_utf8(&tail[1..3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            rest = &tail[3..];
        } else {
            out.push(b);
            rest = tail;
        }
    }
    out
}

fn assert_no_raw_controls(out: &[u8], what: &str) {
    let text = std::str::from_utf8(out).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    harness::assert_no_controls(text, what);
    assert!(!out.contains(&0x1b), "{what}");
}

#[test]
fn terminal_escapes_never_reach_the_terminal() {
    let path = temp_path("escapes.pcap");
    std::fs::write(&path, escapes_capture()).unwrap();
    let p = path.to_str().unwrap();
    for format in ["table", "transcript"] {
        let out = mailtap(&["--format", format, p]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_no_raw_controls(&out.stdout, format);
        assert_no_raw_controls(&out.stderr, format);
    }
    let transcript = mailtap(&["--format", "transcript", p]);
    let text = String::from_utf8(transcript.stdout).unwrap();
    assert!(text.contains("\\x1b[2J"), "{text}");
    // JSON: valid, and the lines' bytes can be recovered exactly.
    for format in ["json", "jsonl"] {
        let out = mailtap(&["--format", format, p]);
        let first = out.stdout.split(|&b| b == b'\n').next().unwrap();
        let doc: serde_json::Value = if format == "json" {
            serde_json::from_slice(&out.stdout).expect("valid JSON")
        } else {
            serde_json::from_slice(first).expect("valid JSON line")
        };
        let session = if format == "json" {
            &doc["sessions"][0]
        } else {
            &doc
        };
        let banner = session["banner"]["lines"][0].as_str().unwrap();
        assert_eq!(recover(banner), ESCAPE_LINES[0], "{format}");
        let hello = &session["hello"][0];
        let ehlo_reply: Vec<Vec<u8>> = hello["reply"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| recover(l.as_str().unwrap()))
            .collect();
        assert_eq!(ehlo_reply[0], ESCAPE_LINES[1], "{format}");
        assert_eq!(ehlo_reply[1], ESCAPE_LINES[2], "{format}");
        assert_eq!(
            recover(hello["command"]["line"].as_str().unwrap()),
            ESCAPE_LINES[3],
            "{format}"
        );
    }
}

/// base64 of the credentials below: they must never appear.
const SECRETS: [&str; 8] = [
    "AGFsaWNlAFMzY3JldFBsYWluIQ==", // \0alice\0S3cretPlain!
    "Ym9i",                         // bob
    "UzNjcmV0TG9naW4h",             // S3cretLogin!
    "dXNlcj1jYXJvbEBleGFtcGxlLnRlc3QBYXV0aD1CZWFyZXIgeWEyOS5TM2NyZXRUb2tlbgEB", // XOAUTH2
    "AGRhdmUAUzNjcmV0Tm9Jbml0aWFs", // \0dave\0S3cretNoInitial
    "ZXZl",                         // eve
    "UzNjcmV0UGlwZWxpbmVk",         // S3cretPipelined
    "S3cret",
];

/// Sessions using AUTH PLAIN (initial response, and after 334), LOGIN, XOAUTH2 (with the
/// server's error challenge and the client's empty answer), LOGIN pipelined, lower case.
fn secrets_capture() -> Vec<u8> {
    let ehlo = |c: &mut crate::common::capture_writer::Conn| {
        c.handshake();
        c.server(b"220 mx.example.test ESMTP\r\n");
        c.client(b"EHLO client.example.test\r\n");
        c.server(b"250-mx.example.test\r\n250-AUTH PLAIN LOGIN XOAUTH2\r\n250 STARTTLS\r\n");
    };
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let sessions: [&[(bool, &[u8])]; 6] = [
        &[
            (true, b"AUTH PLAIN AGFsaWNlAFMzY3JldFBsYWluIQ==\r\n"),
            (false, b"235 2.7.0 Authentication successful\r\n"),
        ],
        &[
            (true, b"AUTH LOGIN\r\n"),
            (false, b"334 VXNlcm5hbWU6\r\n"),
            (true, b"Ym9i\r\n"),
            (false, b"334 UGFzc3dvcmQ6\r\n"),
            (true, b"UzNjcmV0TG9naW4h\r\n"),
            (false, b"235 2.7.0 Authentication successful\r\n"),
        ],
        &[
            (
                true,
                b"AUTH XOAUTH2 dXNlcj1jYXJvbEBleGFtcGxlLnRlc3QBYXV0aD1CZWFyZXIgeWEyOS5TM2NyZXRUb2tlbgEB\r\n",
            ),
            (false, b"334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0=\r\n"),
            (true, b"\r\n"),
            (false, b"535 5.7.8 Authentication failed\r\n"),
        ],
        &[
            (true, b"AUTH PLAIN\r\n"),
            (false, b"334 \r\n"),
            (true, b"AGRhdmUAUzNjcmV0Tm9Jbml0aWFs\r\n"),
            (false, b"235 2.7.0 Authentication successful\r\n"),
        ],
        &[
            (true, b"AUTH LOGIN\r\nZXZl\r\nUzNjcmV0UGlwZWxpbmVk\r\n"),
            (false, b"334 VXNlcm5hbWU6\r\n"),
            (false, b"334 UGFzc3dvcmQ6\r\n"),
            (false, b"235 2.7.0 Authentication successful\r\n"),
        ],
        &[
            (true, b"auth\tplain\tAGFsaWNlAFMzY3JldFBsYWluIQ==\r\n"),
            (false, b"235 2.7.0 Authentication successful\r\n"),
        ],
    ];
    for (n, steps) in sessions.iter().enumerate() {
        let (client, server) = addresses(n);
        let mut c = cap.tcp(client, server);
        ehlo(&mut c);
        for (from_client, bytes) in steps.iter() {
            if *from_client {
                c.client(bytes);
            } else {
                c.server(bytes);
            }
        }
        c.client(b"MAIL FROM:<alice@example.test>\r\n");
        c.server(b"250 2.1.0 Ok\r\n");
        c.close();
    }
    cap.finish()
}

#[test]
fn credentials_never_appear_in_any_output() {
    let path = temp_path("secrets.pcap");
    std::fs::write(&path, secrets_capture()).unwrap();
    let p = path.to_str().unwrap();
    for format in ["table", "json", "jsonl", "transcript"] {
        let out = mailtap(&["--format", format, p]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        for secret in SECRETS {
            assert!(!text.contains(secret), "{format}: {secret} in\n{text}");
        }
        // The mechanism is named instead.
        assert!(text.contains("auth-before-tls"), "{format}:\n{text}");
    }
    let (doc, _) = crate::common::mailtap_json(&[p]);
    let mechanisms: Vec<&str> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["auth"]["mechanism"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        mechanisms,
        ["PLAIN", "LOGIN", "XOAUTH2", "PLAIN", "LOGIN", "PLAIN"]
    );
}

/// Credentials where the dialogue goes wrong: pipelined after STARTTLS (command injection
/// evidence), sent in cleartext after the `220` (plaintext-after-upgrade evidence), a capture
/// that starts at a `334` challenge, a `334` lost in a capture gap.
fn misplaced_secrets_capture() -> Vec<u8> {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let opening = |c: &mut crate::common::capture_writer::Conn| {
        c.handshake();
        c.server(b"220 mx.example.test ESMTP\r\n");
        c.client(b"EHLO client.example.test\r\n");
        c.server(b"250-mx.example.test\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n");
    };
    // Pipelined after STARTTLS, then a real handshake.
    let (client, server) = addresses(0);
    let mut c = cap.tcp(client, server);
    opening(&mut c);
    c.client(b"STARTTLS\r\nAUTH PLAIN AGFsaWNlAFMzY3JldFBsYWluIQ==\r\n");
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
    for (from_client, bytes) in tls_vector("tls12-ok.bin") {
        if from_client {
            c.client(&bytes);
        } else {
            c.server(&bytes);
        }
    }
    c.close();
    // In cleartext after the 220.
    let (client, server) = addresses(1);
    let mut c = cap.tcp(client, server);
    opening(&mut c);
    c.client(b"STARTTLS\r\n");
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
    c.client(b"AUTH LOGIN Ym9i\r\nUzNjcmV0TG9naW4h\r\n");
    c.server(b"454 4.7.0 TLS not available\r\n");
    c.close();
    // The capture starts at the challenge.
    let (client, server) = addresses(2);
    let mut c = cap.tcp(client, server);
    c.with_isn(7_000, 9_000);
    c.server(b"334 VXNlcm5hbWU6\r\n");
    c.client(b"ZXZl\r\n");
    c.server(b"334 UGFzc3dvcmQ6\r\n");
    c.client(b"UzNjcmV0UGlwZWxpbmVk\r\n");
    c.server(b"235 2.7.0 Authentication successful\r\n");
    c.client(b"MAIL FROM:<alice@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    c.close();
    // The first challenge lost in a gap.
    let (client, server) = addresses(3);
    let mut c = cap.tcp(client, server);
    opening(&mut c);
    c.client(b"AUTH LOGIN\r\n");
    c.skip_server(b"334 VXNlcm5hbWU6\r\n".len());
    c.client(b"Ym9i\r\n");
    c.server(b"334 UGFzc3dvcmQ6\r\n");
    c.client(b"UzNjcmV0TG9naW4h\r\n");
    c.server(b"235 2.7.0 Authentication successful\r\n");
    c.client(b"MAIL FROM:<alice@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    c.close();
    cap.finish()
}

#[test]
fn credentials_in_misplaced_bytes_never_appear() {
    let path = temp_path("misplaced-secrets.pcap");
    std::fs::write(&path, misplaced_secrets_capture()).unwrap();
    let p = path.to_str().unwrap();
    let mut leaks = Vec::new();
    for format in ["table", "json", "jsonl", "transcript"] {
        let out = mailtap(&["--format", format, p]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        for secret in SECRETS {
            for line in text.lines().filter(|l| l.contains(secret)) {
                leaks.push(format!("{format}: {secret}: {line}"));
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// Found by fuzzing (fuzz/corpus/capture/regress-pcapng-block-shorter-than-12): a pcapng block
/// claiming fewer than 12 bytes made pcap-parser subtract past zero, a panic with overflow
/// checks and, in a release build with more than a megabyte after it, a read that never ended.
#[test]
fn pcapng_block_shorter_than_12_bytes_with_megabytes_after_it() {
    for format in [Format::PcapNg, Format::PcapNgBigEndian] {
        let file = four_sessions(format);
        let records = records(&file);
        let after_two = four_sessions_boundary(&file, &records, 2);
        let mut damaged = file[..after_two].to_vec();
        damaged.extend(pcapng_block(0x8000_0001, b"", is_be(format)));
        let at = damaged.len() - 12;
        let len_field = if is_be(format) {
            8u32.to_be_bytes()
        } else {
            8u32.to_le_bytes()
        };
        damaged[at + 4..at + 8].copy_from_slice(&len_field);
        damaged.extend_from_slice(&file[after_two..]);
        damaged.resize(damaged.len() + (3 << 20), 0);
        let a = analyze_caught(&damaged, "short block").unwrap();
        let e = a.damage.as_ref().expect("damage");
        assert_eq!(e.offset, at as u64, "{e}");
        assert_eq!(verdicts(&a), ["upgraded", "stripped"]);
    }
}

/// Where the `n`th session of [`four_sessions`] ends (the start of the record after it).
fn four_sessions_boundary(file: &[u8], records: &[Record], n: usize) -> usize {
    let last = analyze_bytes(file).sessions[n - 1].record.last_frame as usize;
    records.iter().filter(|r| r.packet).nth(last).unwrap().start
}

//! Pairing and comparing on captures made by the capture writer: each middlebox behaviour as
//! two views of one session (client side A, server side B), with the clocks shifted apart.

use std::time::Duration;

use super::capture_writer::{Capture, Conn, Format, Link};
use super::*;
use crate::analyzer::Config;
use crate::classify::Verdict;
use crate::smtp::SessionLimits;

const GREETING: &[u8] = b"220 mx.example.test ESMTP Postfix\r\n";
const EHLO: &[u8] = b"EHLO client.example.test\r\n";
const OFFER: &[u8] = b"250-mx.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
const MASKED: &[u8] = b"250-mx.example.test\r\n250-PIPELINING\r\n250-XXXXXXXA\r\n250 8BITMIME\r\n";
const DELETED: &[u8] = b"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

fn sessions(cap: Capture) -> Vec<SessionReport> {
    let config = Config {
        limits: SessionLimits {
            keep_transcript: true,
            ..SessionLimits::default()
        },
        ..Config::default()
    };
    crate::analyze(&cap.finish()[..], &config).unwrap().sessions
}

/// A real TLS 1.3 conversation (fixtures/tools/tls_vectors.py): (from client, bytes).
fn tls_vector(name: &str) -> Vec<(bool, Vec<u8>)> {
    let path = format!("{}/tests/data/tls/{name}", env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(path).unwrap();
    let mut chunks = Vec::new();
    let mut rest = &data[..];
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        chunks.push((rest[0] == 0, rest[5..5 + len].to_vec()));
        rest = &rest[5 + len..];
    }
    chunks
}

/// How one side of the session goes.
#[derive(Clone, Copy)]
struct Script {
    greeting: &'static [u8],
    ehlo_reply: &'static [u8],
    /// The client sends STARTTLS (and gets `starttls_reply` if any).
    starttls: bool,
    starttls_reply: Option<&'static [u8]>,
    /// TLS follows the 220; `corrupt` flips a byte of the ClientHello.
    tls: bool,
    corrupt: bool,
    /// MAIL FROM with this sender after the opening (in cleartext).
    mail: Option<&'static str>,
    rst: bool,
}

const PLAIN: Script = Script {
    greeting: GREETING,
    ehlo_reply: OFFER,
    starttls: false,
    starttls_reply: None,
    tls: false,
    corrupt: false,
    mail: Some("alice@client.example.test"),
    rst: false,
};

fn play(c: &mut Conn, s: Script) {
    c.handshake();
    c.server(s.greeting);
    c.client(EHLO);
    c.server(s.ehlo_reply);
    if s.starttls {
        c.client(b"STARTTLS\r\n");
    }
    if let Some(reply) = s.starttls_reply {
        c.server(reply);
    }
    if s.tls {
        for (i, (from_client, mut bytes)) in tls_vector("tls13-ok.bin").into_iter().enumerate() {
            if i == 0 && s.corrupt {
                bytes[0] = 0x99;
            }
            if from_client {
                c.client(&bytes);
            } else {
                c.server(&bytes);
            }
            if s.corrupt {
                break;
            }
        }
        if s.corrupt {
            c.server(b"\x15\x03\x03\x00\x02\x02\x32");
        }
    } else if let Some(from) = s.mail {
        c.client(format!("MAIL FROM:<{from}>\r\n").as_bytes());
        c.server(b"250 2.1.0 Ok\r\n");
        c.client(b"QUIT\r\n");
        c.server(b"221 2.0.0 Bye\r\n");
    }
    if s.rst {
        c.rst_server();
    } else {
        c.close();
    }
}

/// Side A (client's capture) and side B (server's capture, clock `offset` ahead, addresses
/// changed by NAT) of one session per script pair, sessions `gap` apart.
fn two_sides(
    scripts: &[(Script, Script)],
    offset: Duration,
) -> (Vec<SessionReport>, Vec<SessionReport>) {
    let mut a = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut b = Capture::new(Format::PcapNg, Link::Ethernet);
    b.set_time(super::capture_writer::DEFAULT_START + offset);
    for (n, (sa, sb)) in scripts.iter().enumerate() {
        let port = 40000 + n as u16;
        let mut ca = a.tcp(
            format!("192.0.2.10:{port}").parse().unwrap(),
            "192.0.2.1:25".parse().unwrap(),
        );
        let mut cb = b.tcp(
            format!("203.0.113.1:{}", 50000 + n).parse().unwrap(),
            "198.51.100.25:25".parse().unwrap(),
        );
        play(&mut ca, *sa);
        play(&mut cb, *sb);
        a.advance_time(Duration::from_secs(10));
        b.advance_time(Duration::from_secs(10));
    }
    (sessions(a), sessions(b))
}

fn one_pair(sa: Script, sb: Script) -> (Pair, Vec<SessionReport>, Vec<SessionReport>) {
    let (a, b) = two_sides(&[(sa, sb)], Duration::from_millis(3_600_250));
    let diff = pair_two(&a, &b);
    assert_eq!(diff.pairs.len(), 1, "{diff:#?}");
    let offset = diff.clock_offset.unwrap();
    assert!((offset - 3600.25).abs() < 0.01, "offset {offset}");
    (diff.pairs.into_iter().next().unwrap(), a, b)
}

fn kinds(p: &Pair) -> Vec<(Direction, ChangeKind)> {
    p.changes.iter().map(|c| (c.direction, c.kind)).collect()
}

#[test]
fn untouched_session_has_no_change() {
    let (p, _, _) = one_pair(PLAIN, PLAIN);
    assert!(p.changes.is_empty(), "{:#?}", p.changes);
    assert!(p.effects.is_empty());
}

#[test]
fn masked_keyword_is_a_changed_line_with_its_mask() {
    let masked = Script {
        ehlo_reply: MASKED,
        ..PLAIN
    };
    let (p, a, b) = one_pair(masked, PLAIN);
    assert_eq!(kinds(&p), [(Direction::ToClient, ChangeKind::Changed)]);
    let c = &p.changes[0];
    assert_eq!(c.a.as_ref().unwrap().line.as_bytes(), b"250-XXXXXXXA");
    assert_eq!(c.b.as_ref().unwrap().line.as_bytes(), b"250-STARTTLS");
    assert_eq!(c.mask.as_ref().unwrap().as_bytes(), b"XXXXXXXA");
    assert_eq!(p.effects, [Effect::OfferStripped]);
    assert_eq!(a[0].verdict, Verdict::Stripped);
    assert_eq!(b[0].verdict, Verdict::NotUsed);
    // the frames are each capture's own
    assert_eq!(c.a.as_ref().unwrap().frame, 6);
}

#[test]
fn deleted_offer_line_shows_only_in_the_comparison() {
    let deleted = Script {
        ehlo_reply: DELETED,
        ..PLAIN
    };
    let (p, a, _) = one_pair(deleted, PLAIN);
    assert_eq!(kinds(&p), [(Direction::ToClient, ChangeKind::Deleted)]);
    assert!(p.changes[0].a.is_none());
    assert_eq!(
        p.changes[0].b.as_ref().unwrap().line.as_bytes(),
        b"250-STARTTLS"
    );
    assert_eq!(p.effects, [Effect::OfferStripped]);
    // alone, the client's side looks like a server that never offered STARTTLS
    assert_eq!(a[0].verdict, Verdict::NotOffered);
}

#[test]
fn command_blocked_and_answered_by_the_middlebox() {
    let client = Script {
        starttls: true,
        starttls_reply: Some(b"502 5.5.1 Command not implemented\r\n"),
        ..PLAIN
    };
    let (p, _, _) = one_pair(client, PLAIN);
    assert_eq!(
        kinds(&p),
        [
            (Direction::ToServer, ChangeKind::Blocked),
            (Direction::ToClient, ChangeKind::AnsweredByMiddlebox)
        ]
    );
    assert_eq!(p.effects, [Effect::CommandBlocked]);
}

#[test]
fn masked_command_is_blocked() {
    let server = Script {
        starttls: false,
        ..PLAIN
    };
    // the client sent STARTTLS, the server got XXXXXXXX: same length, a mask
    let (a, b) = {
        let client = Script {
            starttls: true,
            starttls_reply: Some(b"502 5.5.2 Error: command not recognized\r\n"),
            ..PLAIN
        };
        let (a, _) = two_sides(&[(client, server)], Duration::ZERO);
        let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
        let mut c = cap.tcp(
            "203.0.113.1:50000".parse().unwrap(),
            "198.51.100.25:25".parse().unwrap(),
        );
        c.handshake();
        c.server(GREETING);
        c.client(EHLO);
        c.server(OFFER);
        c.client(b"XXXXXXXX\r\n");
        c.server(b"502 5.5.2 Error: command not recognized\r\n");
        c.client(b"MAIL FROM:<alice@client.example.test>\r\n");
        c.server(b"250 2.1.0 Ok\r\n");
        c.client(b"QUIT\r\n");
        c.server(b"221 2.0.0 Bye\r\n");
        c.close();
        (a, sessions(cap))
    };
    let diff = pair_two(&a, &b);
    let p = &diff.pairs[0];
    assert_eq!(kinds(p), [(Direction::ToServer, ChangeKind::Changed)]);
    assert_eq!(p.changes[0].mask.as_ref().unwrap().as_bytes(), b"XXXXXXXX");
    assert_eq!(p.effects, [Effect::CommandBlocked]);
}

#[test]
fn rewritten_banner() {
    let masked = Script {
        greeting: b"220 *****************************\r\n",
        ..PLAIN
    };
    let (p, _, _) = one_pair(masked, PLAIN);
    assert_eq!(kinds(&p), [(Direction::ToClient, ChangeKind::Changed)]);
    assert!(p.changes[0]
        .mask
        .as_ref()
        .unwrap()
        .as_bytes()
        .starts_with(b"***"));
    assert_eq!(p.effects, [Effect::BannerAltered]);
}

#[test]
fn corrupted_tls_record_after_220() {
    let tls = Script {
        starttls: true,
        starttls_reply: Some(b"220 2.0.0 Ready to start TLS\r\n"),
        tls: true,
        mail: None,
        ..PLAIN
    };
    let corrupt = Script {
        corrupt: true,
        ..tls
    };
    let (p, a, b) = one_pair(tls, corrupt);
    assert!(
        kinds(&p).contains(&(Direction::ToServer, ChangeKind::TlsAltered)),
        "{:#?}",
        p.changes
    );
    assert_eq!(p.effects, [Effect::TlsBroken]);
    assert_eq!(a[0].verdict, Verdict::Upgraded);
    assert_eq!(b[0].verdict, Verdict::HandshakeFailed);
    // an intact handshake on both sides is no change
    let (p, _, _) = one_pair(tls, tls);
    assert!(p.changes.is_empty(), "{:#?}", p.changes);
}

#[test]
fn reset_on_one_side_only() {
    let reset = Script { rst: true, ..PLAIN };
    let (p, _, _) = one_pair(PLAIN, reset);
    assert_eq!(kinds(&p), [(Direction::ToClient, ChangeKind::Reset)]);
    assert!(p.changes[0].a.is_none());
    assert_eq!(p.effects, [Effect::Other]);
}

#[test]
fn identical_dialogues_pair_by_time_and_leftovers_are_unpaired() {
    let masked = Script {
        ehlo_reply: MASKED,
        ..PLAIN
    };
    // five sessions, the first two alike in dialogue (only time tells them apart), one
    // masked; B lost the last one
    let from = |mail: &'static str| Script {
        mail: Some(mail),
        ..PLAIN
    };
    let scripts = [
        (PLAIN, PLAIN),
        (PLAIN, PLAIN),
        (masked, PLAIN),
        (
            from("carol@client.example.test"),
            from("carol@client.example.test"),
        ),
        (
            from("dave@client.example.test"),
            from("dave@client.example.test"),
        ),
    ];
    let (a, mut b) = two_sides(&scripts, Duration::from_secs(7 * 3600 + 5));
    b.pop();
    // a session only B saw, far from the others
    let diff = pair_two(&a, &b);
    assert!(
        (diff.clock_offset.unwrap() - 25205.0).abs() < 0.01,
        "{:?}",
        diff.clock_offset
    );
    let pairs: Vec<(usize, usize)> = diff.pairs.iter().map(|p| (p.a, p.b)).collect();
    assert_eq!(pairs, [(0, 0), (1, 1), (2, 2), (3, 3)]);
    assert_eq!(diff.unpaired_a, [4]);
    assert!(diff.unpaired_b.is_empty());
    let changed: Vec<usize> = diff
        .pairs
        .iter()
        .filter(|p| !p.effects.is_empty())
        .map(|p| p.a)
        .collect();
    assert_eq!(changed, [2]);
    assert!(diff.has_effect(&[]) && diff.has_effect(&[Effect::OfferStripped]));
    assert!(!diff.has_effect(&[Effect::TlsBroken]));
}

#[test]
fn different_dialogues_are_not_paired() {
    let other = Script {
        mail: Some("mallory@elsewhere.test"),
        greeting: b"220 other.example.test ESMTP Exim\r\n",
        ehlo_reply: b"250-other.example.test\r\n250 SIZE 1000\r\n",
        ..PLAIN
    };
    let (a, b) = two_sides(&[(PLAIN, other)], Duration::ZERO);
    let diff = pair_two(&a, &b);
    assert!(diff.pairs.is_empty());
    assert_eq!((diff.unpaired_a.len(), diff.unpaired_b.len()), (1, 1));
    assert_eq!(diff.clock_offset, None);
}

#[test]
fn both_legs_of_a_proxy_in_one_capture() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut client_leg = cap.tcp(
        "192.0.2.10:40000".parse().unwrap(),
        "192.0.2.1:25".parse().unwrap(),
    );
    let mut server_leg = cap.tcp(
        "198.51.100.1:40001".parse().unwrap(),
        "198.51.100.25:25".parse().unwrap(),
    );
    client_leg.handshake();
    server_leg.handshake();
    server_leg.server(GREETING);
    client_leg.server(GREETING);
    client_leg.client(EHLO);
    server_leg.client(EHLO);
    server_leg.server(OFFER);
    client_leg.server(DELETED);
    for c in [&mut client_leg, &mut server_leg] {
        c.client(b"QUIT\r\n");
        c.server(b"221 2.0.0 Bye\r\n");
        c.close();
    }
    let s = sessions(cap);
    assert_eq!(s.len(), 2);
    let diff = pair_one(&s);
    assert_eq!(diff.clock_offset, Some(0.0));
    assert_eq!(diff.pairs.len(), 1);
    let p = &diff.pairs[0];
    assert_eq!(
        s[p.a].record.client.port(),
        40000,
        "the earlier leg is side A"
    );
    assert_eq!(kinds(p), [(Direction::ToClient, ChangeKind::Deleted)]);
    assert_eq!(p.effects, [Effect::OfferStripped]);
}

#[test]
fn mask_shapes() {
    let m = |x: &[u8], y: &[u8]| mask_shape(x, y).map(|w| w.as_bytes().to_vec());
    assert_eq!(
        m(b"250-XXXXXXXA", b"250-STARTTLS"),
        Some(b"XXXXXXXA".to_vec())
    );
    assert_eq!(
        m(b"250-STARTTLS", b"250-XXXXXXXA"),
        Some(b"XXXXXXXA".to_vec())
    );
    assert_eq!(m(b"XXXXXXXX", b"STARTTLS"), Some(b"XXXXXXXX".to_vec()));
    assert_eq!(m(b"220 ****", b"220 mail"), Some(b"****".to_vec()));
    assert_eq!(m(b"250-xxxxxxxa", b"250-STARTTLS"), None);
    assert_eq!(m(b"250-XXXX", b"250-STARTTLS"), None);
    assert_eq!(m(b"250-SIZE 1", b"250-SIZE 2"), None);
}

#[test]
fn json_document_follows_the_schema() {
    let masked = Script {
        ehlo_reply: MASKED,
        ..PLAIN
    };
    let (a, b) = two_sides(&[(masked, PLAIN)], Duration::from_secs(2));
    let diff = pair_two(&a, &b);
    let doc = serde_json::to_value(json::Document::new(&diff, &a, &b)).unwrap();
    assert_eq!(doc["schema"], "mailtap-diff/1");
    assert_eq!(doc["clock_offset_s"], 2.0);
    let pair = &doc["pairs"][0];
    assert_eq!(pair["a"]["client"], "192.0.2.10:40000");
    assert_eq!(pair["b"]["client"], "203.0.113.1:50000");
    assert_eq!(pair["a"]["verdict"], "stripped");
    assert_eq!(pair["b"]["first_frame"], 1);
    let change = &pair["changes"][0];
    assert_eq!(change["direction"], "to-client");
    assert_eq!(change["kind"], "changed");
    assert_eq!(change["a"]["line"], "250-XXXXXXXA");
    assert_eq!(change["b"]["line"], "250-STARTTLS");
    assert_eq!(change["mask"], "XXXXXXXA");
    assert_eq!(pair["middlebox"], serde_json::json!(["offer-stripped"]));
    assert_eq!(doc["unpaired"], serde_json::json!({"a": [], "b": []}));
    assert_eq!(doc["summary"]["pairs_changed"], 1);
    assert_eq!(doc["summary"]["middlebox"]["offer-stripped"], 1);
    let mut table = Vec::new();
    write_table(&mut table, ["a.pcap", "b.pcapng"], &diff, &a, &b).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(
        table.contains("250-XXXXXXXA") && table.contains("| #"),
        "{table}"
    );
    assert!(table.contains("changed (mask XXXXXXXA)"), "{table}");
    assert!(
        table.ends_with(
            "1 pair, 1 changed by a middlebox (1 offer-stripped); unpaired: 0 in A, 0 in B\n"
        ),
        "{table}"
    );
}

#[test]
fn many_sessions_pair_in_near_linear_time() {
    // 600 sessions, every third one alike in dialogue: the sample estimates the offset, then
    // each session is compared with those near its time only.
    let scripts: Vec<(Script, Script)> = (0..600)
        .map(|n| {
            let mail: &'static str = if n % 3 == 0 {
                "same@client.example.test"
            } else {
                Box::leak(format!("user{n}@client.example.test").into_boxed_str())
            };
            let s = Script {
                mail: Some(mail),
                ..PLAIN
            };
            (s, s)
        })
        .collect();
    let (a, b) = two_sides(&scripts, Duration::from_secs(86_400 + 7));
    let started = std::time::Instant::now();
    let diff = pair_two(&a, &b);
    assert!((diff.clock_offset.unwrap() - 86_407.0).abs() < 0.01);
    assert_eq!(diff.pairs.len(), 600);
    assert!(diff
        .pairs
        .iter()
        .all(|p| p.a == p.b && p.changes.is_empty()));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn inserted_lines_and_harmless_rewrites_are_other() {
    // a middlebox adds a keyword inside the EHLO reply, and rewrites STARTTLS in lower case
    // (still an offer: not stripped)
    let client_side = Script {
        ehlo_reply: b"250-mx.example.test\r\n250-PIPELINING\r\n250-X-FIREWALL\r\n250-starttls\r\n250 8BITMIME\r\n",
        ..PLAIN
    };
    let (p, _, _) = one_pair(client_side, PLAIN);
    assert_eq!(
        kinds(&p),
        [
            (Direction::ToClient, ChangeKind::Inserted),
            (Direction::ToClient, ChangeKind::Changed)
        ],
        "{:#?}",
        p.changes
    );
    assert_eq!(
        p.changes[0].a.as_ref().unwrap().line.as_bytes(),
        b"250-X-FIREWALL"
    );
    assert!(p.changes[1].mask.is_none());
    assert_eq!(p.effects, [Effect::Other]);
}

mod properties {
    use proptest::prelude::*;

    use super::super::{align, mask_shape, Step};
    use crate::smtp::record::TranscriptLine;
    use crate::text::WireText;
    use crate::Direction;

    fn lines(texts: &[u8]) -> Vec<TranscriptLine> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| TranscriptLine {
                direction: Direction::ToClient,
                frame: i as u64 + 1,
                text: WireText::new(&[b'a' + t % 4]),
            })
            .collect()
    }

    proptest! {
        /// The alignment walks both sides in order, every line once, and pairs only equal lines.
        #[test]
        fn alignment_covers_both_sides_in_order(x in proptest::collection::vec(any::<u8>(), 0..40),
                                                 y in proptest::collection::vec(any::<u8>(), 0..40)) {
            let (lx, ly) = (lines(&x), lines(&y));
            let (rx, ry): (Vec<_>, Vec<_>) = (lx.iter().collect(), ly.iter().collect());
            let steps = align(&rx, &ry);
            let (mut i, mut j) = (0, 0);
            for s in steps {
                match s {
                    Step::Same(a, b) => {
                        prop_assert_eq!((a, b), (i, j));
                        prop_assert_eq!(lx[a].text.as_bytes(), ly[b].text.as_bytes());
                        i += 1;
                        j += 1;
                    }
                    Step::OnlyA(a) => { prop_assert_eq!(a, i); i += 1; }
                    Step::OnlyB(b) => { prop_assert_eq!(b, j); j += 1; }
                }
            }
            prop_assert_eq!((i, j), (x.len(), y.len()));
        }

        /// Any bytes: no panic, and a mask is only found between lines of one length.
        #[test]
        fn mask_shape_never_panics(x in proptest::collection::vec(any::<u8>(), 0..20),
                                   y in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Some(m) = mask_shape(&x, &y) {
                prop_assert_eq!(x.len(), y.len());
                prop_assert!(!m.as_bytes().is_empty());
            }
        }
    }
}

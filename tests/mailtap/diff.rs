//! `mailtap diff` on captures of real relays (fixtures/generate.sh `sc_diff`): each middlebox
//! behaviour seen by two tcpdumps (two files, clocks shifted apart by 3600.25 s) and by
//! `tcpdump -i any` on the relay host (one file, both legs); and flows kept apart by capture
//! interface when a router's two interfaces see one forwarded connection.

use serde_json::Value;

use mailtap::classify::Verdict as V;

use crate::common::capture_writer::{Capture, Format, Link, Resolution};
use crate::common::{analyze_bytes, fixture, mailtap, temp_path};
use crate::edge_cases::{client, server, EHLO, GREETING, OFFER};

/// `mailtap diff --format json` on fixtures; the document and the exit status.
fn diff_json(files: &[&str], extra: &[&str]) -> (Value, Option<i32>) {
    let paths: Vec<String> = files
        .iter()
        .map(|f| fixture(f).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["diff", "--format", "json"];
    args.extend_from_slice(extra);
    args.extend(paths.iter().map(String::as_str));
    let out = mailtap(&args);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (doc, out.status.code())
}

/// (direction, kind, A's line, B's line) of every change of the only pair.
fn changes(doc: &Value) -> Vec<(String, String, String, String)> {
    assert_eq!(doc["schema"], "mailtap-diff/1");
    assert_eq!(doc["pairs"].as_array().unwrap().len(), 1, "{doc:#}");
    assert_eq!(
        doc["unpaired"],
        serde_json::json!({"a": [], "b": []}),
        "{doc:#}"
    );
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    doc["pairs"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                s(&c["direction"]),
                s(&c["kind"]),
                s(&c["a"]["line"]),
                s(&c["b"]["line"]),
            )
        })
        .collect()
}

fn middlebox(doc: &Value) -> Vec<String> {
    doc["pairs"][0]["middlebox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Runs `check` on the two-file diff and on the `-i any` diff of relay mode `mode`.
fn both_views(mode: &str, check: impl Fn(&Value)) {
    let base = format!("relay-{mode}-swaks");
    let (two, _) = diff_json(
        &[
            &format!("{base}-client.pcap"),
            &format!("{base}-server.pcap"),
        ],
        &[],
    );
    let offset = two["clock_offset_s"].as_f64().unwrap();
    assert!(
        (offset - 3600.25).abs() < 0.2,
        "{mode}: clock offset {offset}"
    );
    // NAT: the server side sees the relay's address, not the client's
    assert_eq!(
        two["pairs"][0]["a"]["client"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("10.25.1.2")
    );
    assert_eq!(
        two["pairs"][0]["b"]["client"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("10.25.2.1")
    );
    check(&two);
    let (one, _) = diff_json(&[&format!("{base}-any-sll2.pcap")], &[]);
    assert_eq!(one["clock_offset_s"], 0.0);
    assert_eq!(
        one["pairs"][0]["a"]["client"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("10.25.1.2"),
        "the client leg is side A"
    );
    check(&one);
}

fn t(d: &str, k: &str, a: &str, b: &str) -> (String, String, String, String) {
    (d.into(), k.into(), a.into(), b.into())
}

#[test]
fn relay_masking_the_offer() {
    both_views("keyword", |doc| {
        assert_eq!(
            changes(doc),
            [t("to-client", "changed", "250-XXXXXXXA", "250-STARTTLS")]
        );
        assert_eq!(doc["pairs"][0]["changes"][0]["mask"], "XXXXXXXA");
        assert_eq!(middlebox(doc), ["offer-stripped"]);
        assert_eq!(doc["pairs"][0]["a"]["verdict"], "stripped");
        assert_eq!(doc["pairs"][0]["b"]["verdict"], "not-used");
    });
}

#[test]
fn relay_deleting_the_offer_line() {
    both_views("delete", |doc| {
        assert_eq!(
            changes(doc),
            [t("to-client", "deleted", "", "250-STARTTLS")]
        );
        assert_eq!(middlebox(doc), ["offer-stripped"]);
        // alone, the client's side shows no tampering at all
        assert_eq!(doc["pairs"][0]["a"]["verdict"], "not-offered");
    });
}

#[test]
fn relay_blocking_the_command_and_answering_itself() {
    both_views("block", |doc| {
        assert_eq!(
            changes(doc),
            [
                t("to-server", "blocked", "STARTTLS", ""),
                t(
                    "to-client",
                    "answered-by-middlebox",
                    "502 5.5.1 STARTTLS not permitted",
                    ""
                ),
            ]
        );
        assert_eq!(middlebox(doc), ["command-blocked"]);
    });
}

#[test]
fn relay_rewriting_the_banner() {
    both_views("banner", |doc| {
        let c = changes(doc);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].0.as_str(), c[0].1.as_str()), ("to-client", "changed"));
        assert!(c[0].2.starts_with("220 ****"), "{c:?}");
        assert_eq!(c[0].3, "220 mail.example.test ESMTP Postfix");
        assert_eq!(middlebox(doc), ["banner-altered"]);
    });
}

#[test]
fn relay_corrupting_the_client_hello() {
    both_views("corrupt-tls", |doc| {
        let c = changes(doc);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].0.as_str(), c[0].1.as_str()),
            ("to-server", "tls-altered")
        );
        assert!(c[0].2.starts_with("TLS ClientHello"), "{c:?}");
        assert!(!c[0].3.contains("ClientHello"), "{c:?}");
        assert_eq!(middlebox(doc), ["tls-broken"]);
    });
}

#[test]
fn untouched_paths_show_no_change() {
    both_views("pass", |doc| {
        assert_eq!(changes(doc), []);
        assert_eq!(middlebox(doc), Vec::<String>::new());
    });
    // routed with source NAT: two files and the firewall's -i any view
    let (two, _) = diff_json(
        &[
            "forward-snat-swaks-client.pcap",
            "forward-snat-swaks-server.pcap",
        ],
        &[],
    );
    assert_eq!(changes(&two), []);
    assert!((two["clock_offset_s"].as_f64().unwrap() - 3600.25).abs() < 0.2);
    let (one, _) = diff_json(&["forward-snat-swaks-any-sll2.pcap"], &[]);
    assert_eq!(changes(&one), []);
    // one forwarded connection seen on two interfaces: two sessions, paired, the same
    for f in [
        "forward-swaks-twice-any-sll2.pcap",
        "forward-swaks-two-interfaces.pcapng",
    ] {
        let (doc, code) = diff_json(&[f], &["--fail-on"]);
        assert_eq!(changes(&doc), [], "{f}");
        assert_eq!(code, Some(0), "{f}");
        assert_eq!(
            doc["pairs"][0]["a"]["client"], doc["pairs"][0]["b"]["client"],
            "{f}"
        );
    }
}

#[test]
fn fail_on_and_the_table() {
    let files = [
        "relay-delete-swaks-client.pcap",
        "relay-delete-swaks-server.pcap",
    ];
    assert_eq!(diff_json(&files, &[]).1, Some(0));
    assert_eq!(diff_json(&files, &["--fail-on"]).1, Some(1));
    assert_eq!(
        diff_json(&files, &["--fail-on=offer-stripped,tls-broken"]).1,
        Some(1)
    );
    assert_eq!(diff_json(&files, &["--fail-on=tls-broken"]).1, Some(0));
    let out = mailtap(&["diff", "--fail-on=nonsense", "x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    let paths: Vec<String> = files
        .iter()
        .map(|f| fixture(f).to_string_lossy().into_owned())
        .collect();
    let out = mailtap(&["diff", &paths[0], &paths[1]]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("middlebox: offer-stripped"), "{text}");
    assert!(
        text.contains("> #") && text.contains("<- 250-STARTTLS") && text.contains("deleted"),
        "{text}"
    );
    assert!(text.contains("clock offset B-A +3600."), "{text}");
    assert!(
        text.trim_end().ends_with(
            "1 pair, 1 changed by a middlebox (1 offer-stripped); unpaired: 0 in A, 0 in B"
        ),
        "{text}"
    );
    let out = mailtap(&["diff", "no-such-file.pcap"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unrelated_captures_leave_sessions_unpaired() {
    let (doc, code) = diff_json(
        &[
            "relay-delete-swaks-client.pcap",
            "postfix-swaks-upgraded.pcap",
        ],
        &["--fail-on"],
    );
    assert_eq!(code, Some(0));
    assert_eq!(doc["pairs"], serde_json::json!([]));
    assert_eq!(doc["clock_offset_s"], Value::Null);
    assert_eq!(doc["unpaired"]["a"][0]["client"], "10.25.1.2:40111");
    assert_eq!(doc["unpaired"]["b"].as_array().unwrap().len(), 1);
    assert_eq!(doc["summary"]["unpaired_b"], 1);
}

/// One connection forwarded by a router, written on both of its interfaces (pcapng with two
/// interfaces), each packet first on the way in, then on the way out.
#[test]
fn a_forwarded_connection_on_two_interfaces_is_one_session_per_interface() {
    let mut cap = Capture::new(Format::PcapNg, Link::Ethernet);
    let out_if = cap.add_interface(Link::Ethernet, Resolution::Micro);
    let mut inside = cap.tcp(client(), server());
    let mut outside = cap.tcp(client(), server());
    outside.on_interface(out_if);
    // every packet is written on the way in, then again on the way out
    for step in 0..6 {
        for c in [&mut inside, &mut outside] {
            match step {
                0 => drop(c.handshake()),
                1 => drop(c.server(GREETING)),
                2 => drop(c.client(EHLO)),
                3 => drop(c.server(OFFER)),
                4 => drop(c.client(b"QUIT\r\n")),
                _ => drop(c.close()),
            }
        }
    }
    let bytes = cap.finish();
    let analysis = analyze_bytes(&bytes);
    assert_eq!(analysis.sessions.len(), 2);
    for s in &analysis.sessions {
        assert_eq!(s.verdict, V::NotUsed, "{:?}", s.findings);
        assert!(s.record.gaps.is_empty() && s.record.one_direction.is_none());
    }
    assert_eq!(analysis.summary.tcp.retransmitted_segments, 0);
    let path = temp_path("forwarded-twice.pcapng");
    std::fs::write(&path, &bytes).unwrap();
    let out = mailtap(&["diff", "--format", "json", path.to_str().unwrap()]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["pairs"].as_array().unwrap().len(), 1);
    assert_eq!(doc["pairs"][0]["changes"], serde_json::json!([]));
}

/// Asymmetric routing: the client's packets on one interface, the server's on another. Still
/// one connection, one session.
#[test]
fn an_asymmetric_route_over_two_interfaces_stays_one_session() {
    let mut cap = Capture::new(Format::PcapNg, Link::Ethernet);
    let back = cap.add_interface(Link::Ethernet, Resolution::Micro);
    let mut c = cap.tcp(client(), server());
    c.on_interface(0);
    c.syn();
    c.on_interface(back);
    c.syn_ack();
    c.on_interface(0);
    c.client_ack();
    c.on_interface(back);
    c.server(b"220 mx.example.test ESMTP\r\n");
    c.on_interface(0);
    c.client(b"EHLO client.example.test\r\n");
    c.on_interface(back);
    c.server(OFFER);
    c.on_interface(0);
    c.client(b"STARTTLS\r\n");
    c.on_interface(back);
    c.server(b"454 4.7.0 TLS not available\r\n");
    c.on_interface(0);
    c.client(b"QUIT\r\n");
    let analysis = analyze_bytes(&cap.finish());
    assert_eq!(analysis.sessions.len(), 1);
    assert_eq!(analysis.sessions[0].verdict, V::Rejected);
    assert!(analysis.sessions[0].record.one_direction.is_none());
}

/// The policy fixture: one server address, the relay deleting the offer for 10.25.3.0/24
/// only. The per-server view names the split at the top.
#[test]
fn by_server_shows_the_split_by_client_network() {
    let path = fixture("policy-strip-one-network-any-sll2.pcap");
    let path = path.to_str().unwrap();
    let out = mailtap(&["--by", "server", path]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(
            "POLICY SPLIT: 10.25.2.10:25 offers STARTTLS to 10.25.1.0/24 but not to 10.25.3.0/24\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("10.25.2.10:25 (mail.example.test): 4 sessions (2 not-offered, 2 upgraded)"),
        "{text}"
    );
    assert!(
        text.contains("STARTTLS not offered to: 10.25.3.0/24 (2 sessions, 20"),
        "{text}"
    );

    let out = mailtap(&[
        "--by",
        "server",
        "--by-client-address",
        "--format",
        "json",
        path,
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "mailtap-servers/1");
    assert_eq!(doc["split"], serde_json::json!(["10.25.2.10:25"]));
    let s = &doc["servers"][0];
    assert_eq!(s["name"], "mail.example.test");
    assert_eq!(
        s["verdicts"],
        serde_json::json!({"not-offered": 2, "upgraded": 2})
    );
    assert_eq!(s["starttls"]["offered"][0]["clients"], "10.25.1.2");
    assert_eq!(s["starttls"]["offered"][0]["sessions"], 2);
    assert_eq!(s["starttls"]["not_offered"][0]["clients"], "10.25.3.2");
    let (first, last) = (
        s["starttls"]["not_offered"][0]["first_time"]
            .as_str()
            .unwrap(),
        s["starttls"]["not_offered"][0]["last_time"]
            .as_str()
            .unwrap(),
    );
    assert!(first < last && first.ends_with('Z'), "{first} {last}");
    // a server that answers every client alike is no split
    let out = mailtap(&[
        "--by",
        "server",
        &fixture("postfix-swaks-upgraded.pcap").to_string_lossy(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("POLICY SPLIT")
            && text.contains("0 offering STARTTLS to some client networks only"),
        "{text}"
    );
    // live capture or a streaming format do not mix with it
    assert_eq!(
        mailtap(&["--by", "server", "--format", "jsonl", path])
            .status
            .code(),
        Some(2)
    );
}

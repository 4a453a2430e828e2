//! Edge cases real mail software does not produce, written by the capture writer: the
//! verdicts and findings that only a middlebox or an attacker causes, TCP misbehaviour, and
//! every link type and file format.

use std::time::Duration;

use mailtap::classify::{FindingKind as F, SessionReport, Verdict as V};

use crate::common::capture_writer::{Capture, Conn, Format, Link, Resolution};
use crate::common::{analyze_bytes, replay_tls, tls_vector};

pub(crate) const GREETING: &[u8] = b"220 mx.example.test ESMTP Postfix\r\n";
pub(crate) const EHLO: &[u8] = b"EHLO client.example.test\r\n";
pub(crate) const OFFER: &[u8] = b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
pub(crate) const NO_OFFER: &[u8] = b"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

pub(crate) fn client() -> std::net::SocketAddr {
    "192.0.2.10:40000".parse().unwrap()
}

pub(crate) fn server() -> std::net::SocketAddr {
    "198.51.100.25:25".parse().unwrap()
}

/// Greeting, EHLO and the given EHLO reply.
pub(crate) fn opening(c: &mut Conn, ehlo_reply: &[u8]) {
    c.handshake();
    c.server(GREETING);
    c.client(EHLO);
    c.server(ehlo_reply);
}

pub(crate) fn one_session(cap: Capture) -> SessionReport {
    let analysis = analyze_bytes(&cap.finish());
    assert!(analysis.damage.is_none(), "{:?}", analysis.damage);
    assert_eq!(
        analysis.sessions.len(),
        1,
        "{:#?}",
        analysis
            .sessions
            .iter()
            .map(|s| s.verdict)
            .collect::<Vec<_>>()
    );
    analysis.sessions.into_iter().next().unwrap()
}

pub(crate) fn kinds(s: &SessionReport) -> Vec<&'static str> {
    s.findings.iter().map(|f| f.kind.name()).collect()
}

pub(crate) fn finding(s: &SessionReport, kind: F) -> &mailtap::classify::Finding {
    s.findings
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(s)))
}

/// A complete upgraded session, written with the given file format and link type.
fn upgraded_session(format: Format, link: Link) -> Capture {
    let mut cap = Capture::new(format, link);
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    c.client(b"STARTTLS\r\n");
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
    replay_tls(&mut c, "tls13-ok.bin");
    c.close();
    cap
}

#[test]
fn upgraded_over_every_link_type_and_file_format() {
    let links = [
        Link::Ethernet,
        Link::Vlan(100),
        Link::QinQ {
            outer: 200,
            inner: 300,
        },
        Link::Sll,
        Link::Sll2,
        Link::RawIp,
        Link::Ipv4,
        Link::Null,
        Link::Loop,
    ];
    let formats = [
        Format::PcapMicro,
        Format::PcapNano,
        Format::PcapBigEndian,
        Format::PcapNanoBigEndian,
        Format::PcapNg,
        Format::PcapNgNano,
        Format::PcapNgBigEndian,
    ];
    for link in links {
        for format in formats {
            let s = one_session(upgraded_session(format, link));
            assert_eq!(
                s.verdict,
                V::Upgraded,
                "{format:?} {link:?}: {:?}",
                kinds(&s)
            );
            assert_eq!(
                s.record.first_time.secs, 1_704_067_200,
                "{format:?} timestamps"
            );
        }
    }
}

#[test]
fn ipv6_with_extension_header_and_two_interfaces_in_one_pcapng() {
    let mut cap = Capture::new(Format::PcapNg, Link::Ethernet);
    let any = cap.add_interface(Link::Sll2, Resolution::Nano);
    let mut a = cap.tcp(client(), server());
    opening(&mut a, NO_OFFER);
    a.close();
    let mut b = cap.tcp(
        "[2001:db8::10]:40001".parse().unwrap(),
        "[2001:db8::25]:25".parse().unwrap(),
    );
    b.on_interface(any).with_hop_by_hop();
    opening(&mut b, OFFER);
    b.client(b"STARTTLS\r\n");
    b.server(b"454 4.7.0 TLS not available due to local problem\r\n");
    b.client(b"QUIT\r\n");
    b.close();
    let analysis = analyze_bytes(&cap.finish());
    let verdicts: Vec<(String, V)> = analysis
        .sessions
        .iter()
        .map(|s| (s.record.server.to_string(), s.verdict))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("198.51.100.25:25".into(), V::NotOffered),
            ("[2001:db8::25]:25".into(), V::Rejected)
        ]
    );
}

#[test]
fn one_byte_segments_out_of_order_retransmitted_and_overlapping() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    c.with_isn(u32::MAX - 5, u32::MAX - 40); // both directions wrap around
    c.handshake();
    c.server_bytewise(GREETING);
    c.client_bytewise(EHLO);
    let reply = c.server_segments(OFFER, &[10, 30, 20, 24]);
    assert_eq!(reply.len(), 4);
    for i in [3, 2, 0, 1, 0] {
        c.write(&reply[i]);
    }
    c.client(b"STAR");
    c.client_overlapping(2, b"TTLS\r\n"); // resends "AR"
    c.server(b"220 2.0.0 Ready\r\n");
    replay_tls(&mut c, "tls13-ok.bin");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Upgraded, "{:?}", kinds(&s));
    assert!(s.record.hello[0].reply.as_ref().unwrap().offers_starttls());
}

#[test]
fn a_gap_is_reported_and_never_guessed_across() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    c.handshake();
    c.server(GREETING);
    c.client(EHLO);
    c.server(b"250-mx.example.test\r\n");
    c.skip_server(14); // "250-STARTTLS\r\n" lost
    let frame = c.server(b"250 8BITMIME\r\n") as u64;
    let s = one_session(cap);
    // The offer may have been in the hole: the capture cannot say "not offered".
    assert_eq!(s.verdict, V::Incomplete, "{:?}", kinds(&s));
    let gap = finding(&s, F::CaptureGap);
    assert!(gap.frame >= frame - 1, "gap noticed at frame {}", gap.frame);
    assert_eq!(s.record.gap_bytes, 14);
}

#[test]
fn masked_banner_is_stripped() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    c.handshake();
    let frame = c.server(b"220 ******************************2****0*******0**\r\n") as u64;
    c.client(EHLO);
    c.server(b"500 5.5.1 Command unrecognized\r\n");
    c.client(b"HELO client.example.test\r\n");
    c.server(b"250 ok\r\n");
    c.client(b"QUIT\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Stripped, "{:?}", kinds(&s));
    assert_eq!(finding(&s, F::MaskedBanner).frame, frame);
    assert!(s.has(F::EhloRejected));
}

#[test]
fn deleted_line_in_the_ehlo_reply_is_stripped() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    opening(
        &mut c,
        b"250-mx.example.test\r\n250-PIPELINING\r\n\r\n250 8BITMIME\r\n",
    );
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(b"250 ok\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Stripped, "{:?}", kinds(&s));
    assert!(s.has(F::DeletedLine) && s.has(F::CleartextMail));
}

#[test]
fn masked_keyword_last_line_and_upper_case_only() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    let frame = {
        c.handshake();
        c.server(GREETING);
        c.client(EHLO);
        c.server(b"250-mx.example.test\r\n250-PIPELINING\r\n250 XXXXXXXA\r\n") as u64
    };
    c.client(b"QUIT\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Stripped);
    let f = finding(&s, F::MaskedKeyword);
    assert_eq!(
        (f.frame, f.evidence.as_bytes()),
        (
            frame,
            &b"250 XXXXXXXA (8 characters: could be STARTTLS)"[..]
        )
    );

    // Anonymised captures write lower-case x's: not masking.
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    opening(
        &mut c,
        b"250-xxxxxx.xxx\r\n250-xxxxxxxx\r\n250 8BITMIME\r\n",
    );
    c.client(b"QUIT\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::NotOffered);
    assert!(!s.has(F::MaskedKeyword));
}

#[test]
fn command_injection_cve_2011_0411() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    let frame = c.client(b"STARTTLS\r\nRSET\r\n") as u64;
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
    replay_tls(&mut c, "tls13-ok.bin");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Upgraded);
    let f = finding(&s, F::CommandInjection);
    assert_eq!((f.frame, f.evidence.as_bytes()), (frame, &b"RSET\r\n"[..]));
    assert!(s.tls_rpt().contains(&"validation-failure"));
}

#[test]
fn response_injection_before_the_client_hello() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    c.client(b"STARTTLS\r\n");
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
    let frame = c.server(b"250-mx.example.test\r\n250 AUTH PLAIN\r\n") as u64;
    replay_tls(&mut c, "tls13-ok.bin");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Upgraded);
    assert_eq!(finding(&s, F::ResponseInjection).frame, frame);
}

#[test]
fn plaintext_after_upgrade_is_a_failed_handshake() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    c.client(b"STARTTLS\r\n");
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
    let hello = tls_vector("tls13-ok.bin").into_iter().next().unwrap();
    assert!(hello.0);
    c.client(&hello.1);
    let frame = c.server(b"\x15\x03\x00\x00\x02\x02\x28454 4.7.0 TLS not available\r\n") as u64;
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::HandshakeFailed, "{:?}", kinds(&s));
    assert_eq!(finding(&s, F::PlaintextAfterUpgrade).frame, frame);
    let alerts = &s.record.tls.as_ref().unwrap().alerts;
    assert_eq!(alerts[0].description.0, 40);
}

#[test]
fn reset_mid_handshake_fails_and_capture_end_mid_handshake_is_incomplete() {
    let build = |reset: bool| {
        let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
        let mut c = cap.tcp(client(), server());
        opening(&mut c, OFFER);
        c.client(b"STARTTLS\r\n");
        c.server(b"220 2.0.0 Ready to start TLS\r\n");
        c.client(&tls_vector("tls13-ok.bin")[0].1);
        if reset {
            c.rst_server();
        }
        one_session(cap)
    };
    assert_eq!(build(true).verdict, V::HandshakeFailed);
    assert_eq!(build(false).verdict, V::Incomplete);
}

#[test]
fn midstream_capture_is_flagged() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    // No handshake, no greeting: the capture starts at the MAIL command.
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Incomplete);
    assert!(s.has(F::Midstream) && s.has(F::CleartextMail));
}

#[test]
fn smtp_on_another_port_is_found_by_content_and_ftp_is_not() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut smtp = cap.tcp(client(), "198.51.100.25:10025".parse().unwrap());
    opening(&mut smtp, OFFER);
    smtp.client(b"QUIT\r\n");
    smtp.close();
    let mut ftp = cap.tcp(
        "192.0.2.10:40001".parse().unwrap(),
        "198.51.100.25:21".parse().unwrap(),
    );
    ftp.handshake();
    ftp.server(b"220 ProFTPD Server ready.\r\n");
    ftp.client(b"USER anonymous\r\n");
    ftp.server(b"331 Anonymous login ok\r\n");
    ftp.close();
    let mut http = cap.tcp(
        "192.0.2.10:40002".parse().unwrap(),
        "198.51.100.25:80".parse().unwrap(),
    );
    http.handshake();
    http.client(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    http.close();
    let analysis = analyze_bytes(&cap.finish());
    assert_eq!(analysis.sessions.len(), 1);
    assert_eq!(analysis.sessions[0].record.server.port(), 10025);
    assert_eq!(analysis.sessions[0].verdict, V::NotUsed);
}

#[test]
fn connections_without_data_are_counted_not_listed() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    for port in 0..3u16 {
        let mut c = cap.tcp(
            format!("192.0.2.10:{}", 41000 + port).parse().unwrap(),
            server(),
        );
        c.syn();
        if port == 0 {
            c.rst_server();
        }
    }
    let analysis = analyze_bytes(&cap.finish());
    assert!(analysis.sessions.is_empty());
    let a = &analysis.summary.connections;
    assert_eq!((a.attempted, a.refused, a.unanswered), (3, 1, 2));
}

#[test]
fn truncated_frames_and_fragments_are_counted() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    c.handshake();
    let seg = c.segment(
        false,
        crate::common::capture_writer::PSH | crate::common::capture_writer::ACK,
        GREETING,
    );
    cap.write_segment_fragmented(&seg, 24);
    cap.write_segment_truncated(&seg, 40);
    let analysis = analyze_bytes(&cap.finish());
    assert_eq!(analysis.summary.skipped.ip_fragments, 2);
    assert_eq!(analysis.summary.skipped.truncated, 1);
}

#[test]
fn snaplen_cut_payload_is_a_gap() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    cap.set_snaplen(80);
    c.client(b"MAIL FROM:<a-rather-long-address-to-be-cut@example.test> SIZE=1000\r\n");
    let analysis = analyze_bytes(&cap.finish());
    assert!(analysis.sessions[0].record.gap_bytes > 0);
}

#[test]
fn inconsistent_offer_between_sessions_of_one_server() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut a = cap.tcp(client(), server());
    opening(&mut a, OFFER);
    a.client(b"STARTTLS\r\n");
    a.server(b"220 go ahead\r\n");
    replay_tls(&mut a, "tls13-ok.bin");
    a.close();
    cap.advance_time(Duration::from_secs(5));
    let mut b = cap.tcp("192.0.2.10:40001".parse().unwrap(), server());
    opening(&mut b, NO_OFFER);
    b.client(b"QUIT\r\n");
    b.close();
    let analysis = analyze_bytes(&cap.finish());
    let v: Vec<(V, bool)> = analysis
        .sessions
        .iter()
        .map(|s| (s.verdict, s.has(F::InconsistentOffer)))
        .collect();
    assert_eq!(v, vec![(V::Upgraded, true), (V::NotOffered, true)]);
}

#[test]
fn tls_required_530_and_cleartext_mail() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    let frame = c.server(b"530 5.7.0 Must issue a STARTTLS command first\r\n") as u64;
    c.client(b"QUIT\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::NotUsed);
    assert_eq!(finding(&s, F::TlsRequired).frame, frame);
}

#[test]
fn implicit_tls_on_465() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), "198.51.100.25:465".parse().unwrap());
    c.handshake();
    replay_tls(&mut c, "tls13-ok.bin");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::ImplicitTls, "{:?}", kinds(&s));
}

#[test]
fn weak_version_sentinel_and_certificate_findings() {
    // TLS 1.0 (with the sentinel, expected: the client offered nothing newer, so no
    // downgrade-sentinel finding), a certificate valid 2020-2021 seen in 2024, self-signed.
    for (vector, expect) in [
        ("tls10-ok.bin", vec![F::WeakTlsVersion]),
        ("tls12-expired.bin", vec![F::CertExpired, F::CertSelfSigned]),
        ("tls12-not-yet-valid.bin", vec![F::CertNotYetValid]),
    ] {
        let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
        let mut c = cap.tcp(client(), server());
        opening(&mut c, OFFER);
        c.client(b"STARTTLS\r\n");
        c.server(b"220 2.0.0 Ready to start TLS\r\n");
        replay_tls(&mut c, vector);
        c.close();
        let s = one_session(cap);
        assert_eq!(s.verdict, V::Upgraded, "{vector}: {:?}", kinds(&s));
        assert!(!s.has(F::DowngradeSentinel), "{vector}: {:?}", kinds(&s));
        for kind in expect {
            assert!(s.has(kind), "{vector}: no {kind} in {:?}", kinds(&s));
        }
    }
}

#[test]
fn certificate_host_is_judged_against_sni_only() {
    // The certificate names mail.example.test and *.mx.example.test.
    let session = |banner: &[u8], vector: &str| {
        let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
        let mut c = cap.tcp(client(), server());
        c.handshake();
        c.server(banner);
        c.client(EHLO);
        c.server(OFFER);
        c.client(b"STARTTLS\r\n");
        c.server(b"220 2.0.0 Ready to start TLS\r\n");
        replay_tls(&mut c, vector);
        c.close();
        one_session(cap)
    };
    // No SNI: no claim (verifying clients check the MX name, which only SNI shows; see
    // tcp_tls_cases::case_11 for a mismatch against SNI).
    let other = session(b"220 mail.other.test ESMTP\r\n", "tls12-no-sni.bin");
    assert_eq!(other.verdict, V::Upgraded);
    assert!(!other.has(F::CertHostMismatch), "{:?}", kinds(&other));
    assert!(!other.tls_rpt().contains(&"certificate-host-mismatch"));
    let wildcard = session(b"220 a.mx.example.test ESMTP\r\n", "tls12-no-sni.bin");
    assert!(!wildcard.has(F::CertHostMismatch), "{:?}", kinds(&wildcard));
    // SNI mail.example.test, which the certificate names, wins over the banner.
    let sni = session(b"220 mail.other.test ESMTP\r\n", "tls12-ok.bin");
    assert!(!sni.has(F::CertHostMismatch), "{:?}", kinds(&sni));
}

#[test]
fn timestamps_going_backwards_do_not_matter() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    c.handshake();
    c.server(GREETING);
    cap.rewind_time(Duration::from_secs(3600));
    c.client(EHLO);
    c.server(NO_OFFER);
    c.close();
    assert_eq!(one_session(cap).verdict, V::NotOffered);
}

#[test]
fn tls_after_a_lost_starttls_is_incomplete_not_not_used() {
    for lose_reply in [false, true] {
        let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
        let mut c = cap.tcp(client(), server());
        opening(&mut c, OFFER);
        if lose_reply {
            c.client(b"STARTTLS\r\n");
            c.skip_server(b"220 2.0.0 Ready to start TLS\r\n".len());
        } else {
            c.skip_client(b"STARTTLS\r\n".len());
            c.server(b"220 2.0.0 Ready to start TLS\r\n");
        }
        replay_tls(&mut c, "tls13-ok.bin");
        c.close();
        let s = one_session(cap);
        assert_eq!(
            s.verdict,
            V::Incomplete,
            "lost reply {lose_reply}: {:?}",
            kinds(&s)
        );
        assert!(s.has(F::CaptureGap) && s.record.tls_unannounced);
        assert!(!s.has(F::CleartextMail));
    }
}

#[test]
fn capture_starting_inside_tls_is_incomplete_and_midstream() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(client(), server());
    for (from_client, bytes) in tls_vector("tls13-ok.bin").into_iter().skip(3) {
        if from_client {
            c.client(&bytes);
        } else {
            c.server(&bytes);
        }
    }
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Incomplete);
    assert!(s.has(F::Midstream), "{:?}", kinds(&s));
}

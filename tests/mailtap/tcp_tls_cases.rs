//! Issue 13, the cases in reassembly, line buffering, findings and TLS facts: one test per
//! case, named after it, each written by the capture writer.

use mailtap::classify::{FindingKind as F, SessionReport, Severity, Verdict as V};

use crate::common::capture_writer::{Capture, Conn, Format, Link};
use crate::common::{analyze_bytes, replay_tls};

const GREETING: &[u8] = b"220 mx.example.test ESMTP Postfix\r\n";
const EHLO: &[u8] = b"EHLO client.example.test\r\n";
const OFFER: &[u8] = b"250-mx.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
const NO_OFFER: &[u8] = b"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

fn client() -> std::net::SocketAddr {
    "192.0.2.10:40000".parse().unwrap()
}

fn server() -> std::net::SocketAddr {
    "198.51.100.25:25".parse().unwrap()
}

fn new_conn() -> (Capture, Conn) {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let c = cap.tcp(client(), server());
    (cap, c)
}

/// Handshake, greeting, EHLO and the given EHLO reply.
fn opening(c: &mut Conn, ehlo_reply: &[u8]) {
    c.handshake();
    c.server(GREETING);
    c.client(EHLO);
    c.server(ehlo_reply);
}

fn one_session(cap: Capture) -> SessionReport {
    let analysis = analyze_bytes(&cap.finish());
    assert!(analysis.damage.is_none(), "{:?}", analysis.damage);
    assert_eq!(analysis.sessions.len(), 1);
    analysis.sessions.into_iter().next().unwrap()
}

fn kinds(s: &SessionReport) -> Vec<&'static str> {
    s.findings.iter().map(|f| f.kind.name()).collect()
}

fn all(s: &SessionReport, kind: F) -> Vec<&mailtap::classify::Finding> {
    s.findings.iter().filter(|f| f.kind == kind).collect()
}

/// Case 1: DATA, then the message one byte per segment, all of it before the `354`. The
/// work is linear (the speed is measured by `benches/pipeline.rs`, group "adversarial");
/// here: every byte is followed, and the dialogue after the message is read correctly.
#[test]
fn case_01_one_byte_segments_are_linear() {
    let (cap, mut c) = new_conn();
    opening(&mut c, NO_OFFER);
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    c.client(b"RCPT TO:<b@example.test>\r\n");
    c.server(b"250 2.1.5 Ok\r\n");
    c.client(b"DATA\r\n");
    let mut body = b"Hi\r\n".repeat(5_000);
    body.extend_from_slice(b".\r\n");
    c.client_bytewise(&body);
    c.server(b"354 End data with <CR><LF>.<CR><LF>\r\n");
    c.server(b"250 2.0.0 Ok: queued\r\n");
    let quit = c.client(b"QUIT\r\n") as u64;
    c.server(b"221 2.0.0 Bye\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::NotOffered, "{:?}", kinds(&s));
    assert!(s.has(F::CleartextMail));
    assert!(!s.record.limits_hit);
    assert_eq!(s.record.gap_bytes, 0);
    assert_eq!(s.record.last_command_frame, Some(quit));
}

/// Case 6: every masked keyword is reported, `high` only for one of STARTTLS' length (the
/// ASA keeps lengths: `AUTH` -> `XXXA`; `CHUNKING` -> `XXXXXXXB` has STARTTLS' 8 characters).
#[test]
fn case_06_only_a_mask_of_starttls_length_is_high() {
    let (cap, mut c) = new_conn();
    opening(
        &mut c,
        b"250-mx.example.test\r\n250-XXXA PLAIN LOGIN\r\n250-XXXXXXXXA\r\n250-XXXXXXXB\r\n250 8BITMIME\r\n",
    );
    c.client(b"QUIT\r\n");
    c.close();
    let s = one_session(cap);
    let masked: Vec<(Severity, String)> = all(&s, F::MaskedKeyword)
        .iter()
        .map(|f| (f.severity, f.evidence.escaped()))
        .collect();
    assert_eq!(
        masked,
        vec![
            (
                Severity::Warning,
                "250-XXXA PLAIN LOGIN (4 characters: cannot be STARTTLS)".to_owned()
            ),
            (
                Severity::Warning,
                "250-XXXXXXXXA (9 characters: cannot be STARTTLS)".to_owned()
            ),
            (
                Severity::High,
                "250-XXXXXXXB (8 characters: could be STARTTLS)".to_owned()
            ),
        ]
    );
}

/// Case 8: a keyword line blanked inside the EHLO reply (`250-`, or `250-` and spaces) is a
/// deleted line (S7).
#[test]
fn case_08_blanked_keyword_lines_are_deleted_lines() {
    for blank in [&b"250-"[..], b"250-        "] {
        let (cap, mut c) = new_conn();
        let mut reply = b"250-mx.example.test\r\n250-PIPELINING\r\n".to_vec();
        reply.extend_from_slice(blank);
        reply.extend_from_slice(b"\r\n250 8BITMIME\r\n");
        c.handshake();
        c.server(GREETING);
        c.client(EHLO);
        let frame = c.server(&reply) as u64;
        c.client(b"QUIT\r\n");
        c.close();
        let s = one_session(cap);
        let deleted = all(&s, F::DeletedLine);
        assert_eq!(deleted.len(), 1, "{:?}", kinds(&s));
        assert_eq!(
            (deleted[0].frame, deleted[0].evidence.as_bytes()),
            (frame, blank)
        );
    }
    // A greeting line (the first) is no keyword line, and a reply without blanks is clean.
    let (cap, mut c) = new_conn();
    opening(&mut c, NO_OFFER);
    c.client(b"QUIT\r\n");
    c.close();
    assert!(!one_session(cap).has(F::DeletedLine));
}

/// Case 18: any 4xx or 5xx reply to EHLO is `ehlo-rejected`, with or without a HELO after it.
#[test]
fn case_18_ehlo_4xx_is_ehlo_rejected() {
    for (reply, helo) in [
        (&b"421 4.3.2 Service shutting down, busy\r\n"[..], false),
        (b"451 4.3.0 Try again later\r\n", false),
        (b"502 5.5.1 EHLO not supported\r\n", true),
        (b"554 5.7.1 No ESMTP for you\r\n", false),
    ] {
        let (cap, mut c) = new_conn();
        c.handshake();
        c.server(GREETING);
        c.client(EHLO);
        let frame = c.server(reply) as u64;
        if helo {
            c.client(b"HELO client.example.test\r\n");
            c.server(b"250 mx.example.test\r\n");
        }
        c.client(b"QUIT\r\n");
        c.close();
        let s = one_session(cap);
        let f = all(&s, F::EhloRejected);
        assert_eq!(
            f.len(),
            1,
            "{:?}: {:?}",
            String::from_utf8_lossy(reply),
            kinds(&s)
        );
        assert_eq!(f[0].frame, frame);
        assert_eq!(f[0].evidence.as_bytes(), &reply[..reply.len() - 2]);
    }
}

/// Writes a TLS conversation after the `220`: the client's first flight (the ClientHello)
/// from `hello_from`, everything else from `rest_from` (a middlebox rewriting the hello, as
/// far as the sniffer can tell: it checks no cryptography).
fn spliced_tls(c: &mut Conn, hello_from: &str, rest_from: &str) {
    let hello = crate::common::tls_vector(hello_from);
    assert!(hello[0].0, "{hello_from} starts with the client");
    c.client(&hello[0].1);
    for (from_client, bytes) in crate::common::tls_vector(rest_from).into_iter().skip(1) {
        if from_client {
            c.client(&bytes);
        } else {
            c.server(&bytes);
        }
    }
}

fn upgraded_with(tls: impl FnOnce(&mut Conn)) -> SessionReport {
    let (cap, mut c) = new_conn();
    opening(&mut c, OFFER);
    c.client(b"STARTTLS\r\n");
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
    tls(&mut c);
    c.close();
    one_session(cap)
}

/// Case 12: the sentinel is a finding only when the client offered more than was negotiated.
#[test]
fn case_12_downgrade_sentinel_only_on_a_real_downgrade() {
    use mailtap::tls::DowngradeSentinel as D;
    // A TLS 1.2-only client, a TLS 1.3 server: `…01` is expected. Raw fact kept, no finding.
    let capped = upgraded_with(|c| replay_tls(c, "tls12-ok.bin"));
    assert_eq!(capped.verdict, V::Upgraded);
    assert!(!capped.has(F::DowngradeSentinel), "{:?}", kinds(&capped));
    let sh = capped.record.tls.as_ref().unwrap().server_hello.as_ref();
    assert_eq!(sh.unwrap().downgrade_sentinel, Some(D::Tls12));
    // A TLS 1.0-only client getting `…00`: expected as well.
    let old = upgraded_with(|c| replay_tls(c, "tls10-ok.bin"));
    assert!(!old.has(F::DowngradeSentinel) && old.has(F::WeakTlsVersion));
    // The client offered TLS 1.3 (its hello), TLS 1.2 came back with `…01`: a downgrade.
    let down = upgraded_with(|c| spliced_tls(c, "tls13-ok.bin", "tls12-ok.bin"));
    let f = all(&down, F::DowngradeSentinel);
    assert_eq!(f.len(), 1, "{:?}", kinds(&down));
    assert_eq!(f[0].severity, Severity::High);
    let text = f[0].evidence.escaped();
    assert!(
        text.contains("44 4F 57 4E 47 52 44 01") && text.contains("up to TLS 1.3"),
        "{text}"
    );
    // A client capped at TLS 1.2 getting `…00` (TLS 1.0 negotiated) is a downgrade too.
    let down = upgraded_with(|c| spliced_tls(c, "tls12-ok.bin", "tls10-ok.bin"));
    let f = all(&down, F::DowngradeSentinel);
    assert_eq!(f.len(), 1, "{:?}", kinds(&down));
    assert!(f[0].evidence.escaped().contains("44 4F 57 4E 47 52 44 00"));
}

/// Case 11: the certificate's host name is judged against SNI only; a banner name
/// (`exch01.corp.example.local`) proves nothing about what a verifying client checks.
#[test]
fn case_11_certificate_host_is_judged_against_sni_only() {
    let session = |banner: &[u8], tls: &dyn Fn(&mut Conn)| {
        let (cap, mut c) = new_conn();
        c.handshake();
        c.server(banner);
        c.client(EHLO);
        c.server(OFFER);
        c.client(b"STARTTLS\r\n");
        c.server(b"220 2.0.0 Ready to start TLS\r\n");
        tls(&mut c);
        c.close();
        one_session(cap)
    };
    // No SNI: no claim, whatever the banner says; the certificate's names are still there.
    let no_sni = session(b"220 exch01.corp.example.local ESMTP\r\n", &|c| {
        replay_tls(c, "tls12-no-sni.bin")
    });
    assert_eq!(no_sni.verdict, V::Upgraded);
    assert!(!no_sni.has(F::CertHostMismatch), "{:?}", kinds(&no_sni));
    assert!(!no_sni.tls_rpt().contains(&"certificate-host-mismatch"));
    let tls = no_sni.record.tls.as_ref().unwrap();
    assert_eq!(tls.client_hello.as_ref().unwrap().sni, None);
    let cert = tls.certificate.as_ref().unwrap();
    assert!(cert.dns_names.iter().any(|n| n == "mail.example.test"));
    // SNI naming a host the certificate does not carry: a mismatch, named after the SNI.
    let other_sni = session(GREETING, &|c| {
        let mut chunks = crate::common::tls_vector("tls12-ok.bin");
        let hello = &mut chunks[0].1;
        let at = hello
            .windows(17)
            .position(|w| w == b"mail.example.test")
            .expect("SNI in the hello");
        hello[at..at + 4].copy_from_slice(b"smtp");
        for (from_client, bytes) in chunks {
            if from_client {
                c.client(&bytes);
            } else {
                c.server(&bytes);
            }
        }
    });
    let f = all(&other_sni, F::CertHostMismatch);
    assert_eq!(f.len(), 1, "{:?}", kinds(&other_sni));
    assert!(f[0].evidence.escaped().contains("smtp.example.test"));
    // SNI the certificate names: fine.
    let sni = session(b"220 exch01.corp.example.local ESMTP\r\n", &|c| {
        replay_tls(c, "tls12-ok.bin")
    });
    assert!(!sni.has(F::CertHostMismatch), "{:?}", kinds(&sni));
}

/// Case 17: the session JSON's `tls` object says whether the certificate could be seen.
#[test]
fn case_17_certificate_visibility_in_json() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    for (port, vector) in [(40001u16, "tls13-ok.bin"), (40002, "tls12-ok.bin")] {
        let mut c = cap.tcp(format!("192.0.2.10:{port}").parse().unwrap(), server());
        opening(&mut c, OFFER);
        c.client(b"STARTTLS\r\n");
        c.server(b"220 2.0.0 Ready to start TLS\r\n");
        replay_tls(&mut c, vector);
        c.close();
    }
    let path = crate::common::temp_path("case17.pcap");
    cap.save(&path).unwrap();
    let (doc, _) = crate::common::mailtap_json(&[path.to_str().unwrap()]);
    let seen: Vec<(&str, bool)> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let tls = &s["tls"];
            (
                tls["certificate_visibility"].as_str().unwrap(),
                tls["certificate"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![("not visible (TLS 1.3)", true), ("visible", false)]
    );
}

/// Case 5: an ACK captured before the data it acknowledges (SPAN ports, mirror sessions,
/// multi-queue NICs: Wireshark's "ACKed unseen segment") is not a loss when the data follows
/// within a few segments; data that never comes is still a gap.
#[test]
fn case_05_ack_before_the_data_it_acknowledges() {
    // The client's ACK of the EHLO reply is captured before the reply, and its STARTTLS too.
    let (cap, mut c) = new_conn();
    c.handshake();
    c.server(GREETING);
    c.client(EHLO);
    let reply = c.server_segments(OFFER, &[]);
    c.client_ack();
    let starttls = c.client_segments(b"STARTTLS\r\n", &[]);
    c.write(&starttls[0]);
    let reply_frame = c.write(&reply[0]) as u64;
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
    replay_tls(&mut c, "tls13-ok.bin");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Upgraded, "{:?}", kinds(&s));
    assert!(!s.has(F::CaptureGap), "{:?}", kinds(&s));
    assert_eq!(s.record.gap_bytes, 0);
    let ehlo = s.record.hello[0].reply.as_ref().unwrap();
    assert!(ehlo.offers_starttls());
    assert_eq!(ehlo.frame, reply_frame);

    // The same in the other direction, the ACK a few frames ahead, one-byte segments.
    let (cap, mut c) = new_conn();
    c.handshake();
    c.server(GREETING);
    let ehlo = c.client_segments(EHLO, &[1; 25]);
    c.server_ack();
    for seg in &ehlo {
        c.write(seg);
    }
    c.server(NO_OFFER);
    c.client(b"QUIT\r\n");
    c.server(b"221 Bye\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::NotOffered, "{:?}", kinds(&s));
    assert_eq!(s.record.gap_bytes, 0);

    // Acknowledged data that never comes is a gap, noticed within a bounded window: the
    // dialogue goes on and the capture-gap is still reported, at the ACK's frame.
    let (cap, mut c) = new_conn();
    c.handshake();
    c.server(GREETING);
    c.client(EHLO);
    c.server(b"250-mx.example.test\r\n");
    c.skip_server(14); // "250-STARTTLS\r\n" never captured
    let ack = c.client_ack() as u64;
    c.server(b"250 8BITMIME\r\n");
    for _ in 0..20 {
        c.client(b"NOOP\r\n");
        c.server(b"250 2.0.0 Ok\r\n");
    }
    c.client(b"QUIT\r\n");
    c.server(b"221 Bye\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Incomplete, "{:?}", kinds(&s));
    assert_eq!(s.record.gap_bytes, 14);
    assert_eq!(all(&s, F::CaptureGap)[0].frame, ack);
    assert!(
        matches!(s.record.end, mailtap::smtp::record::End::Closed),
        "{:?}",
        s.record.end
    );
}

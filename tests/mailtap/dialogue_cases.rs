//! Issue 13's cases about the SMTP dialogue, each a capture written by the capture writer and
//! the verdict and findings the wire proves (RFC 5321, 3207, 2920, 3030). The cases about
//! TCP, TLS facts and single findings are in their own files.

use mailtap::classify::{FindingKind as F, Verdict as V};

use crate::common::capture_writer::{Capture, Conn, Format, Link};
use crate::common::{analyze_bytes, replay_tls, tls_vector};
use crate::edge_cases::{
    client, finding, kinds, one_session, opening, server, EHLO, GREETING, NO_OFFER, OFFER,
};

fn capture() -> Capture {
    Capture::new(Format::PcapMicro, Link::Ethernet)
}

fn starttls_220(c: &mut Conn) {
    c.client(b"STARTTLS\r\n");
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
}

#[test]
fn case_02_bdat_0_last_does_not_stop_the_client_side() {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(
        &mut c,
        b"250-mx.example.test\r\n250-CHUNKING\r\n250 AUTH PLAIN\r\n",
    );
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    c.client(b"RCPT TO:<b@example.test>\r\n");
    c.server(b"250 2.1.5 Ok\r\n");
    c.client(b"BDAT 10\r\n0123456789");
    c.server(b"250 2.0.0 10 octets received\r\n");
    c.client(b"BDAT 0 LAST\r\n");
    c.server(b"250 2.0.0 Message accepted\r\n");
    let auth = c.client(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    c.server(b"235 2.7.0 Authentication successful\r\n");
    c.client(b"QUIT\r\n");
    c.server(b"221 2.0.0 Bye\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::NotOffered);
    assert_eq!(finding(&s, F::AuthBeforeTls).frame, auth as u64);
}

/// An upgraded TLS 1.3 session whose chunk number `lost` of the recorded handshake is
/// missing from the capture (its bytes skipped, as a lost segment).
fn upgrade_losing_chunk(lost: usize) -> mailtap::classify::SessionReport {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    starttls_220(&mut c);
    for (i, (from_client, bytes)) in tls_vector("tls13-ok.bin").into_iter().enumerate() {
        match (i == lost, from_client) {
            (true, true) => c.skip_client(bytes.len()),
            (true, false) => c.skip_server(bytes.len()),
            (false, true) => drop(c.client(&bytes)),
            (false, false) => drop(c.server(&bytes)),
        }
    }
    c.close();
    one_session(cap)
}

#[test]
fn case_03_a_lost_client_hello_is_no_response_injection() {
    let s = upgrade_losing_chunk(0);
    assert!(!s.has(F::ResponseInjection), "{:?}", kinds(&s));
    assert_eq!(s.verdict, V::Incomplete, "{:?}", kinds(&s));
    assert!(s.has(F::CaptureGap));
}

#[test]
fn case_04_a_gap_in_the_handshake_is_incomplete_not_failed() {
    // The server's first flight (ServerHello onwards) is lost.
    let s = upgrade_losing_chunk(1);
    assert_eq!(s.verdict, V::Incomplete, "{:?}", kinds(&s));
    assert!(!s.tls_rpt().contains(&"validation-failure"));
}

#[test]
fn case_06_a_mask_that_cannot_be_starttls_is_no_stripped_offer() {
    // An ASA masks AUTH as XXXA: four characters cannot have been STARTTLS.
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(
        &mut c,
        b"250-mx.example.test\r\n250-XXXA\r\n250 8BITMIME\r\n",
    );
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::NotOffered, "{:?}", kinds(&s));
    assert!(s.has(F::MaskedKeyword));
    // Eight characters could have been: with no STARTTLS in the reply, the offer was stripped.
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(
        &mut c,
        b"250-mx.example.test\r\n250-XXXXXXXA\r\n250 8BITMIME\r\n",
    );
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    c.close();
    assert_eq!(one_session(cap).verdict, V::Stripped);
    // ...but not beside an unmasked STARTTLS (CHUNKING masked as XXXXXXXB).
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(
        &mut c,
        b"250-mx.example.test\r\n250-XXXXXXXB\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
    );
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    c.close();
    assert_eq!(one_session(cap).verdict, V::NotUsed);
}

fn session_530(text: &[u8]) -> mailtap::classify::SessionReport {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(&mut c, NO_OFFER);
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(text);
    c.client(b"QUIT\r\n");
    c.server(b"221 2.0.0 Bye\r\n");
    c.close();
    one_session(cap)
}

#[test]
fn case_07_starttls_demanded_but_not_offered_is_stripped() {
    let s = session_530(b"530 5.7.0 Must issue a STARTTLS command first\r\n");
    assert_eq!(s.verdict, V::Stripped);
    let f = finding(&s, F::RequiredNotOffered);
    assert!(
        f.evidence.to_string().contains("530 5.7.0 Must issue"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.to_string().contains("offered no STARTTLS"));
    // The same codes for authentication (RFC 4954 §6) demand no TLS.
    let s = session_530(b"530 5.7.0 Authentication required\r\n");
    assert_eq!(s.verdict, V::NotOffered);
    assert!(!s.has(F::RequiredNotOffered) && !s.has(F::TlsRequired));
}

#[test]
fn case_09_a_refused_starttls_then_an_accepted_one_is_upgraded() {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    c.client(b"STARTTLS\r\n");
    let refusal = c.server(b"454 4.7.0 TLS not available due to local problem\r\n");
    starttls_220(&mut c);
    replay_tls(&mut c, "tls13-ok.bin");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Upgraded, "{:?}", kinds(&s));
    assert_eq!(finding(&s, F::StarttlsRejected).frame, refusal as u64);
}

#[test]
fn case_10_an_ehlo_reply_cut_by_a_gap_is_no_inconsistent_offer() {
    let mut cap = capture();
    let mut a = cap.tcp(client(), server());
    opening(&mut a, OFFER);
    a.client(b"QUIT\r\n");
    a.server(b"221 2.0.0 Bye\r\n");
    a.close();
    let other: std::net::SocketAddr = "192.0.2.10:40001".parse().unwrap();
    let mut b = cap.tcp(other, server());
    b.handshake();
    b.server(GREETING);
    b.client(EHLO);
    b.server(b"250-mx.example.test\r\n250-PIPELINING\r\n");
    b.skip_server(b"250-STARTTLS\r\n".len());
    b.server(b"250 8BITMIME\r\n");
    b.client(b"QUIT\r\n");
    b.server(b"221 2.0.0 Bye\r\n");
    b.close();
    let analysis = analyze_bytes(&cap.finish());
    assert_eq!(analysis.sessions.len(), 2);
    for s in &analysis.sessions {
        assert!(!s.has(F::InconsistentOffer), "{:?}", kinds(s));
    }
    assert!(analysis.sessions[1].has(F::CaptureGap));
}

#[test]
fn case_13_a_client_that_ignores_the_refusal_gets_the_dialogue_verdict() {
    let hello = &tls_vector("tls12-ok.bin")[0].1;
    // Refused with 454, the client starts TLS anyway; the server reads its bytes as lines.
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    c.client(b"STARTTLS\r\n");
    c.server(b"454 4.7.0 TLS not available due to local problem\r\n");
    let tls = c.client(hello);
    c.server(b"500 5.5.2 Error: bad syntax\r\n500 5.5.2 Error: bad syntax\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Rejected, "{:?}", kinds(&s));
    assert_eq!(finding(&s, F::TlsWithout220).frame, tls as u64);
    assert!(!s.has(F::PlaintextAfterUpgrade));
    // Masked by a firewall: the dialogue says stripped.
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(
        &mut c,
        b"250-mx.example.test\r\n250-PIPELINING\r\n250-XXXXXXXA\r\n250 8BITMIME\r\n",
    );
    c.client(b"STARTTLS\r\n");
    c.server(b"500 5.5.2 Error: command not recognized\r\n");
    c.client(hello);
    c.server(b"500 5.5.2 Error: bad syntax\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Stripped, "{:?}", kinds(&s));
    assert!(s.has(F::TlsWithout220) && s.has(F::MaskedKeyword));
}

#[test]
fn case_14_a_greeting_that_refuses_the_client_is_refused() {
    for banner in [
        &b"554 5.7.1 mx.example.test: Client host rejected: blocked\r\n"[..],
        b"421 4.3.2 Service not available, closing transmission channel\r\n",
    ] {
        let mut cap = capture();
        let mut c = cap.tcp(client(), server());
        c.handshake();
        let frame = c.server(banner);
        c.client(b"QUIT\r\n");
        c.server(b"221 2.0.0 Bye\r\n");
        c.close();
        let s = one_session(cap);
        assert_eq!(s.verdict, V::Refused);
        assert_eq!(s.record.greeting.as_ref().unwrap().frame, frame as u64);
    }
}

#[test]
fn case_15_a_connection_that_is_not_smtp_is_counted_not_listed() {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    c.handshake();
    c.client(b"GET / HTTP/1.1\r\nHost: mx.example.test\r\n\r\n");
    c.server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    c.close();
    let analysis = analyze_bytes(&cap.finish());
    assert!(analysis.sessions.is_empty());
    assert_eq!(analysis.summary.not_smtp, 1);
    assert_eq!(analysis.summary.sessions, 0);
}

#[test]
fn case_16_commands_pipelined_behind_a_refused_starttls_are_no_injection() {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    let pipelined = c.client(b"STARTTLS\r\nMAIL FROM:<a@example.test>\r\n");
    c.server(b"454 4.7.0 TLS not available due to local problem\r\n250 2.1.0 Ok\r\n");
    c.client(b"QUIT\r\n");
    c.server(b"221 2.0.0 Bye\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Rejected);
    assert!(!s.has(F::CommandInjection), "{:?}", kinds(&s));
    assert_eq!(finding(&s, F::StarttlsPipelined).frame, pipelined as u64);
    assert!(!s.tls_rpt().contains(&"validation-failure"));
    // The pipelined MAIL was read, in plaintext, as it should be.
    assert!(s.has(F::CleartextMail));
}

#[test]
fn case_19_a_500_the_client_caused_by_pipelining_is_rejected() {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    c.client(b"STARTTLS\r\nRSET\r\n");
    c.server(b"500 5.5.1 Invalid command: Pipelining not supported\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Rejected, "{:?}", kinds(&s));
    assert!(s.has(F::StarttlsPipelined) && !s.has(F::MaskedCommand));
}

/// An upgraded STARTTLS session (TLS 1.3 or 1.2) with only one side's packets written.
fn one_side(vector: &str, client_side: bool, port: u16) -> Capture {
    let mut cap = capture();
    let mut srv = server();
    srv.set_port(port);
    let mut c = cap.tcp(client(), srv);
    let dialogue: &[(bool, &[u8])] = if port == 465 {
        &[]
    } else {
        &[
            (false, GREETING),
            (true, EHLO),
            (false, OFFER),
            (true, b"STARTTLS\r\n"),
            (false, b"220 2.0.0 Ready to start TLS\r\n"),
        ]
    };
    if client_side {
        c.syn();
    } else {
        c.with_isn(1000, 5000);
    }
    let tls = tls_vector(vector);
    let all = dialogue
        .iter()
        .map(|(from_client, bytes)| (*from_client, bytes.to_vec()))
        .chain(tls);
    for (from_client, bytes) in all {
        match (from_client, client_side) {
            (true, true) => drop(c.client(&bytes)),
            (false, false) => drop(c.server(&bytes)),
            (true, false) => c.skip_client(bytes.len()),
            (false, true) => c.skip_server(bytes.len()),
        }
    }
    if client_side {
        c.fin_client();
    } else {
        c.fin_server();
    }
    cap
}

#[test]
fn case_20_one_direction_gives_only_what_that_side_proves() {
    for vector in ["tls13-ok.bin", "tls12-ok.bin"] {
        let s = one_session(one_side(vector, true, 25));
        assert_eq!(s.verdict, V::Upgraded, "{vector}: {:?}", kinds(&s));
        assert!(s.has(F::OneDirection));
        let s = one_session(one_side(vector, true, 465));
        assert_eq!(s.verdict, V::ImplicitTls, "{vector}: {:?}", kinds(&s));
        // The server's side alone cannot show that the client finished its handshake.
        let s = one_session(one_side(vector, false, 25));
        assert_eq!(s.verdict, V::Incomplete, "{vector}: {:?}", kinds(&s));
        assert!(s.has(F::OneDirection) && !s.has(F::ResponseInjection));
    }
    // A client that sent STARTTLS and its ClientHello only: nothing proves the upgrade.
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    c.syn();
    c.client(EHLO);
    c.client(b"STARTTLS\r\n");
    c.client(&tls_vector("tls13-ok.bin")[0].1);
    c.fin_client();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Incomplete, "{:?}", kinds(&s));
}

#[test]
fn case_21_a_decrypted_capture_is_noted() {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    opening(&mut c, OFFER);
    starttls_220(&mut c);
    let ehlo = c.client(EHLO);
    let answered = c.server(b"250-mx.example.test\r\n250 8BITMIME\r\n");
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    c.client(b"QUIT\r\n");
    c.server(b"221 2.0.0 Bye\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::HandshakeFailed, "{:?}", kinds(&s));
    assert_eq!(finding(&s, F::PlaintextAfterUpgrade).frame, ehlo as u64);
    let decrypted = finding(&s, F::DecryptedCapture);
    assert_eq!(decrypted.frame, ehlo as u64);
    assert!(decrypted
        .evidence
        .to_string()
        .contains(&format!("#{answered}")));
}

/// Issue 14 (drops under load): a reply lost whole in a gap must not let the next reply pass
/// for it — the `250` to MAIL is no EHLO reply without STARTTLS, the `250` to RCPT no answer
/// to STARTTLS.
#[test]
fn a_reply_lost_in_a_gap_is_not_replaced_by_the_next_one() {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    c.handshake();
    c.server(GREETING);
    c.client(EHLO);
    c.skip_server(OFFER.len());
    c.client(b"MAIL FROM:<a@example.test>\r\n");
    c.server(b"250 2.1.0 Ok\r\n");
    c.client(b"QUIT\r\n");
    c.server(b"221 2.0.0 Bye\r\n");
    c.close();
    let s = one_session(cap);
    assert_eq!(s.verdict, V::Incomplete, "{:?}", kinds(&s));

    // MAIL's reply lost, RCPT's read: the 220 after STARTTLS is still STARTTLS' own. The
    // server's bytes after the hole wait in reassembly until the hole is declared a gap, so
    // they reach the TLS sniffer after the client's: the handshake cannot be followed, and
    // the close after it is no proof of failure.
    let pipelined_then_starttls = |reply: &[u8], tls: bool| {
        let mut cap = capture();
        let mut c = cap.tcp(client(), server());
        opening(&mut c, OFFER);
        c.client(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n");
        c.skip_server(b"250 2.1.0 Ok\r\n".len());
        c.server(b"250 2.1.5 Ok\r\n");
        c.client(b"STARTTLS\r\n");
        c.server(reply);
        if tls {
            replay_tls(&mut c, "tls13-ok.bin");
        }
        c.close();
        one_session(cap)
    };
    let s = pipelined_then_starttls(b"220 2.0.0 Ready to start TLS\r\n", true);
    assert_eq!(s.verdict, V::Incomplete, "{:?}", kinds(&s));
    assert_eq!(s.record.starttls.unwrap().reply.unwrap().code, 220);
    // A 454 then could also be RCPT's (the 250 MAIL's): nothing decides.
    let s = pipelined_then_starttls(b"454 4.7.0 TLS not available\r\n", false);
    assert_eq!(s.verdict, V::Incomplete, "{:?}", kinds(&s));
}

/// Issue 14 (drops under load): a STARTTLS session whose EHLO and STARTTLS were lost shows a
/// ClientHello as the client's first bytes: not implicit TLS (the plaintext greeting would
/// then read as a failed handshake) but an upgrade the capture lost.
#[test]
fn a_client_hello_after_lost_commands_is_no_implicit_tls() {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    c.handshake();
    c.server(GREETING);
    c.skip_client(EHLO.len());
    c.server(OFFER);
    c.skip_client(b"STARTTLS\r\n".len());
    c.server(b"220 2.0.0 Ready to start TLS\r\n");
    replay_tls(&mut c, "tls13-ok.bin");
    c.close();
    let s = one_session(cap);
    assert!(!s.record.implicit_tls, "{:?}", kinds(&s));
    assert_eq!(s.verdict, V::Incomplete, "{:?}", kinds(&s));
}

/// Issue 14: a greeting lost in a gap is not replaced by the reply to EHLO (a `550` there
/// would read as a refusal at the greeting).
#[test]
fn a_lost_greeting_is_not_replaced_by_the_next_reply() {
    let mut cap = capture();
    let mut c = cap.tcp(client(), server());
    c.handshake();
    c.skip_server(GREETING.len());
    c.client(EHLO);
    c.server(b"550 5.7.1 Client host blocked\r\n");
    c.client(b"QUIT\r\n");
    c.server(b"221 2.0.0 Bye\r\n");
    c.close();
    let s = one_session(cap);
    assert_ne!(s.verdict, V::Refused, "{:?}", kinds(&s));
    assert!(s.record.greeting.is_none());
}

//! Session behaviour, fed byte streams directly (what reassembly would hand on).

use super::record::{End, SessionRecord};
use super::{Detection, Session, SessionLimits};
use crate::capture::Timestamp;
use crate::classify::{classify, FindingKind, Verdict};
use crate::Direction::{self, ToClient, ToServer};

/// Plays a dialogue: each step is one chunk of one direction, in its own frame.
fn play(steps: &[(Direction, &[u8])]) -> Session {
    let mut s = Session::new(
        "192.0.2.1:40000".parse().unwrap(),
        "198.51.100.2:25".parse().unwrap(),
        1,
        Timestamp::new(1_700_000_000, 0),
        true,
        SessionLimits {
            keep_transcript: true,
            ..SessionLimits::default()
        },
    );
    for (i, (dir, bytes)) in steps.iter().enumerate() {
        s.data(*dir, bytes, i as u64 + 1);
    }
    s
}

fn finish(steps: &[(Direction, &[u8])], end: End) -> SessionRecord {
    play(steps).finish(end)
}

const GREETING: (Direction, &[u8]) = (ToClient, b"220 mx.example.test ESMTP\r\n");
const EHLO: (Direction, &[u8]) = (ToServer, b"EHLO client.example\r\n");
const OFFER: (Direction, &[u8]) = (
    ToClient,
    b"250-mx.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
);
const NO_OFFER: (Direction, &[u8]) = (
    ToClient,
    b"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
);

#[test]
fn starttls_exchange_is_recorded_and_tls_begins() {
    let r = finish(
        &[
            GREETING,
            EHLO,
            OFFER,
            (ToServer, b"STARTTLS\r\n"),
            (ToClient, b"220 2.0.0 Ready to start TLS\r\n"),
            (ToServer, b"\x16\x03\x01\x00\x05hello"),
        ],
        End::CaptureEnded,
    );
    let starttls = r.starttls.as_ref().unwrap();
    assert_eq!(starttls.command.frame, 4);
    assert_eq!(starttls.reply.as_ref().unwrap().code, 220);
    assert!(r.tls.is_some());
    assert!(r.command_injection.is_none());
    assert_eq!(r.greeting.as_ref().unwrap().code, 220);
    assert_eq!(r.hello[0].reply.as_ref().unwrap().lines.len(), 4);
}

#[test]
fn pipelined_commands_get_their_replies_in_order() {
    let r = finish(
        &[
            GREETING,
            EHLO,
            NO_OFFER,
            (
                ToServer,
                b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n",
            ),
            (
                ToClient,
                b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
            ),
            (
                ToServer,
                b"Subject: STARTTLS\r\n\r\nSTARTTLS\r\nEHLO inside the body\r\n.\r\nQUIT\r\n",
            ),
            (ToClient, b"250 2.0.0 queued\r\n221 Bye\r\n"),
        ],
        End::Closed,
    );
    // Lines of the message are not commands.
    assert!(r.starttls.is_none());
    assert_eq!(r.hello.len(), 1);
    assert_eq!(r.mail_in_clear.as_ref().unwrap().frame, 4);
    let report = classify(r);
    assert_eq!(report.verdict, Verdict::NotOffered);
    assert!(report.has(FindingKind::CleartextMail));
}

#[test]
fn bdat_chunks_are_skipped_by_length() {
    let r = finish(
        &[
            GREETING,
            EHLO,
            NO_OFFER,
            (
                ToServer,
                b"MAIL FROM:<a@b>\r\nBDAT 10 LAST\r\nSTARTTLS\r\nQUIT\r\n",
            ),
        ],
        End::CaptureEnded,
    );
    assert!(
        r.starttls.is_none(),
        "the 10-byte chunk 'STARTTLS\\r\\n' is data"
    );
    assert_eq!(r.transcript.last().unwrap().text.as_bytes(), b"QUIT");
}

#[test]
fn command_injection_after_starttls() {
    let r = finish(
        &[
            GREETING,
            EHLO,
            OFFER,
            (ToServer, b"STARTTLS\r\nRSET\r\n"),
            (ToClient, b"220 Ready\r\n"),
        ],
        End::CaptureEnded,
    );
    let e = r.command_injection.as_ref().expect("injection");
    assert_eq!(e.bytes.as_bytes(), b"RSET\r\n");
    assert_eq!(e.frame, 4);
    assert!(classify(r).has(FindingKind::CommandInjection));
}

#[test]
fn response_injection_after_220() {
    let r = finish(
        &[
            GREETING,
            EHLO,
            OFFER,
            (ToServer, b"STARTTLS\r\n"),
            (ToClient, b"220 Ready\r\n250-injected\r\n250 STARTTLS\r\n"),
        ],
        End::CaptureEnded,
    );
    let e = r.response_injection.as_ref().expect("injection");
    assert!(e.bytes.as_bytes().starts_with(b"250-injected"));
}

#[test]
fn credentials_are_never_kept() {
    let secret = b"AGFsaWNlAFMzY3JldFBhc3N3MHJk"; // \0alice\0S3cretPassw0rd
    let mut steps: Vec<(Direction, &[u8])> = vec![
        GREETING,
        EHLO,
        (ToClient, b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n"),
    ];
    let plain = [b"AUTH PLAIN ".as_slice(), secret, b"\r\n"].concat();
    steps.push((ToServer, &plain));
    steps.push((ToClient, b"235 2.7.0 Authentication successful\r\n"));
    steps.push((ToServer, b"AUTH LOGIN\r\n"));
    steps.push((ToClient, b"334 VXNlcm5hbWU6\r\n"));
    steps.push((ToServer, b"YWxpY2U=\r\n"));
    steps.push((ToClient, b"334 UGFzc3dvcmQ6\r\n"));
    steps.push((ToServer, b"UzNjcmV0UGFzc3cwcmQ=\r\n"));
    steps.push((ToClient, b"235 ok\r\nextra\r\n"));
    let r = finish(&steps, End::Closed);
    let json = serde_json::to_string(&r).unwrap();
    for leaked in ["AGFsaWNl", "YWxpY2U=", "UzNjcmV0", "S3cret"] {
        assert!(!json.contains(leaked), "{leaked} in {json}");
    }
    assert_eq!(r.auth_in_clear.as_ref().unwrap().mechanism, "PLAIN");
    let report = classify(r);
    assert!(report.has(FindingKind::AuthBeforeTls));
    assert!(!format!("{:?}", report.findings).contains("S3cret"));
}

#[test]
fn bare_lf_and_one_byte_chunks() {
    let mut s = play(&[]);
    for (i, b) in b"220 mx ESMTP\n".iter().enumerate() {
        s.data(ToClient, std::slice::from_ref(b), 10 + i as u64);
    }
    for (i, b) in b"ehlo x\n".iter().enumerate() {
        s.data(ToServer, std::slice::from_ref(b), 30 + i as u64);
    }
    s.data(ToClient, b"250-mx\n250 STARTTLS\n", 40);
    s.data(ToServer, b"QUIT\n", 41);
    let r = s.finish(End::Closed);
    assert_eq!(r.greeting.as_ref().unwrap().frame, 10);
    assert_eq!(r.hello[0].command.frame, 30);
    assert_eq!(classify(r).verdict, Verdict::NotUsed);
}

#[test]
fn a_gap_resynchronises_on_the_next_line() {
    let mut s = play(&[GREETING, EHLO, (ToClient, b"250-mx\r\n250-PIPE")]);
    s.gap(ToClient, 20, 5);
    s.data(ToClient, b"LINING\r\n250 STARTTLS\r\n", 6);
    s.data(ToServer, b"STARTTLS\r\n", 7);
    let r = s.finish(End::CaptureEnded);
    let reply = r.hello[0].reply.as_ref().unwrap();
    assert!(reply.partial);
    assert!(reply.offers_starttls());
    assert_eq!(r.gap_bytes, 20);
}

#[test]
fn content_detection_needs_greeting_and_hello() {
    let smtp = play(&[GREETING, EHLO]);
    assert_eq!(smtp.detection(), Detection::Smtp);
    let ftp = play(&[
        (ToClient, b"220 ProFTPD ready\r\n"),
        (ToServer, b"USER anonymous\r\n"),
    ]);
    assert_eq!(ftp.detection(), Detection::NotSmtp);
    let imap = play(&[(ToClient, b"* OK IMAP4rev1 ready\r\n")]);
    assert_eq!(imap.detection(), Detection::NotSmtp);
    assert_eq!(play(&[GREETING]).detection(), Detection::Undecided);
}

#[test]
fn implicit_tls_when_the_client_speaks_first_with_a_client_hello() {
    let mut s = play(&[]);
    for (i, b) in b"\x16\x03\x01\x00\x10\x01".iter().enumerate() {
        s.data(ToServer, std::slice::from_ref(b), 1 + i as u64);
    }
    s.data(ToClient, b"220 mx ESMTP\r\n", 9);
    let r = s.finish(End::Reset { by: ToServer });
    assert!(r.implicit_tls);
    assert_eq!(classify(r).verdict, Verdict::HandshakeFailed);
}

#[test]
fn masked_command_answered_502() {
    let r = finish(
        &[
            GREETING,
            EHLO,
            OFFER,
            (ToServer, b"XXXXXXXX\r\n"),
            (ToClient, b"502 5.5.2 Error: command not recognized\r\n"),
            (ToServer, b"QUIT\r\n"),
        ],
        End::Closed,
    );
    let report = classify(r);
    assert_eq!(report.verdict, Verdict::Stripped);
    assert!(report.has(FindingKind::MaskedCommand));
}

#[test]
fn hostile_bytes_do_not_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet: &[&[u8]] = &[
        b"220 ",
        b"250-",
        b"250 ",
        b"STARTTLS\r\n",
        b"\r\n",
        b"\n",
        b"334 x\r\n",
        b"AUTH LOGIN\r\n",
        b"DATA\r\n",
        b"354 go\r\n",
        b".\r\n",
        b"BDAT 3\r\n",
        b"\x16\x03\x01\x00\x02\x01\x00",
        b"\x15\x03\x03\x00\x02\x02\x28",
        b"\xff\x00",
        b"XXXXXXXX\r\n",
        b"EHLO a\r\n",
    ];
    for _ in 0..2000 {
        let mut s = play(&[]);
        for frame in 0..40 {
            let dir = if next() % 2 == 0 { ToServer } else { ToClient };
            if next() % 11 == 0 {
                s.gap(dir, next() % 100, frame);
            } else {
                s.data(
                    dir,
                    alphabet[(next() % alphabet.len() as u64) as usize],
                    frame,
                );
            }
        }
        let _ = classify(s.finish(End::CaptureEnded));
    }
}

#[test]
fn midstream_reply_is_not_taken_for_a_greeting() {
    let mut s = Session::new(
        "192.0.2.1:40000".parse().unwrap(),
        "198.51.100.2:25".parse().unwrap(),
        1,
        Timestamp::new(1_700_000_000, 0),
        false,
        SessionLimits::default(),
    );
    s.data(ToClient, b"250 2.1.5 Ok\r\n", 1);
    s.data(ToServer, b"DATA\r\n", 2);
    s.data(ToClient, b"354 go\r\n", 3);
    let r = s.finish(End::CaptureEnded);
    assert!(r.greeting.is_none());
    assert!(!r.dialogue_start_seen);
    let report = classify(r);
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert!(report.has(FindingKind::Midstream));
}

/// Regressions (tests/mailtap/hostile.rs): credentials in bytes kept as evidence, or after a
/// challenge the capture does not show, never reach the record.
#[test]
fn credentials_in_evidence_and_after_unseen_challenges_are_redacted() {
    let leaked = |r: &SessionRecord| {
        let json = serde_json::to_string(r).unwrap();
        ["AGFsaWNl", "Ym9i", "UzNjcmV0"]
            .into_iter()
            .find(|s| json.contains(s))
            .map(|s| format!("{s} in {json}"))
    };
    // Pipelined after STARTTLS: command-injection evidence.
    let r = finish(
        &[
            GREETING,
            EHLO,
            OFFER,
            (
                ToServer,
                b"STARTTLS\r\nRSET\r\nauth\tplain AGFsaWNlAFMzY3JldA==\r\nUzNjcmV0\r\n",
            ),
            (ToClient, b"220 Ready\r\n"),
        ],
        End::CaptureEnded,
    );
    assert_eq!(
        r.command_injection.as_ref().unwrap().bytes.as_bytes(),
        b"RSET\r\nAUTH PLAIN [redacted]\r\n[rest redacted]"
    );
    assert_eq!(leaked(&r), None);
    // In cleartext after the 220: plaintext-after-upgrade evidence and the TLS facts.
    let r = finish(
        &[
            GREETING,
            EHLO,
            OFFER,
            (ToServer, b"STARTTLS\r\n"),
            (ToClient, b"220 Ready\r\n"),
            (ToServer, b"AUTH LOGIN Ym9i\r\nUzNjcmV0\r\n"),
        ],
        End::Closed,
    );
    assert_eq!(
        r.plaintext_after_upgrade.as_ref().unwrap().bytes.as_bytes(),
        b"AUTH LOGIN [redacted]\r\n[rest redacted]"
    );
    assert_eq!(leaked(&r), None);
    // The capture starts at a challenge.
    let mut s = Session::new(
        "192.0.2.1:40000".parse().unwrap(),
        "198.51.100.2:25".parse().unwrap(),
        1,
        Timestamp::new(1_700_000_000, 0),
        false,
        SessionLimits {
            keep_transcript: true,
            ..SessionLimits::default()
        },
    );
    s.data(ToClient, b"334 VXNlcm5hbWU6\r\n", 1);
    s.data(ToServer, b"Ym9i\r\n", 2);
    s.data(ToClient, b"334 UGFzc3dvcmQ6\r\n", 3);
    s.data(ToServer, b"UzNjcmV0\r\n", 4);
    s.data(ToClient, b"235 ok\r\n", 5);
    assert_eq!(leaked(&s.finish(End::Closed)), None);
    // The first challenge lost in a gap: the responses are held until a later reply.
    let mut s = play(&[GREETING, EHLO, OFFER, (ToServer, b"AUTH LOGIN\r\n")]);
    s.gap(ToClient, 18, 5);
    s.data(ToServer, b"Ym9i\r\n", 6);
    s.data(ToClient, b"334 UGFzc3dvcmQ6\r\n", 7);
    s.data(ToServer, b"UzNjcmV0\r\n", 8);
    s.data(ToClient, b"235 ok\r\n", 9);
    s.data(ToServer, b"QUIT\r\n", 10);
    let r = s.finish(End::Closed);
    assert_eq!(leaked(&r), None);
    assert!(r.transcript.iter().any(|l| l.text.as_bytes() == b"QUIT"));
}

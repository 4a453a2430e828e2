//! Tests of the sniffer against real handshakes.
//!
//! The vectors in `tests/data/tls/` were made by OpenSSL (through Python's `ssl` module, in
//! memory) with `fixtures/tools/tls_vectors.py`. Each file is a sequence of chunks
//! `[dir u8: 0 client->server, 1 server->client][len u32 BE][bytes]` in sending order; chunk
//! `k` (from 1) is fed as frame `k`.

use super::*;
use crate::Direction::{ToClient, ToServer};

use crate::test_rng::Rng;

macro_rules! vector {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/tls/",
            $name
        ))
        .as_slice()
    };
}

type Chunks = Vec<(Direction, Vec<u8>)>;

fn chunks(file: &[u8]) -> Chunks {
    crate::test_tls_vectors::chunks(file)
        .map(|(from_client, bytes)| {
            let dir = if from_client { ToServer } else { ToClient };
            (dir, bytes.to_vec())
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Split {
    /// Each chunk in one call.
    Whole,
    /// One byte per call.
    Bytewise,
    /// Random pieces of 1..=40 bytes.
    Random(u64),
}

fn feed_chunks(s: &mut TlsSniffer, chunks: &Chunks, split: Split) {
    let mut rng = Rng(match split {
        Split::Random(seed) => seed | 1,
        _ => 1,
    });
    for (k, (dir, bytes)) in chunks.iter().enumerate() {
        let frame = k as u64 + 1;
        match split {
            Split::Whole => s.feed(*dir, bytes, frame),
            Split::Bytewise => bytes.chunks(1).for_each(|b| s.feed(*dir, b, frame)),
            Split::Random(_) => {
                let mut rest = bytes.as_slice();
                while !rest.is_empty() {
                    let n = (1 + rng.index(40)).min(rest.len());
                    s.feed(*dir, &rest[..n], frame);
                    rest = &rest[n..];
                }
            }
        }
    }
}

fn run(chunks: &Chunks, split: Split) -> TlsSniffer {
    let mut s = TlsSniffer::new();
    feed_chunks(&mut s, chunks, split);
    s
}

/// Runs a vector whole, byte by byte and in random pieces, checks that all give the same
/// facts and status, and returns the sniffer fed whole.
fn run_all_splits(file: &[u8]) -> TlsSniffer {
    let c = chunks(file);
    let whole = run(&c, Split::Whole);
    let splits = [
        Split::Bytewise,
        Split::Random(7),
        Split::Random(0xdead_beef),
    ];
    for split in splits {
        let other = run(&c, split);
        assert_eq!(whole.facts(), other.facts(), "facts differ with {split:?}");
        assert_eq!(whole.is_established(), other.is_established());
        assert_eq!(whole.has_failed(), other.has_failed());
        assert_eq!(whole.wants_more(), other.wants_more());
    }
    whole
}

const HOST: &str = "mail.example.test";

fn v(code: u16) -> TlsVersion {
    TlsVersion(code)
}

#[test]
fn tls13_handshake() {
    let s = run_all_splits(vector!("tls13-ok.bin"));
    let f = s.facts();
    let ch = f.client_hello.as_ref().unwrap();
    assert_eq!(ch.frame, 1);
    assert_eq!(ch.legacy_version, TlsVersion::TLS12);
    assert!(ch.supported_versions.contains(&TlsVersion::TLS13));
    assert!(ch.supported_versions.contains(&TlsVersion::TLS12));
    assert!(ch.offers_tls13());
    assert_eq!(ch.max_version(), TlsVersion::TLS13);
    assert_eq!(ch.sni.as_deref(), Some(HOST));
    assert!(!ch.sslv2_format);
    let sh = f.server_hello.as_ref().unwrap();
    assert_eq!(sh.frame, 2);
    assert_eq!(sh.version, TlsVersion::TLS13);
    assert_eq!(sh.legacy_version, TlsVersion::TLS12);
    assert_eq!(sh.version.name(), "TLS 1.3");
    assert!(
        sh.cipher.name().starts_with("TLS_AES_") || sh.cipher.name().starts_with("TLS_CHACHA20")
    );
    assert_eq!(sh.downgrade_sentinel, None);
    assert_eq!(f.hello_retry_request, None);
    assert!(f.certificate.is_none(), "TLS 1.3 certificate is encrypted");
    assert!(f.alerts.is_empty());
    assert_eq!(f.encrypted_alert, None);
    assert_eq!(f.encrypted_from, [Some(3), Some(2)]);
    assert_eq!(f.not_tls, None);
    assert_eq!(f.gaps, [None, None]);
    assert!(f.malformed.is_empty(), "{:?}", f.malformed);
    assert_eq!(f.weak_version(), None);
    assert!(s.is_established());
    assert!(!s.has_failed());
    assert!(!s.wants_more());
}

#[test]
fn tls13_established_only_after_client_finished() {
    let c = chunks(vector!("tls13-ok.bin"));
    let mut s = TlsSniffer::new();
    feed_chunks(&mut s, &c[..2].to_vec(), Split::Whole);
    assert!(!s.is_established() && !s.has_failed() && s.wants_more());
    // Chunk 3 is the client's CCS + encrypted Finished.
    s.feed(ToServer, &c[2].1[..6], 3); // the CCS alone: a TLS 1.3 dummy
    assert!(!s.is_established() && s.wants_more());
    s.feed(ToServer, &c[2].1[6..], 3);
    assert!(s.is_established() && !s.wants_more());
}

#[test]
fn tls13_hello_retry_request() {
    let s = run_all_splits(vector!("tls13-hrr.bin"));
    let f = s.facts();
    assert_eq!(f.hello_retry_request, Some(2));
    let sh = f.server_hello.as_ref().unwrap();
    assert_eq!(sh.frame, 4, "the final ServerHello, not the HRR");
    assert_eq!(sh.version, TlsVersion::TLS13);
    assert_eq!(f.client_hello.as_ref().unwrap().frame, 1);
    // The compatibility CCSs after the HRR (frames 2 and 3) do not count.
    assert_eq!(f.encrypted_from, [Some(5), Some(4)]);
    assert!(f.alerts.is_empty());
    assert!(s.is_established() && !s.has_failed());
}

#[test]
fn tls13_client_rejects_certificate() {
    // OpenSSL's TLS 1.3 client sends its alert in cleartext, before its CCS.
    let s = run_all_splits(vector!("tls13-unknown-ca.bin"));
    let f = s.facts();
    assert_eq!(f.server_hello.as_ref().unwrap().version, TlsVersion::TLS13);
    assert_eq!(
        f.alerts,
        vec![Alert {
            dir: ToServer,
            frame: 3,
            level: LEVEL_FATAL,
            description: AlertDescription::UNKNOWN_CA
        }]
    );
    assert_eq!(f.alerts[0].description.name(), "unknown_ca");
    assert_eq!(f.encrypted_from, [None, Some(2)]);
    assert!(s.has_failed() && !s.is_established());
    assert_eq!(f.first_failing_alert(), Some(&f.alerts[0]));
}

#[test]
fn tls13_encrypted_alert_sized_record_fails() {
    // Stacks that encrypt their alert send CCS + a 19-byte application-data record.
    let c = chunks(vector!("tls13-ok.bin"));
    let mut s = TlsSniffer::new();
    feed_chunks(&mut s, &c[..2].to_vec(), Split::Whole);
    let mut rec = vec![0x14, 3, 3, 0, 1, 1, 0x17, 3, 3, 0, 19];
    rec.extend_from_slice(&[0x5a; 19]);
    s.feed(ToServer, &rec, 3);
    let f = s.facts();
    assert_eq!(
        f.encrypted_alert,
        Some(EncryptedAlert {
            dir: ToServer,
            frame: 3,
            len: 19
        })
    );
    assert!(f.alerts.is_empty());
    assert!(s.has_failed() && !s.is_established());
}

#[test]
fn a_remembered_certificate_still_names_its_own_frame() {
    // The second sniffer meets the same certificate (now parsed from memory) ten frames later.
    let c = chunks(vector!("tls12-ok.bin"));
    let first = run(&c, Split::Whole);
    let mut later = TlsSniffer::new();
    for (k, (dir, bytes)) in c.iter().enumerate() {
        later.feed(*dir, bytes, k as u64 + 11);
    }
    let (a, b) = (first.facts(), later.facts());
    let (a, b) = (
        a.certificate.as_ref().unwrap(),
        b.certificate.as_ref().unwrap(),
    );
    assert_eq!((a.frame, b.frame), (2, 12));
    assert_eq!(a.chain_len, b.chain_len);
    assert_eq!((&a.subject, a.self_signed), (&b.subject, b.self_signed));
}

#[test]
fn tls12_handshake_with_certificate_and_sentinel() {
    let s = run_all_splits(vector!("tls12-ok.bin"));
    let f = s.facts();
    let ch = f.client_hello.as_ref().unwrap();
    assert_eq!(ch.sni.as_deref(), Some(HOST));
    assert!(!ch.offers_tls13());
    assert_eq!(ch.max_version(), TlsVersion::TLS12);
    let sh = f.server_hello.as_ref().unwrap();
    assert_eq!(sh.version, TlsVersion::TLS12);
    assert_eq!(sh.version.name(), "TLS 1.2");
    assert!(
        sh.cipher.name().starts_with("TLS_ECDHE_ECDSA_WITH_"),
        "{}",
        sh.cipher.name()
    );
    // OpenSSL supports 1.3, the client capped at 1.2: RFC 8446 sentinel.
    assert_eq!(sh.downgrade_sentinel, Some(DowngradeSentinel::Tls12));
    assert_eq!(f.downgrade_sentinel(), Some(DowngradeSentinel::Tls12));
    let cert = f.certificate.as_ref().unwrap();
    assert_eq!(cert.frame, 2);
    assert_eq!(cert.subject, "CN=mail.example.test,O=Mailtap Test");
    assert_eq!(cert.issuer, cert.subject);
    assert_eq!(cert.subject_cn.as_deref(), Some(HOST));
    assert_eq!(cert.dns_names, vec![HOST, "*.mx.example.test"]);
    assert!(cert.self_issued && cert.self_signed);
    assert_eq!(cert.chain_len, 1);
    assert_eq!(cert.not_after - cert.not_before, 3650 * 86400);
    assert!(cert.matches_host(HOST));
    assert!(cert.matches_host("MX1.mx.example.test"));
    assert!(!cert.matches_host("example.test"));
    assert_eq!(cert.validity_at(cert.not_before + 1), CertValidity::Valid);
    assert!(f.alerts.is_empty());
    assert_eq!(f.encrypted_from, [Some(3), Some(4)]);
    assert!(s.is_established() && !s.has_failed() && !s.wants_more());
}

#[test]
fn tls12_client_rejects_certificate() {
    let s = run_all_splits(vector!("tls12-unknown-ca.bin"));
    let f = s.facts();
    assert!(f.certificate.as_ref().unwrap().self_signed);
    assert_eq!(f.alerts.len(), 1);
    let a = &f.alerts[0];
    assert_eq!((a.dir, a.frame, a.level), (ToServer, 3, 2));
    assert_eq!(a.description.name(), "unknown_ca");
    assert_eq!(f.encrypted_from, [None, None]);
    assert!(s.has_failed() && !s.is_established());
}

#[test]
fn tls12_expired_certificate() {
    let s = run_all_splits(vector!("tls12-expired.bin"));
    let cert = s.facts().certificate.as_ref().unwrap();
    assert_eq!(cert.not_before, 1_577_836_800); // 2020-01-01
    assert_eq!(cert.not_after, 1_609_459_200); // 2021-01-01
    assert_eq!(cert.validity_at(1_700_000_000), CertValidity::Expired);
    assert_eq!(cert.subject, "CN=mail.example.test");
    assert_eq!(cert.dns_names, vec![HOST]);
    assert!(cert.self_signed);
    assert!(s.is_established(), "the client did not verify");
}

#[test]
fn tls12_not_yet_valid_certificate() {
    let s = run_all_splits(vector!("tls12-not-yet-valid.bin"));
    let cert = s.facts().certificate.as_ref().unwrap();
    assert_eq!(cert.not_before, 4_070_908_800); // 2099-01-01
    assert_eq!(cert.validity_at(1_700_000_000), CertValidity::NotYetValid);
    assert!(s.is_established());
}

#[test]
fn tls10_is_weak_with_sentinel() {
    let s = run_all_splits(vector!("tls10-ok.bin"));
    let f = s.facts();
    let sh = f.server_hello.as_ref().unwrap();
    assert_eq!(sh.version, TlsVersion::TLS10);
    assert_eq!(sh.version.name(), "TLS 1.0");
    assert!(sh.version.is_weak());
    assert_eq!(f.weak_version(), Some(TlsVersion::TLS10));
    assert_eq!(sh.downgrade_sentinel, Some(DowngradeSentinel::Tls11OrBelow));
    assert_eq!(f.client_hello.as_ref().unwrap().legacy_version, v(0x0301));
    assert!(s.is_established());
}

#[test]
fn version_mismatch() {
    let s = run_all_splits(vector!("version-mismatch.bin"));
    let f = s.facts();
    assert_eq!(
        f.client_hello.as_ref().unwrap().supported_versions,
        vec![TlsVersion::TLS13]
    );
    assert!(f.server_hello.is_none());
    assert_eq!(f.alerts.len(), 1);
    let json = serde_json::to_value(&f.alerts[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"dir":"to-client","frame":2,"level":2,"description":70,"name":"protocol_version"})
    );
    assert!(s.has_failed() && !s.is_established());
    assert!(
        s.wants_more(),
        "the client's answer or plaintext may follow"
    );
}

#[test]
fn plaintext_banner_answers_client_hello() {
    // Port 465 with a server that does not speak TLS.
    let ch = chunks(vector!("tls12-ok.bin")).remove(0);
    let c: Chunks = vec![ch, (ToClient, b"220 mail.example.com ESMTP\r\n".to_vec())];
    for split in [Split::Whole, Split::Bytewise, Split::Random(3)] {
        let s = run(&c, split);
        let nt = s.facts().not_tls.as_ref().unwrap();
        assert_eq!(nt.dir, ToClient);
        assert_eq!(nt.frame, 2);
        assert_eq!(nt.bytes, b"220 mail.example.com ESMTP\r\n");
        assert!(!nt.tls_seen_before);
        assert_eq!(nt.escaped(), "220 mail.example.com ESMTP\\r\\n");
        assert!(s.has_failed() && !s.is_established());
        assert!(!s.wants_more(), "the line is complete");
    }
}

#[test]
fn alert_then_plaintext_reply() {
    let ch = chunks(vector!("tls12-ok.bin")).remove(0);
    let mut reply = vec![0x15, 0x03, 0x00, 0x00, 0x02, 0x02, 0x28];
    reply.extend_from_slice(b"454 4.7.0 TLS not available\r\n");
    let c: Chunks = vec![ch.clone(), (ToClient, reply.clone())];
    let whole = run(&c, Split::Whole);
    for split in [Split::Bytewise, Split::Random(11)] {
        assert_eq!(whole.facts(), run(&c, split).facts());
    }
    let f = whole.facts();
    assert_eq!(
        f.alerts,
        vec![Alert {
            dir: ToClient,
            frame: 2,
            level: 2,
            description: AlertDescription::HANDSHAKE_FAILURE
        }]
    );
    let nt = f.not_tls.as_ref().unwrap();
    assert_eq!(nt.bytes, b"454 4.7.0 TLS not available\r\n");
    assert!(nt.tls_seen_before);
    assert_eq!(f.records, [1, 1]);
    assert!(whole.has_failed() && !whole.wants_more());

    // Byte by byte: still wanting more after the alert, until the line is complete.
    let mut s = TlsSniffer::new();
    s.feed(ToServer, &ch.1, 1);
    for (k, b) in reply.iter().enumerate() {
        s.feed(ToClient, std::slice::from_ref(b), 2);
        if k == 6 {
            assert!(s.has_failed() && s.wants_more());
        }
    }
    assert!(!s.wants_more());
}

#[test]
fn non_tls_evidence_is_capped() {
    let mut s = TlsSniffer::new();
    let junk = [b'A'; 200];
    s.feed(ToClient, &junk[..3], 1);
    assert!(s.wants_more(), "no full line yet");
    s.feed(ToClient, &junk[3..], 2);
    let nt = s.facts().not_tls.as_ref().unwrap();
    assert_eq!(nt.bytes.len(), NOT_TLS_EVIDENCE);
    assert_eq!(nt.frame, 1);
    assert!(!s.wants_more());
    // Control bytes are escaped for terminals.
    let nt = NotTls {
        dir: ToServer,
        frame: 1,
        bytes: b"\x1b[2J\\x\xff".to_vec(),
        tls_seen_before: false,
    };
    assert_eq!(nt.escaped(), "\\x1b[2J\\\\x\\xff");
}

#[test]
fn gaps_stop_a_direction() {
    let c = chunks(vector!("tls12-ok.bin"));
    let mut s = TlsSniffer::new();
    s.feed(ToServer, &c[0].1, 1);
    // Half of the server's flight, then a gap in the middle of a record.
    s.feed(ToClient, &c[1].1[..100], 2);
    s.gap(ToClient, 500, 3);
    s.feed(ToClient, &c[1].1[600..], 4);
    s.feed(ToClient, b"garbage after the gap", 4);
    let f = s.facts();
    assert_eq!(f.gaps, [None, Some(3)]);
    assert!(f.server_hello.is_some(), "parsed before the gap");
    assert!(f.certificate.is_none());
    assert!(f.not_tls.is_none(), "bytes after a gap are not judged");
    assert!(!s.has_failed() && !s.is_established());
    assert!(s.wants_more(), "the client side is still parsed");
    s.gap(ToServer, 10, 5);
    assert_eq!(s.facts().gaps, [Some(5), Some(3)]);
    assert!(!s.wants_more());
    // A zero-length gap is nothing.
    let mut s = TlsSniffer::new();
    s.gap(ToServer, 0, 1);
    assert_eq!(s.facts().gaps, [None, None]);
}

#[test]
fn gap_stops_evidence_collection() {
    let mut s = TlsSniffer::new();
    s.feed(ToClient, b"220 ", 1);
    assert!(s.wants_more());
    s.gap(ToClient, 10, 2);
    s.feed(ToClient, b"more", 3);
    assert_eq!(s.facts().not_tls.as_ref().unwrap().bytes, b"220 ");
    assert!(!s.wants_more());
}

#[test]
fn encrypted_alerts_are_not_cleartext() {
    // After the client's CCS (TLS 1.2), alert records are encrypted.
    let c = chunks(vector!("tls12-ok.bin"));
    let mut s = TlsSniffer::new();
    feed_chunks(&mut s, &c[..3].to_vec(), Split::Whole);
    let mut enc = vec![0x15, 3, 3, 0, 26];
    enc.extend_from_slice(&[0x77; 26]);
    s.feed(ToServer, &enc, 9);
    s.feed(ToServer, &[0x15, 3, 3, 0, 2, 2, 40], 9);
    assert!(s.facts().alerts.is_empty());
    assert!(!s.has_failed());
    feed_chunks(&mut s, &Vec::new(), Split::Whole);
    s.feed(ToClient, &c[3].1, 4);
    assert!(s.is_established());
}

#[test]
fn warning_alert_does_not_fail() {
    // A server warning unrecognized_name(112) before its ServerHello; the handshake goes on.
    let mut c = chunks(vector!("tls12-ok.bin"));
    let mut flight = vec![0x15, 3, 3, 0, 2, 1, 112];
    flight.extend_from_slice(&c[1].1);
    c[1].1 = flight;
    let s = run_all_splits_chunks(&c);
    let f = s.facts();
    assert_eq!(f.alerts.len(), 1);
    assert_eq!(f.alerts[0].description.name(), "unrecognized_name");
    assert!(!f.alerts[0].ends_handshake());
    assert_eq!(f.first_failing_alert(), None);
    assert!(s.is_established() && !s.has_failed());
}

fn run_all_splits_chunks(c: &Chunks) -> TlsSniffer {
    let whole = run(c, Split::Whole);
    for split in [Split::Bytewise, Split::Random(5)] {
        assert_eq!(whole.facts(), run(c, split).facts());
    }
    whole
}

#[test]
fn sslv2_client_hello() {
    // SSLv2-format CLIENT-HELLO offering TLS 1.0 (as old scanners send).
    let mut msg = vec![0x01, 0x03, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x10];
    msg.extend_from_slice(&[0x00, 0x00, 0x2f, 0x00, 0x00, 0x35]);
    msg.extend_from_slice(&[0xab; 16]);
    let mut rec = vec![0x80 | (msg.len() >> 8) as u8, msg.len() as u8];
    rec.extend_from_slice(&msg);
    let c: Chunks = vec![(ToServer, rec), (ToClient, vec![0x15, 3, 1, 0, 2, 2, 70])];
    let s = run_all_splits_chunks(&c);
    let f = s.facts();
    let ch = f.client_hello.as_ref().unwrap();
    assert!(ch.sslv2_format);
    assert_eq!(ch.legacy_version, TlsVersion::TLS10);
    assert_eq!(f.records, [1, 1]);
    assert!(f.not_tls.is_none());
    assert_eq!(f.alerts[0].description.name(), "protocol_version");
    // Not accepted after the first record.
    let mut s = TlsSniffer::new();
    let first = chunks(vector!("tls12-ok.bin")).remove(0).1;
    s.feed(ToServer, &first, 1);
    s.feed(ToServer, &c[0].1, 2);
    assert!(s.facts().not_tls.as_ref().unwrap().tls_seen_before);
}

#[test]
fn oversized_handshake_message_gives_up_parsing() {
    let mut s = TlsSniffer::new();
    // A ClientHello announcing 16 MiB, then more records.
    let mut rec = vec![0x16, 3, 1, 0, 8, 1, 0xff, 0xff, 0xff];
    rec.extend_from_slice(&[0; 4]);
    for _ in 0..100 {
        rec.extend_from_slice(&[0x16, 3, 1, 0, 4, 0, 0, 0, 0]);
    }
    s.feed(ToServer, &rec, 1);
    let f = s.facts();
    assert_eq!(f.records[0], 101);
    assert!(f.client_hello.is_none());
    assert_eq!(f.malformed.len(), 1);
    assert!(f.malformed[0].what.contains("longer than"));
    assert!(f.not_tls.is_none());
}

#[test]
fn handshake_messages_spanning_records() {
    // Re-frame the server's TLS 1.2 flight into records of 7 bytes of handshake each.
    let c = chunks(vector!("tls12-ok.bin"));
    let mut hs = Vec::new();
    let mut rest = c[1].1.as_slice();
    while rest.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        hs.extend_from_slice(&rest[5..5 + len]);
        rest = &rest[5 + len..];
    }
    let mut reframed = Vec::new();
    for piece in hs.chunks(7) {
        reframed.extend_from_slice(&[0x16, 3, 3, 0, piece.len() as u8]);
        reframed.extend_from_slice(piece);
    }
    let mut c2 = c.clone();
    c2[1].1 = reframed;
    let s = run_all_splits_chunks(&c2);
    let direct = run(&c, Split::Whole);
    assert_eq!(s.facts().certificate, direct.facts().certificate);
    assert_eq!(s.facts().server_hello, direct.facts().server_hello);
    assert!(s.is_established());
}

#[test]
fn facts_serialize_to_json() {
    let s = run(&chunks(vector!("tls12-ok.bin")), Split::Whole);
    let j = serde_json::to_value(s.facts()).unwrap();
    assert_eq!(j["server_hello"]["version"]["name"], "TLS 1.2");
    assert_eq!(j["server_hello"]["version"]["code"], 0x0303);
    assert_eq!(j["server_hello"]["downgrade_sentinel"], "tls12");
    assert!(j["server_hello"]["cipher"]["code"].is_u64());
    assert_eq!(j["client_hello"]["sni"], HOST);
    assert_eq!(j["client_hello"]["offers_tls13"], false);
    assert_eq!(j["certificate"]["self_signed"], true);
    assert_eq!(j["certificate"]["dns_names"][1], "*.mx.example.test");
    assert_eq!(j["encrypted_from"], serde_json::json!([3, 4]));
    assert_eq!(j["records"][1].as_u64().unwrap(), 8);
    let mut s = TlsSniffer::new();
    s.feed(ToClient, b"454 \x1b\r\n", 2);
    let j = serde_json::to_value(s.facts()).unwrap();
    assert_eq!(
        j["not_tls"],
        serde_json::json!({"dir":"to-client","frame":2,"bytes":"454 \\x1b\\r\\n","tls_seen_before":false})
    );
}

#[test]
fn malformed_certificate_is_noted_not_fatal() {
    // A TLS 1.2 ServerHello from the real flight, then a Certificate holding junk DER.
    let c = chunks(vector!("tls12-ok.bin"));
    let sh_record_len = 5 + usize::from(u16::from_be_bytes([c[1].1[3], c[1].1[4]]));
    let mut flight = c[1].1[..sh_record_len].to_vec();
    let junk = [0x30, 0x82, 0x01, 0x00, 0x02, 0x01];
    let mut cert_msg = vec![
        11,
        0,
        0,
        (6 + junk.len()) as u8,
        0,
        0,
        (3 + junk.len()) as u8,
    ];
    cert_msg.extend_from_slice(&[0, 0, junk.len() as u8]);
    cert_msg.extend_from_slice(&junk);
    flight.extend_from_slice(&[0x16, 3, 3, 0, cert_msg.len() as u8]);
    flight.extend_from_slice(&cert_msg);
    let mut s = TlsSniffer::new();
    s.feed(ToServer, &c[0].1, 1);
    s.feed(ToClient, &flight, 2);
    let f = s.facts();
    assert!(f.server_hello.is_some());
    assert!(f.certificate.is_none());
    assert_eq!(f.malformed.len(), 1);
    assert!(f.malformed[0].what.starts_with("certificate:"));
}

/// Feeds `bytes` as a whole and in random pieces to both directions; must never panic.
fn hammer(rng: &mut Rng, c: &Chunks) {
    let mut s = TlsSniffer::new();
    for (k, (dir, bytes)) in c.iter().enumerate() {
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let n = (1 + rng.index(64)).min(rest.len());
            s.feed(*dir, &rest[..n], k as u64);
            rest = &rest[n..];
            if rng.index(50) == 0 {
                s.gap(*dir, rng.next() % 100, k as u64);
            }
        }
    }
    let _ = (s.is_established(), s.has_failed(), s.wants_more());
    assert!(s.facts().alerts.len() <= MAX_ALERTS);
    assert!(s.facts().malformed.len() <= MAX_MALFORMED);
    assert!(s
        .facts()
        .not_tls
        .as_ref()
        .is_none_or(|n| n.bytes.len() <= NOT_TLS_EVIDENCE));
    let _ = serde_json::to_string(s.facts()).unwrap();
}

#[test]
fn hostile_input_never_panics() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let vectors = [
        vector!("tls13-ok.bin"),
        vector!("tls13-hrr.bin"),
        vector!("tls12-ok.bin"),
        vector!("tls12-unknown-ca.bin"),
        vector!("tls10-ok.bin"),
        vector!("version-mismatch.bin"),
    ];
    // Random bytes, and random bytes behind valid-looking record headers.
    for _ in 0..300 {
        let mut c: Chunks = Vec::new();
        for _ in 0..4 {
            let dir = if rng.index(2) == 0 {
                ToServer
            } else {
                ToClient
            };
            let len = rng.index(3000);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if rng.index(2) == 0 && bytes.len() > 9 {
                bytes[..5].copy_from_slice(&[0x16, 3, 3, (len >> 8) as u8, len as u8]);
                bytes[5] = [1, 2, 11][rng.index(3)];
            }
            c.push((dir, bytes));
        }
        hammer(&mut rng, &c);
    }
    for file in vectors {
        let c = chunks(file);
        // Truncations at every length of every chunk.
        for k in 0..c.len() {
            for cut in 0..c[k].1.len() {
                let mut t = c[..k].to_vec();
                t.push((c[k].0, c[k].1[..cut].to_vec()));
                let mut s = TlsSniffer::new();
                feed_chunks(&mut s, &t, Split::Whole);
            }
        }
        // Bit flips and byte mutations.
        for _ in 0..300 {
            let mut m = c.clone();
            for _ in 0..1 + rng.index(8) {
                let k = rng.index(m.len());
                if m[k].1.is_empty() {
                    continue;
                }
                let at = rng.index(m[k].1.len());
                m[k].1[at] ^= 1 << rng.index(8);
                if rng.index(4) == 0 {
                    m[k].1[at] = rng.next() as u8;
                }
            }
            hammer(&mut rng, &m);
        }
    }
}

#[test]
fn many_records_cost_linear_time() {
    // 1 MiB of 1-byte handshake records continuing one large message, then many tiny
    // messages: must finish quickly (quadratic work would not).
    let mut s = TlsSniffer::new();
    let mut data = vec![0x16, 3, 3, 0, 4, 20, 0, 0xf0, 0x00];
    for _ in 0..200_000 {
        data.extend_from_slice(&[0x16, 3, 3, 0, 1, 0]);
    }
    for _ in 0..20_000 {
        data.extend_from_slice(&[0x16, 3, 3, 0, 4, 0, 0, 0, 0]);
    }
    let t = std::time::Instant::now();
    for piece in data.chunks(3) {
        s.feed(ToClient, piece, 1);
    }
    assert_eq!(s.facts().records[1], 220_001);
    assert!(t.elapsed().as_secs() < 5);
}

#[test]
fn stops_wanting_some_records_after_a_failure() {
    let c = chunks(vector!("version-mismatch.bin"));
    let mut s = TlsSniffer::new();
    feed_chunks(&mut s, &c, Split::Whole);
    assert!(s.has_failed() && s.wants_more());
    for k in 0..RECORDS_AFTER_FAILURE {
        assert!(s.wants_more(), "after {k} records");
        s.feed(ToServer, &[0x17, 3, 3, 0, 1, 0], 3);
    }
    assert!(!s.wants_more());
    assert!(s.has_failed() && !s.is_established());
}

/// A TLS record of content type `ct`.
fn tls_record(ct: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ct, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A handshake record holding one message of type `ty`.
fn handshake_record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    tls_record(22, &m)
}

/// A TLS 1.2 ClientHello (or ServerHello body when `server`) with the given session id.
fn hello_body(server: bool, session_id: &[u8]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x5a; 32]);
    b.push(session_id.len() as u8);
    b.extend_from_slice(session_id);
    if server {
        b.extend_from_slice(&[0xc0, 0x2f, 0]);
    } else {
        b.extend_from_slice(&[0, 2, 0xc0, 0x2f, 1, 0]);
    }
    b
}

/// An abbreviated TLS 1.2 handshake (RFC 5246 §7.3): ServerHello, then the server's
/// ChangeCipherSpec and Finished, no Certificate.
fn abbreviated(client_sid: &[u8], server_sid: &[u8]) -> Chunks {
    let mut server = handshake_record(2, &hello_body(true, server_sid));
    server.extend(tls_record(20, &[1]));
    server.extend(tls_record(22, &[0x77; 40])); // encrypted Finished
    let mut client = tls_record(20, &[1]);
    client.extend(tls_record(22, &[0x66; 40]));
    vec![
        (
            ToServer,
            handshake_record(1, &hello_body(false, client_sid)),
        ),
        (ToClient, server),
        (ToServer, client),
        (ToClient, tls_record(23, &[0x55; 60])),
    ]
}

/// Issue 13 case 17: the certificate's visibility, detected from the handshake.
#[test]
fn case_17_certificate_visibility() {
    use CertificateVisibility as C;
    let visibility = |c: &Chunks| {
        let whole = run(c, Split::Whole);
        let bytewise = run(c, Split::Bytewise);
        assert_eq!(whole.facts(), bytewise.facts());
        whole.facts().certificate_visibility
    };
    assert_eq!(visibility(&chunks(vector!("tls12-ok.bin"))), C::Visible);
    assert_eq!(
        visibility(&chunks(vector!("tls13-ok.bin"))),
        C::NotVisibleTls13
    );
    assert_eq!(
        visibility(&chunks(vector!("tls13-hrr.bin"))),
        C::NotVisibleTls13
    );
    // Resumed by session id: the ServerHello echoes the client's.
    let sid = [0xab; 32];
    let s = run(&abbreviated(&sid, &sid), Split::Whole);
    assert_eq!(s.facts().certificate_visibility, C::NotVisibleResumed);
    assert!(s.is_established() && s.facts().certificate.is_none());
    // Resumed by ticket (empty or new session id): CCS right after ServerHello.
    assert_eq!(
        visibility(&abbreviated(&[], &[0xcd; 32])),
        C::NotVisibleResumed
    );
    // Only the ClientHello in the capture, or a ServerHello then nothing: not seen.
    let full = chunks(vector!("tls12-ok.bin"));
    assert_eq!(visibility(&full[..1].to_vec()), C::NotSeen);
    let server_hello_only = vec![
        (ToServer, handshake_record(1, &hello_body(false, &sid))),
        (
            ToClient,
            handshake_record(2, &hello_body(true, &[0x01; 32])),
        ),
    ];
    assert_eq!(visibility(&server_hello_only), C::NotSeen);
    // The JSON value.
    let j = serde_json::to_value(run(&full, Split::Whole).facts()).unwrap();
    assert_eq!(j["certificate_visibility"], "visible");
    let j = serde_json::to_value(run(&chunks(vector!("tls13-ok.bin")), Split::Whole).facts());
    assert_eq!(
        j.unwrap()["certificate_visibility"],
        "not visible (TLS 1.3)"
    );
    for v in [
        C::Visible,
        C::NotVisibleTls13,
        C::NotVisibleResumed,
        C::NotSeen,
    ] {
        assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
    }
}

#[test]
fn certificate_visibility_prints_as_serialized() {
    use CertificateVisibility as C;
    for v in [
        C::Visible,
        C::NotVisibleTls13,
        C::NotVisibleResumed,
        C::NotSeen,
    ] {
        assert_eq!(serde_json::to_value(v).unwrap(), v.to_string());
        assert_eq!(v.to_string(), v.as_str());
    }
}

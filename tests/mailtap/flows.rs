//! Connections on the same addresses and ports: a new SYN while the earlier session on that
//! 5-tuple is still open (its end was dropped, or its capture ended — a capture replayed in a
//! loop does both) starts a session of its own; a retransmitted SYN does not.

use mailtap::classify::Verdict;
use mailtap::smtp::record::End;

use crate::common::analyze_bytes;
use crate::common::capture_writer::{Capture, Format, Link};

const CLIENT: &str = "192.0.2.10:40000";
const SERVER: &str = "198.51.100.25:25";

/// A session left open after its EHLO reply offered STARTTLS (its close never captured).
fn open_session(cap: &mut Capture, isn: u32) {
    let mut c = cap.tcp(CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    c.with_isn(isn, 7_000);
    c.handshake();
    c.server(b"220 mx.example.test ESMTP\r\n");
    c.client(b"EHLO client.example.test\r\n");
    c.server(b"250-mx.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
}

/// A whole session without STARTTLS on the same addresses.
fn whole_session(cap: &mut Capture, isn: u32) {
    let mut c = cap.tcp(CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    c.with_isn(isn, 9_000_000);
    c.handshake();
    c.dialogue_without_starttls();
    c.close();
}

#[test]
fn a_new_syn_on_an_open_five_tuple_starts_a_new_session() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    open_session(&mut cap, 1_000);
    whole_session(&mut cap, 5_000_000);
    let analysis = analyze_bytes(&cap.finish());
    let s = &analysis.sessions;
    assert_eq!(s.len(), 2, "{s:#?}");
    // The first ended when the second began: it was left after the offer, undecided.
    assert_eq!(s[0].verdict, Verdict::Incomplete, "{:#?}", s[0]);
    assert_eq!(s[0].record.first_frame, 1);
    // The second is whole, and its own.
    assert_eq!(s[1].verdict, Verdict::NotOffered, "{:#?}", s[1]);
    assert_eq!(s[1].record.end, End::Closed);
    assert!(s[1].record.first_frame > s[0].record.last_frame);
}

/// The same capture replayed three times (as `tcpreplay --loop 3` does): three sessions each.
#[test]
fn a_capture_replayed_in_a_loop_gives_every_copy_its_sessions() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    for _ in 0..3 {
        open_session(&mut cap, 1_000);
        let mut other = cap.tcp("192.0.2.11:40001".parse().unwrap(), SERVER.parse().unwrap());
        other.handshake();
        other.server(b"220 mx.example.test ESMTP\r\n");
        other.client(b"EHLO other.example.test\r\n");
        other.server(b"250-mx.example.test\r\n250 8BITMIME\r\n");
        other.client(b"QUIT\r\n");
        other.server(b"221 2.0.0 Bye\r\n");
        other.close();
    }
    let analysis = analyze_bytes(&cap.finish());
    let verdicts: Vec<Verdict> = analysis.sessions.iter().map(|s| s.verdict).collect();
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| **v == Verdict::Incomplete)
            .count(),
        3,
        "{verdicts:?}"
    );
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| **v == Verdict::NotOffered)
            .count(),
        3,
        "{verdicts:?}"
    );
}

/// A SYN sent again before any data (same sequence number: the SYN-ACK was lost, or a switch
/// port mirrored it twice) belongs to the connection it retried.
#[test]
fn a_retransmitted_syn_stays_in_its_session() {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let mut c = cap.tcp(CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    c.with_isn(1_000, 7_000);
    c.syn();
    c.syn();
    c.syn_ack();
    let mut again = c.segment(true, crate::common::capture_writer::SYN, b"");
    again.seq = 1_000;
    c.write(&again);
    c.client_ack();
    c.dialogue_without_starttls();
    c.close();
    let analysis = analyze_bytes(&cap.finish());
    let s = &analysis.sessions;
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0].verdict, Verdict::NotOffered);
    assert_eq!(s[0].record.end, End::Closed);
}

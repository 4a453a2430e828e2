//! TLS sniffing: what the bytes of one connection say about its TLS handshake.
//!
//! Sans-I/O and pure: the sniffer is fed the bytes of each direction in capture order
//! (after an SMTP `220` to STARTTLS, or from the first byte on an implicit-TLS port) and
//! records facts in [`TlsFacts`]: ClientHello (versions, SNI), ServerHello (negotiated
//! version, cipher, RFC 8446 downgrade sentinel), the TLS ≤ 1.2 server certificate, cleartext
//! alerts, when each direction went encrypted, and bytes that are not TLS at all.
//!
//! How the handshake is followed:
//! - Record layer: content type 20..=24, version 3.0..=3.4, length ≤ 2^14 + 2048; an
//!   SSLv2-format ClientHello is accepted as the client's first record. Anything else is
//!   [`NotTls`] for that direction, which is then no longer parsed.
//! - Handshake messages are reassembled per direction (bounded by
//!   [`MAX_HANDSHAKE_MESSAGE`]) and parsed with tls-parser until the direction is encrypted.
//! - A ChangeCipherSpec or application-data record counts only after the final ServerHello:
//!   before it, a CCS is TLS 1.3's middlebox-compatibility dummy (after a HelloRetryRequest)
//!   and application data is 0-RTT early data.
//! - TLS ≤ 1.2: a direction is encrypted from its ChangeCipherSpec. TLS 1.3: the server is
//!   encrypted right after ServerHello, the client from its first application-data record
//!   (its CCS is a dummy; OpenSSL still sends a cleartext alert after it).
//! - A cleartext alert is a type-21 record of 2 bytes in a direction not yet encrypted. Alert
//!   records in the encrypted phase (usually close_notify) are only counted.
//! - Established: final ServerHello seen, then both directions encrypted (TLS ≤ 1.2: both
//!   CCS; TLS 1.3: an application-data record from each side that is not alert-sized), with
//!   no handshake-ending cleartext alert and no non-TLS bytes before.
//! - Failed: a cleartext alert that ends the handshake (any fatal alert, or close_notify /
//!   user_canceled; warnings such as unrecognized_name do not), non-TLS bytes, or (TLS 1.3)
//!   a first encrypted record of exactly the size of an AEAD-sealed alert (19 or 11 bytes),
//!   which is how stacks that encrypt their alerts refuse e.g. an unknown CA — all before
//!   the handshake was established.
//!
//! Hostile input: nothing panics, memory per sniffer is bounded (one handshake message of at
//! most 64 KiB per direction, capped lists), and the work is linear in the bytes.

mod alert;
mod certificate;
mod hello;
mod reassembly;
mod record;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use tls_parser::{parse_tls_message_handshake, TlsMessage, TlsMessageHandshake};

use crate::Direction;
pub use alert::{Alert, AlertDescription, LEVEL_FATAL, LEVEL_WARNING};
pub use certificate::{CertValidity, Certificate};
pub use hello::{CipherSuite, ClientHello, DowngradeSentinel, ServerHello, TlsVersion};
pub use reassembly::MAX_HANDSHAKE_MESSAGE;
pub use record::MAX_RECORD_LEN;

use hello::{client_hello_facts, server_hello_facts, ServerHelloKind};
use reassembly::Reassembler;
use record::{
    check_header, HeaderCheck, CT_ALERT, CT_APPLICATION_DATA, CT_CHANGE_CIPHER_SPEC, CT_HANDSHAKE,
    HEADER_LEN,
};

/// Most cleartext alerts kept in [`TlsFacts::alerts`].
pub const MAX_ALERTS: usize = 8;
/// Most entries kept in [`TlsFacts::malformed`].
pub const MAX_MALFORMED: usize = 8;
/// Bytes kept as evidence in [`NotTls::bytes`].
pub const NOT_TLS_EVIDENCE: usize = 64;
/// After a failure, records (both directions) still looked at for the other side's alert
/// or plaintext before the sniffer stops.
pub(crate) const RECORDS_AFTER_FAILURE: u64 = 16;

/// Index of a direction in the per-direction arrays: `ToServer` = 0, `ToClient` = 1.
pub fn dir_index(dir: Direction) -> usize {
    match dir {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

/// The direction of an index of the per-direction arrays (0 = `ToServer`, else `ToClient`).
pub(crate) fn dir_of_index(i: usize) -> Direction {
    if i == 0 {
        Direction::ToServer
    } else {
        Direction::ToClient
    }
}

/// Bytes that are not a TLS record, where TLS was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotTls {
    /// Who sent them.
    pub dir: Direction,
    /// Frame carrying the first of them.
    pub frame: u64,
    /// The first bytes (at most [`NOT_TLS_EVIDENCE`]), from the start of the would-be record.
    pub bytes: Vec<u8>,
    /// At least one TLS record had been seen in that direction before.
    pub tls_seen_before: bool,
}

impl NotTls {
    /// The bytes as text safe for a terminal: printable ASCII kept, `\r` `\n` `\t` `\\`
    /// escaped, anything else as `\xNN`.
    pub fn escaped(&self) -> String {
        let mut s = String::with_capacity(self.bytes.len() * 2);
        for &b in &self.bytes {
            match b {
                b'\r' => s.push_str("\\r"),
                b'\n' => s.push_str("\\n"),
                b'\t' => s.push_str("\\t"),
                b'\\' => s.push_str("\\\\"),
                0x20..=0x7e => s.push(char::from(b)),
                _ => {
                    let _ = write!(s, "\\x{b:02x}");
                }
            }
        }
        s
    }

    /// The evidence is as long as it will get: full, or holding a whole line.
    fn complete(&self) -> bool {
        self.bytes.len() >= NOT_TLS_EVIDENCE || self.bytes.contains(&b'\n')
    }
}

/// Serialized with `bytes` as the escaped text of [`NotTls::escaped`].
impl Serialize for NotTls {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("NotTls", 4)?;
        st.serialize_field("dir", &self.dir)?;
        st.serialize_field("frame", &self.frame)?;
        st.serialize_field("bytes", &self.escaped())?;
        st.serialize_field("tls_seen_before", &self.tls_seen_before)?;
        st.end()
    }
}

/// In TLS 1.3, a first encrypted record of exactly the size of a sealed alert
/// (2 bytes + content type + 16- or 8-byte AEAD tag): very likely an encrypted alert.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EncryptedAlert {
    /// Who sent it.
    pub dir: Direction,
    /// Frame carrying the first byte of the record.
    pub frame: u64,
    /// Record length (19 or 11).
    pub len: u16,
}

/// Something that could not be parsed (the sniffer goes on).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Malformed {
    /// Who sent it.
    pub dir: Direction,
    /// Frame of the message or record concerned.
    pub frame: u64,
    /// What was wrong.
    pub what: String,
}

/// Whether the server certificate could be seen, and if not, why: a `null` certificate
/// must not read as "fine". Serialized, and shown by `Display`, as [`as_str`](Self::as_str).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum CertificateVisibility {
    /// The Certificate message was read ([`TlsFacts::certificate`]).
    #[serde(rename = "visible")]
    Visible,
    /// TLS 1.3: the certificate travels encrypted after ServerHello.
    #[serde(rename = "not visible (TLS 1.3)")]
    NotVisibleTls13,
    /// A resumed TLS ≤ 1.2 session: the ServerHello echoes the client's non-empty session
    /// id, or the server's ChangeCipherSpec follows its ServerHello without a Certificate
    /// (session tickets). No certificate is sent.
    #[serde(rename = "not visible (resumed)")]
    NotVisibleResumed,
    /// Not in the capture (yet): no ServerHello, or the capture ends or has a gap before the
    /// Certificate message, or it could not be parsed.
    #[default]
    #[serde(rename = "not seen")]
    NotSeen,
}

impl CertificateVisibility {
    /// The text of the JSON value: `visible`, `not visible (TLS 1.3)`, `not visible
    /// (resumed)` or `not seen`.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateVisibility::Visible => "visible",
            CertificateVisibility::NotVisibleTls13 => "not visible (TLS 1.3)",
            CertificateVisibility::NotVisibleResumed => "not visible (resumed)",
            CertificateVisibility::NotSeen => "not seen",
        }
    }
}

impl std::fmt::Display for CertificateVisibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything learnt about one connection's TLS. Per-direction arrays are indexed by
/// [`dir_index`] (`ToServer` = 0, `ToClient` = 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsFacts {
    /// The client's first ClientHello.
    pub client_hello: Option<ClientHello>,
    /// The final ServerHello (a HelloRetryRequest is not one).
    pub server_hello: Option<ServerHello>,
    /// Frame of a HelloRetryRequest, if the server sent one.
    pub hello_retry_request: Option<u64>,
    /// The server certificate (only visible in TLS ≤ 1.2).
    pub certificate: Option<Certificate>,
    /// Whether [`TlsFacts::certificate`] could be seen, and if not, why.
    pub certificate_visibility: CertificateVisibility,
    /// Cleartext alerts, in order, at most [`MAX_ALERTS`].
    pub alerts: Vec<Alert>,
    /// TLS 1.3: a first encrypted record of alert size (see [`EncryptedAlert`]).
    pub encrypted_alert: Option<EncryptedAlert>,
    /// Per direction, frame of the first ChangeCipherSpec or application-data record after
    /// the final ServerHello.
    pub encrypted_from: [Option<u64>; 2],
    /// The first bytes, in either direction, that are not TLS.
    pub not_tls: Option<NotTls>,
    /// Per direction, frame of the first gap (bytes missing from the capture).
    pub gaps: [Option<u64>; 2],
    /// Per direction, number of records (headers) seen.
    pub records: [u64; 2],
    /// Messages or certificates that could not be parsed, at most [`MAX_MALFORMED`].
    pub malformed: Vec<Malformed>,
}

impl TlsFacts {
    /// The negotiated version, from the final ServerHello.
    pub fn negotiated_version(&self) -> Option<TlsVersion> {
        self.server_hello.as_ref().map(|sh| sh.version)
    }

    /// The negotiated version if it is SSLv3, TLS 1.0 or 1.1.
    pub fn weak_version(&self) -> Option<TlsVersion> {
        self.negotiated_version().filter(|v| v.is_weak())
    }

    /// The downgrade sentinel, if the ServerHello carried one.
    pub fn downgrade_sentinel(&self) -> Option<DowngradeSentinel> {
        self.server_hello.as_ref()?.downgrade_sentinel
    }

    /// The first cleartext alert that ended the handshake.
    pub fn first_failing_alert(&self) -> Option<&Alert> {
        self.alerts.iter().find(|a| a.ends_handshake())
    }

    fn note(&mut self, dir: Direction, frame: u64, what: String) {
        if self.malformed.len() < MAX_MALFORMED {
            self.malformed.push(Malformed { dir, frame, what });
        }
    }
}

/// What the body bytes of the current record are for.
#[derive(Debug, Default, Clone, Copy)]
enum Body {
    #[default]
    Skip,
    Handshake,
    Alert {
        buf: [u8; 2],
        got: usize,
    },
}

/// Record-layer state of one direction.
#[derive(Debug, Default)]
struct DirState {
    hdr: [u8; HEADER_LEN],
    hdr_len: usize,
    /// Frame of the first byte of the header being read.
    hdr_frame: u64,
    /// Frame of the first byte of the current record.
    rec_frame: u64,
    body_left: usize,
    body: Body,
    hs: Reassembler,
    overflow_noted: bool,
    /// Not parsed any more (non-TLS bytes or a gap).
    stopped: bool,
    gapped: bool,
    /// In the encrypted phase: handshake records are not parsed, alerts are not cleartext.
    encrypted: bool,
    /// Length of the first application-data record after the final ServerHello.
    first_appdata_len: Option<usize>,
    /// A Certificate message was parsed (successfully or not).
    cert_tried: bool,
}

/// Which handshake messages are worth parsing now.
#[derive(Clone, Copy, Debug)]
struct Want {
    client_hello: bool,
    server_hello: bool,
    certificate: bool,
}

/// What one handshake message told.
enum HsEvent {
    Nothing,
    ClientHello(ClientHello),
    ServerHello(ServerHello),
    HelloRetryRequest(u64),
    Certificate(Result<Certificate, String>, u64),
    Malformed(&'static str, u64),
}

/// Follows the TLS handshake of one connection; see the [module docs](self).
///
/// Public for the fuzz targets (`fuzz/src`), which feed it directly; a library user gets its
/// [`TlsFacts`] in [`SessionRecord::tls`](crate::smtp::SessionRecord::tls).
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct TlsSniffer {
    dirs: [DirState; 2],
    facts: TlsFacts,
    established: bool,
    failed: bool,
    /// Records seen (both directions) when the handshake failed.
    records_at_failure: u64,
}

impl TlsSniffer {
    /// A sniffer that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of one direction, in order, as TCP delivers them; any split (1 byte at a time,
    /// several records at once, a record across many calls) gives the same facts.
    pub fn feed(&mut self, dir: Direction, mut bytes: &[u8], frame: u64) {
        let i = dir_index(dir);
        while !bytes.is_empty() {
            if self.dirs[i].stopped {
                self.collect_evidence(i, bytes);
                return;
            }
            if self.dirs[i].body_left > 0 {
                let n = self.dirs[i].body_left.min(bytes.len());
                let (chunk, rest) = bytes.split_at(n);
                bytes = rest;
                self.dirs[i].body_left -= n;
                self.body_bytes(i, chunk, frame);
                if self.dirs[i].body_left == 0 {
                    self.end_record(i);
                }
                continue;
            }
            let allow_sslv2 = i == 0 && self.facts.records[0] == 0;
            let d = &mut self.dirs[i];
            if d.hdr_len == 0 {
                d.hdr_frame = frame;
            }
            d.hdr[d.hdr_len] = bytes[0];
            d.hdr_len += 1;
            bytes = &bytes[1..];
            match check_header(&d.hdr[..d.hdr_len], allow_sslv2) {
                HeaderCheck::NeedMore => {}
                HeaderCheck::NotTls => {
                    self.not_tls(i, bytes);
                    return;
                }
                HeaderCheck::Tls { content_type, len } => {
                    d.hdr_len = 0;
                    self.start_record(i, content_type, len);
                }
                HeaderCheck::SslV2ClientHello { version, body_left } => {
                    d.hdr_len = 0;
                    self.start_sslv2(version, body_left);
                }
            }
        }
    }

    /// `len` bytes of this direction are missing from the capture: that direction is not
    /// parsed any more (the gap is kept in the facts).
    pub fn gap(&mut self, dir: Direction, len: u64, frame: u64) {
        if len == 0 {
            return;
        }
        let i = dir_index(dir);
        let d = &mut self.dirs[i];
        d.stopped = true;
        d.gapped = true;
        d.hs.clear();
        d.body_left = 0;
        d.hdr_len = 0;
        self.facts.gaps[i].get_or_insert(frame);
    }

    /// What has been learnt so far.
    pub fn facts(&self) -> &TlsFacts {
        &self.facts
    }

    /// ServerHello seen, then both sides sent encrypted records (ChangeCipherSpec or
    /// application data), with no cleartext alert and no non-TLS bytes before that.
    ///
    /// In TLS 1.3 the ChangeCipherSpec is a dummy, so each side must have sent an
    /// application-data record after ServerHello, the first of which is not alert-sized.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// A cleartext alert ending the handshake, bytes that are not TLS, or (TLS 1.3) an
    /// alert-sized first encrypted record came before the handshake was established.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// False once established (or failed) and nothing more is to be learned: the caller
    /// then stops feeding payload.
    ///
    /// After a failure the sniffer still looks for what the other side answers (its alert,
    /// plaintext such as `454 …`) until the non-TLS evidence holds a whole line (or
    /// [`NOT_TLS_EVIDENCE`] bytes), or [`RECORDS_AFTER_FAILURE`] more records went by.
    pub fn wants_more(&self) -> bool {
        if self.established {
            return false;
        }
        if let Some(nt) = &self.facts.not_tls {
            if !nt.complete() && !self.dirs[dir_index(nt.dir)].gapped {
                return true;
            }
        }
        if self.failed {
            let records = self.facts.records[0] + self.facts.records[1];
            if self.facts.not_tls.is_some()
                || records >= self.records_at_failure + RECORDS_AFTER_FAILURE
            {
                return false;
            }
        }
        !self.dirs.iter().all(|d| d.stopped)
    }

    /// Marks the handshake failed, unless it was established before.
    fn fail(&mut self) {
        if !self.established && !self.failed {
            self.failed = true;
            self.records_at_failure = self.facts.records[0] + self.facts.records[1];
        }
    }

    fn collect_evidence(&mut self, i: usize, bytes: &[u8]) {
        if self.dirs[i].gapped {
            return;
        }
        if let Some(nt) = &mut self.facts.not_tls {
            if dir_index(nt.dir) == i {
                let room = NOT_TLS_EVIDENCE.saturating_sub(nt.bytes.len());
                nt.bytes.extend_from_slice(&bytes[..room.min(bytes.len())]);
            }
        }
    }

    fn not_tls(&mut self, i: usize, rest: &[u8]) {
        let d = &mut self.dirs[i];
        d.stopped = true;
        d.hs.clear();
        let hdr_len = std::mem::take(&mut d.hdr_len);
        if self.facts.not_tls.is_none() {
            let mut bytes = Vec::with_capacity(NOT_TLS_EVIDENCE);
            bytes.extend_from_slice(&d.hdr[..hdr_len]);
            let room = NOT_TLS_EVIDENCE - bytes.len();
            bytes.extend_from_slice(&rest[..room.min(rest.len())]);
            self.facts.not_tls = Some(NotTls {
                dir: dir_of_index(i),
                frame: d.hdr_frame,
                bytes,
                tls_seen_before: self.facts.records[i] > 0,
            });
        }
        self.fail();
    }

    fn start_sslv2(&mut self, version: TlsVersion, body_left: usize) {
        self.facts.records[0] += 1;
        let d = &mut self.dirs[0];
        d.rec_frame = d.hdr_frame;
        d.body = Body::Skip;
        d.body_left = body_left;
        if self.facts.client_hello.is_none() {
            self.facts.client_hello = Some(ClientHello {
                frame: d.rec_frame,
                legacy_version: version,
                supported_versions: Vec::new(),
                sni: None,
                sslv2_format: true,
                session_id: Vec::new(),
            });
        }
    }

    fn start_record(&mut self, i: usize, content_type: u8, len: usize) {
        self.facts.records[i] += 1;
        let frame = self.dirs[i].hdr_frame;
        self.dirs[i].rec_frame = frame;
        let body = match content_type {
            CT_CHANGE_CIPHER_SPEC => {
                self.on_encrypted_record(i, frame, None);
                Body::Skip
            }
            CT_ALERT if len == 2 && !self.dirs[i].encrypted => Body::Alert {
                buf: [0; 2],
                got: 0,
            },
            CT_HANDSHAKE if !self.dirs[i].encrypted && !self.dirs[i].hs.overflowed() => {
                Body::Handshake
            }
            CT_APPLICATION_DATA => {
                self.on_encrypted_record(i, frame, Some(len));
                Body::Skip
            }
            _ => Body::Skip,
        };
        self.dirs[i].body = body;
        self.dirs[i].body_left = len;
        if len == 0 {
            self.end_record(i);
        }
        self.update_established();
    }

    fn body_bytes(&mut self, i: usize, chunk: &[u8], frame: u64) {
        match &mut self.dirs[i].body {
            Body::Skip => {}
            Body::Handshake => {
                self.dirs[i].hs.push(chunk, frame);
                self.process_handshake(i);
            }
            Body::Alert { buf, got } => {
                for &b in chunk {
                    if *got < buf.len() {
                        buf[*got] = b;
                        *got += 1;
                    }
                }
            }
        }
    }

    fn end_record(&mut self, i: usize) {
        let d = &mut self.dirs[i];
        if let Body::Alert { buf, got: 2 } = d.body {
            let alert = Alert {
                dir: dir_of_index(i),
                frame: d.rec_frame,
                level: buf[0],
                description: AlertDescription(buf[1]),
            };
            d.body = Body::Skip;
            if alert.ends_handshake() {
                self.fail();
            }
            if self.facts.alerts.len() < MAX_ALERTS {
                self.facts.alerts.push(alert);
            }
        } else {
            d.body = Body::Skip;
        }
    }

    /// A ChangeCipherSpec (`appdata_len` None) or application-data record.
    fn on_encrypted_record(&mut self, i: usize, frame: u64, appdata_len: Option<usize>) {
        // Before the final ServerHello: TLS 1.3 compatibility CCS or 0-RTT data.
        let Some(sh) = &self.facts.server_hello else {
            return;
        };
        let tls13 = sh.version.is_tls13();
        let server_ccs_first = i == 1
            && appdata_len.is_none()
            && !tls13
            && self.facts.encrypted_from[1].is_none()
            && !self.dirs[1].cert_tried
            && !self.dirs[1].hs.overflowed();
        if server_ccs_first && self.facts.certificate_visibility == CertificateVisibility::NotSeen {
            // TLS ≤ 1.2: the server's ChangeCipherSpec right after its ServerHello, no
            // Certificate in between: an abbreviated (resumed) handshake.
            self.facts.certificate_visibility = CertificateVisibility::NotVisibleResumed;
        }
        self.facts.encrypted_from[i].get_or_insert(frame);
        let d = &mut self.dirs[i];
        let mut alert_sized_first = false;
        match appdata_len {
            None if tls13 => {} // the dummy CCS of TLS 1.3
            None => d.encrypted = true,
            Some(len) => {
                d.encrypted = true;
                if tls13 && d.first_appdata_len.is_none() {
                    d.first_appdata_len = Some(len);
                    alert_sized_first = alert_sized(len);
                }
            }
        }
        if d.encrypted {
            d.hs.clear();
        }
        if alert_sized_first {
            self.facts.encrypted_alert.get_or_insert(EncryptedAlert {
                dir: dir_of_index(i),
                frame,
                len: appdata_len.unwrap_or_default() as u16,
            });
            self.fail();
        }
    }

    fn update_established(&mut self) {
        if self.established || self.failed {
            return;
        }
        let Some(sh) = &self.facts.server_hello else {
            return;
        };
        self.established = if sh.version.is_tls13() {
            self.dirs
                .iter()
                .all(|d| d.first_appdata_len.is_some_and(|n| !alert_sized(n)))
        } else {
            self.dirs.iter().all(|d| d.encrypted)
        };
    }

    fn want(&self, i: usize) -> Want {
        let f = &self.facts;
        let server = i == 1;
        Want {
            client_hello: !server && f.client_hello.is_none(),
            server_hello: server && f.server_hello.is_none(),
            certificate: server
                && !self.dirs[1].cert_tried
                && f.server_hello
                    .as_ref()
                    .is_some_and(|sh| !sh.version.is_tls13()),
        }
    }

    fn process_handshake(&mut self, i: usize) {
        loop {
            let want = self.want(i);
            let event = match self.dirs[i].hs.next_message() {
                Some((msg, frame)) => parse_message(msg, frame, want),
                None => break,
            };
            self.apply(i, event);
            if self.dirs[i].encrypted {
                self.dirs[i].hs.clear();
                self.dirs[i].body = Body::Skip;
                break;
            }
        }
        let d = &mut self.dirs[i];
        d.hs.compact();
        if d.hs.overflowed() && !d.overflow_noted {
            d.overflow_noted = true;
            let frame = d.rec_frame;
            self.facts.note(
                dir_of_index(i),
                frame,
                format!(
                    "handshake message longer than {MAX_HANDSHAKE_MESSAGE} bytes: \
                     messages no longer parsed"
                ),
            );
        }
    }

    fn apply(&mut self, i: usize, event: HsEvent) {
        let dir = dir_of_index(i);
        match event {
            HsEvent::Nothing => {}
            HsEvent::ClientHello(ch) => self.facts.client_hello = Some(ch),
            HsEvent::ServerHello(sh) => {
                if sh.version.is_tls13() {
                    // Everything after a TLS 1.3 ServerHello is encrypted.
                    self.dirs[1].encrypted = true;
                    self.facts.certificate_visibility = CertificateVisibility::NotVisibleTls13;
                } else if !sh.session_id.is_empty()
                    && self
                        .facts
                        .client_hello
                        .as_ref()
                        .is_some_and(|ch| ch.session_id == sh.session_id)
                {
                    // The server took up the session the client offered to resume.
                    self.facts.certificate_visibility = CertificateVisibility::NotVisibleResumed;
                }
                self.facts.server_hello = Some(sh);
            }
            HsEvent::HelloRetryRequest(frame) => {
                self.facts.hello_retry_request.get_or_insert(frame);
            }
            HsEvent::Certificate(result, frame) => {
                self.dirs[i].cert_tried = true;
                match result {
                    Ok(cert) => {
                        self.facts.certificate = Some(cert);
                        self.facts.certificate_visibility = CertificateVisibility::Visible;
                    }
                    Err(e) => self.facts.note(dir, frame, format!("certificate: {e}")),
                }
            }
            HsEvent::Malformed(what, frame) => self.facts.note(dir, frame, what.to_owned()),
        }
    }
}

/// A sealed TLS 1.3 alert: 2 bytes + inner content type + 16-byte (or 8-byte) AEAD tag.
fn alert_sized(len: usize) -> bool {
    len == 19 || len == 11
}

/// Parses one complete handshake message (header included) if it is one that matters now.
fn parse_message(msg: &[u8], frame: u64, want: Want) -> HsEvent {
    const CLIENT_HELLO: u8 = 1;
    const SERVER_HELLO: u8 = 2;
    const CERTIFICATE: u8 = 11;
    let Some(&ty) = msg.first() else {
        return HsEvent::Nothing;
    };
    let wanted = match ty {
        CLIENT_HELLO => want.client_hello,
        SERVER_HELLO => want.server_hello,
        CERTIFICATE => want.certificate,
        _ => false,
    };
    if !wanted {
        return HsEvent::Nothing;
    }
    let parsed = match parse_tls_message_handshake(msg) {
        Ok((_, TlsMessage::Handshake(m))) => Some(m),
        _ => None,
    };
    match (ty, parsed) {
        (CLIENT_HELLO, Some(TlsMessageHandshake::ClientHello(ch))) => {
            HsEvent::ClientHello(client_hello_facts(&ch, frame))
        }
        (SERVER_HELLO, Some(TlsMessageHandshake::ServerHello(sh))) => server_hello_event(
            sh.version.0,
            sh.random,
            sh.session_id,
            sh.cipher.0,
            sh.ext,
            frame,
        ),
        (SERVER_HELLO, Some(TlsMessageHandshake::ServerHelloV13Draft18(sh))) => {
            server_hello_event(sh.version.0, sh.random, None, sh.cipher.0, sh.ext, frame)
        }
        (CERTIFICATE, Some(TlsMessageHandshake::Certificate(c))) => match c.cert_chain.first() {
            Some(leaf) => HsEvent::Certificate(
                Certificate::from_der(leaf.data, frame, c.cert_chain.len()),
                frame,
            ),
            None => HsEvent::Certificate(Err("empty certificate list".to_owned()), frame),
        },
        (CLIENT_HELLO, _) => HsEvent::Malformed("malformed ClientHello", frame),
        (SERVER_HELLO, _) => HsEvent::Malformed("malformed ServerHello", frame),
        _ => HsEvent::Certificate(Err("malformed Certificate message".to_owned()), frame),
    }
}

fn server_hello_event(
    version: u16,
    random: &[u8],
    session_id: Option<&[u8]>,
    cipher: u16,
    ext: Option<&[u8]>,
    frame: u64,
) -> HsEvent {
    match server_hello_facts(version, random, session_id, cipher, ext, frame) {
        ServerHelloKind::Final(sh) => HsEvent::ServerHello(sh),
        ServerHelloKind::HelloRetryRequest => HsEvent::HelloRetryRequest(frame),
    }
}

//! TLS record layer framing: recognising a record header, byte by byte.
//!
//! A TLS record starts with a 5-byte header: content type (20..=24), protocol version
//! (major 3, minor 0..=4) and a 16-bit body length (at most 2^14 + 2048). As the first record
//! of the client, an SSLv2-format ClientHello is accepted too: a 2-byte header with the high
//! bit set, message type 1 (CLIENT-HELLO), then a version.

use super::hello::TlsVersion;

/// Largest body length a record may announce (RFC 5246 §6.2.3: 2^14 + 2048).
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// Record content types.
pub const CT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CT_ALERT: u8 = 21;
pub const CT_HANDSHAKE: u8 = 22;
pub const CT_APPLICATION_DATA: u8 = 23;
pub const CT_HEARTBEAT: u8 = 24;

/// Length of the header buffer kept while a record header is incomplete.
pub(crate) const HEADER_LEN: usize = 5;

/// What the first bytes of a record say, once as many as are available have been looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderCheck {
    /// A valid prefix so far: more bytes are needed to decide.
    NeedMore,
    /// A complete TLS record header.
    Tls { content_type: u8, len: usize },
    /// An SSLv2-format ClientHello: `body_left` bytes follow the 5 bytes seen.
    SslV2ClientHello {
        version: TlsVersion,
        body_left: usize,
    },
    /// These bytes are not the start of a TLS record.
    NotTls,
}

/// Checks the bytes of a record header seen so far (`h.len()` is 1..=5).
///
/// The check is made on every prefix, so the answer does not depend on how the bytes were
/// split: a byte that can never start a record is refused as soon as it is seen.
/// `allow_sslv2` is true only for the very first record sent by the client.
pub(crate) fn check_header(h: &[u8], allow_sslv2: bool) -> HeaderCheck {
    let Some(&first) = h.first() else {
        return HeaderCheck::NeedMore;
    };
    if first & 0x80 != 0 && allow_sslv2 {
        return check_sslv2(h);
    }
    if !(CT_CHANGE_CIPHER_SPEC..=CT_HEARTBEAT).contains(&first) {
        return HeaderCheck::NotTls;
    }
    if h.len() >= 2 && h[1] != 3 {
        return HeaderCheck::NotTls;
    }
    if h.len() >= 3 && h[2] > 4 {
        return HeaderCheck::NotTls;
    }
    if h.len() < HEADER_LEN {
        return HeaderCheck::NeedMore;
    }
    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
    if len > MAX_RECORD_LEN {
        return HeaderCheck::NotTls;
    }
    HeaderCheck::Tls {
        content_type: first,
        len,
    }
}

/// SSLv2 record header (2 bytes, high bit set) + CLIENT-HELLO (type 1) + version.
fn check_sslv2(h: &[u8]) -> HeaderCheck {
    // The message holds at least: type (1), version (2), three 2-byte lengths.
    const MIN_BODY: usize = 9;
    if h.len() >= 2 {
        let len = (usize::from(h[0] & 0x7f) << 8) | usize::from(h[1]);
        if len < MIN_BODY {
            return HeaderCheck::NotTls;
        }
    }
    if h.len() >= 3 && h[2] != 1 {
        return HeaderCheck::NotTls;
    }
    if h.len() >= 4 && h[3] != 0 && h[3] != 3 {
        return HeaderCheck::NotTls;
    }
    if h.len() < HEADER_LEN {
        return HeaderCheck::NeedMore;
    }
    let version = u16::from_be_bytes([h[3], h[4]]);
    if !(version == 0x0002 || (0x0300..=0x0304).contains(&version)) {
        return HeaderCheck::NotTls;
    }
    let len = (usize::from(h[0] & 0x7f) << 8) | usize::from(h[1]);
    HeaderCheck::SslV2ClientHello {
        version: TlsVersion(version),
        // 3 of the `len` bytes (type, version) are already in the header buffer.
        body_left: len - 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_header_prefixes() {
        let h = [0x16, 0x03, 0x01, 0x00, 0xb7];
        for n in 1..5 {
            assert_eq!(check_header(&h[..n], true), HeaderCheck::NeedMore);
        }
        assert_eq!(
            check_header(&h, true),
            HeaderCheck::Tls {
                content_type: 22,
                len: 0xb7
            }
        );
    }

    #[test]
    fn refuses_plaintext_at_first_byte() {
        assert_eq!(check_header(b"2", true), HeaderCheck::NotTls);
        assert_eq!(check_header(b"4", false), HeaderCheck::NotTls);
        // 0x16 then not major version 3
        assert_eq!(check_header(&[0x16, 0x02], false), HeaderCheck::NotTls);
        assert_eq!(
            check_header(&[0x16, 0x03, 0x05], false),
            HeaderCheck::NotTls
        );
        // too long
        assert_eq!(
            check_header(&[0x17, 0x03, 0x03, 0x48, 0x01], false),
            HeaderCheck::NotTls
        );
        assert_eq!(
            check_header(&[0x17, 0x03, 0x03, 0x48, 0x00], false),
            HeaderCheck::Tls {
                content_type: 23,
                len: MAX_RECORD_LEN
            }
        );
    }

    #[test]
    fn sslv2_client_hello() {
        // 0x80 0x2e: length 46, type 1, version 3.1
        let h = [0x80, 0x2e, 0x01, 0x03, 0x01];
        assert_eq!(
            check_header(&h, true),
            HeaderCheck::SslV2ClientHello {
                version: TlsVersion(0x0301),
                body_left: 43
            }
        );
        assert_eq!(check_header(&h, false), HeaderCheck::NotTls);
        assert_eq!(check_header(&[0x80, 0x2e, 0x02], true), HeaderCheck::NotTls);
        assert_eq!(check_header(&[0x80, 0x05], true), HeaderCheck::NotTls);
    }
}

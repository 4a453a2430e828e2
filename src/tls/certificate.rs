//! The server certificate (visible in TLS ≤ 1.2 only): names, validity, self-signature.

use std::fmt::Write as _;

use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Most SAN dNSNames kept.
const MAX_DNS_NAMES: usize = 64;
/// Longest string kept for one name.
const MAX_NAME_LEN: usize = 1024;

/// Facts from the first (leaf) certificate of a TLS ≤ 1.2 Certificate message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Certificate {
    /// Frame carrying the first byte of the Certificate message.
    pub frame: u64,
    /// Subject as an RFC 4514 string (last RDN first: `CN=mail.example.test,O=Example`).
    pub subject: String,
    /// Issuer as an RFC 4514 string.
    pub issuer: String,
    /// The subject's (last) commonName, if any.
    pub subject_cn: Option<String>,
    /// subjectAltName dNSName entries, as written in the certificate.
    pub dns_names: Vec<String>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Subject equals issuer.
    pub self_issued: bool,
    /// Subject equals issuer and the signature verifies with the certificate's own key.
    pub self_signed: bool,
    /// Number of certificates in the message (leaf included).
    pub chain_len: usize,
}

/// The certificate's validity period compared with a moment. Serialized, and shown by
/// `Display`, as `not-yet-valid`, `valid` or `expired`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CertValidity {
    /// Before notBefore.
    NotYetValid,
    /// Within notBefore..=notAfter.
    Valid,
    /// After notAfter.
    Expired,
}

impl std::fmt::Display for CertValidity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertValidity::NotYetValid => "not-yet-valid",
            CertValidity::Valid => "valid",
            CertValidity::Expired => "expired",
        })
    }
}

impl Certificate {
    /// Parses a DER certificate. Never panics; returns the parser's error as text.
    pub fn from_der(der: &[u8], frame: u64, chain_len: usize) -> Result<Certificate, String> {
        let mut certificate = remembered(der, Certificate::parse)?;
        certificate.frame = frame;
        certificate.chain_len = chain_len;
        Ok(certificate)
    }

    /// The facts of a certificate (`frame` and `chain_len` left 0).
    fn parse(der: &[u8]) -> Result<Certificate, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("X.509: {e}"))?;
        let subject = cert.subject();
        let issuer = cert.issuer();
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(n) = name {
                    if dns_names.len() < MAX_DNS_NAMES {
                        dns_names.push(truncate(n));
                    }
                }
            }
        }
        let subject_cn = subject
            .iter_common_name()
            .last()
            .map(|a| truncate(&attribute_value(a)));
        let self_issued = subject.as_raw() == issuer.as_raw();
        // Verified with its own key: some 100 µs for ECDSA P-256.
        let self_signed = self_issued && cert.verify_signature(None).is_ok();
        let validity = cert.validity();
        Ok(Certificate {
            frame: 0,
            subject: rfc4514(subject),
            issuer: rfc4514(issuer),
            subject_cn,
            dns_names,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            self_issued,
            self_signed,
            chain_len: 0,
        })
    }

    /// Whether the certificate names `host`: case-insensitive, a trailing dot ignored,
    /// RFC 6125 wildcard only as the whole left-most label (`*.example.com` matches
    /// `mx.example.com`, not `example.com` nor `a.mx.example.com`; `*.com` matches nothing).
    /// The subject CN is used only when there is no dNSName SAN.
    pub fn matches_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return false;
        }
        if self.dns_names.is_empty() {
            self.subject_cn
                .as_deref()
                .is_some_and(|cn| name_matches(cn, &host))
        } else {
            self.dns_names.iter().any(|n| name_matches(n, &host))
        }
    }

    /// Compares the validity period with `unix_secs` (e.g. the capture time).
    pub fn validity_at(&self, unix_secs: i64) -> CertValidity {
        if unix_secs < self.not_before {
            CertValidity::NotYetValid
        } else if unix_secs > self.not_after {
            CertValidity::Expired
        } else {
            CertValidity::Valid
        }
    }
}

/// `host` is lower-case without a trailing dot.
fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    if pattern.is_empty() {
        return false;
    }
    if let Some(rest) = pattern.strip_prefix("*.") {
        if rest.contains('*') || !rest.contains('.') || host.parse::<std::net::IpAddr>().is_ok() {
            return false;
        }
        return match host.split_once('.') {
            Some((first, host_rest)) => !first.is_empty() && host_rest == rest,
            None => false,
        };
    }
    !pattern.contains('*') && pattern == host
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_NAME_LEN {
        return s.to_owned();
    }
    let mut end = MAX_NAME_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Short names of RFC 4514 §3 (plus emailAddress, which OpenSSL also names).
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// The value of an attribute as text: string types decoded (BMPString as UTF-16,
/// UniversalString as UTF-32, the 8-bit types as Latin-1), anything else as `#hex`.
fn attribute_value(attr: &AttributeTypeAndValue<'_>) -> String {
    if let Ok(s) = attr.as_str() {
        return s.to_owned();
    }
    let data = attr.as_slice();
    match attr.attr_value().tag() {
        Tag::BmpString if data.len() % 2 == 0 => char::decode_utf16(
            data.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect(),
        Tag::UniversalString if data.len() % 4 == 0 => data
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        Tag::VisibleString | Tag::T61String | Tag::GeneralString | Tag::GraphicString => {
            data.iter().map(|&b| char::from(b)).collect()
        }
        _ => {
            let mut s = String::with_capacity(1 + 2 * data.len());
            s.push('#');
            for b in data {
                let _ = write!(s, "{b:02x}");
            }
            s
        }
    }
}

/// RFC 4514 §2.4 escaping (control characters as `\XX` too).
fn escape_value(v: &str, out: &mut String) {
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut b = [0u8; 4];
                for byte in c.encode_utf8(&mut b).bytes() {
                    let _ = write!(out, "\\{byte:02X}");
                }
            }
            c => out.push(c),
        }
    }
}

/// An RFC 4514 string: RDNs last-to-first, separated by `,`; multi-valued RDNs joined by `+`.
fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type().to_id_string();
            out.push_str(short_name(&oid).unwrap_or(&oid));
            out.push('=');
            escape_value(&attribute_value(attr), &mut out);
        }
        if out.len() > MAX_NAME_LEN {
            return truncate(&out);
        }
    }
    out
}

/// `parse(der)`, remembered: a server presents the same certificate in every session, and
/// parsing it and checking its signature cost more than the rest of a session. The last few
/// answers are kept per thread, keyed by the whole DER (never by a digest an attacker could
/// collide), for certificates up to 16 KiB.
fn remembered(
    der: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<Certificate, String>,
) -> Result<Certificate, String> {
    use std::cell::RefCell;
    type Seen = Vec<(Box<[u8]>, Result<Certificate, String>)>;
    const KEEP: usize = 16;
    const LARGEST: usize = 16 * 1024;
    thread_local! {
        static SEEN: RefCell<Seen> = const { RefCell::new(Vec::new()) };
    }
    let known = SEEN.with_borrow(|seen| {
        seen.iter()
            .find(|(d, _)| &d[..] == der)
            .map(|(_, answer)| answer.clone())
    });
    if let Some(answer) = known {
        return answer;
    }
    let answer = parse(der);
    if der.len() <= LARGEST {
        SEEN.with_borrow_mut(|seen| {
            if seen.len() == KEEP {
                let _oldest = seen.remove(0);
            }
            seen.push((der.into(), answer.clone()));
        });
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(dns: &[&str], cn: Option<&str>) -> Certificate {
        Certificate {
            frame: 1,
            subject: String::new(),
            issuer: String::new(),
            subject_cn: cn.map(str::to_owned),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            not_before: 100,
            not_after: 200,
            self_issued: false,
            self_signed: false,
            chain_len: 1,
        }
    }

    #[test]
    fn host_matching() {
        let c = cert(
            &["mail.example.test", "*.mx.example.test"],
            Some("other.test"),
        );
        assert!(c.matches_host("mail.example.test"));
        assert!(c.matches_host("MAIL.Example.TEST."));
        assert!(c.matches_host("a.mx.example.test"));
        assert!(!c.matches_host("mx.example.test"));
        assert!(!c.matches_host("b.a.mx.example.test"));
        assert!(!c.matches_host(".mx.example.test"));
        // CN ignored when there is a dNSName SAN
        assert!(!c.matches_host("other.test"));
        assert!(!c.matches_host(""));
        let only_cn = cert(&[], Some("Mail.Example.Test"));
        assert!(only_cn.matches_host("mail.example.test"));
        assert!(!cert(&["*.com"], None).matches_host("example.com"));
        assert!(!cert(&["f*.example.com"], None).matches_host("foo.example.com"));
        assert!(!cert(&["*.*.example.com"], None).matches_host("a.b.example.com"));
        assert!(!cert(&[], None).matches_host("x"));
    }

    #[test]
    fn validity() {
        let c = cert(&[], None);
        assert_eq!(c.validity_at(99), CertValidity::NotYetValid);
        assert_eq!(c.validity_at(100), CertValidity::Valid);
        assert_eq!(c.validity_at(200), CertValidity::Valid);
        assert_eq!(c.validity_at(201), CertValidity::Expired);
    }

    #[test]
    fn validity_prints_as_serialized() {
        for v in [
            CertValidity::NotYetValid,
            CertValidity::Valid,
            CertValidity::Expired,
        ] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.to_string());
        }
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_value(" #a,b+c\u{1}d ", &mut s);
        assert_eq!(s, "\\ #a\\,b\\+c\\01d\\ ");
        let mut s = String::new();
        escape_value("#x", &mut s);
        assert_eq!(s, "\\#x");
    }

    #[test]
    fn garbage_der_is_an_error() {
        assert!(Certificate::from_der(&[], 1, 1).is_err());
        assert!(Certificate::from_der(&[0x30, 0x82, 0xff, 0xff, 0x30], 1, 1).is_err());
    }
}

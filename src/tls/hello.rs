//! ClientHello and ServerHello: versions, SNI, cipher suite, downgrade sentinel.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use tls_parser::{
    parse_tls_client_hello_extension, parse_tls_server_hello_extension, SNIType, TlsCipherSuite,
    TlsClientHelloContents, TlsExtension,
};

/// Most entries kept from a ClientHello's supported_versions list.
const MAX_VERSIONS: usize = 16;
/// Longest host name kept from SNI (DNS names are at most 253 characters).
const MAX_SNI: usize = 255;

/// A TLS protocol version as it appears on the wire (`0x0303` is TLS 1.2). `Display` gives
/// its name (`TLS 1.2`), `Debug` the code and the name (`TlsVersion(0x0303 "TLS 1.2")`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    /// SSL 2.0 (only in an SSLv2-format ClientHello).
    pub const SSL2: TlsVersion = TlsVersion(0x0002);
    /// SSL 3.0
    pub const SSL3: TlsVersion = TlsVersion(0x0300);
    /// TLS 1.0
    pub const TLS10: TlsVersion = TlsVersion(0x0301);
    /// TLS 1.1
    pub const TLS11: TlsVersion = TlsVersion(0x0302);
    /// TLS 1.2
    pub const TLS12: TlsVersion = TlsVersion(0x0303);
    /// TLS 1.3
    pub const TLS13: TlsVersion = TlsVersion(0x0304);

    /// "SSLv3", "TLS 1.0" … "TLS 1.3"; a TLS 1.3 draft is "TLS 1.3 draft N"; else hex "0x7a7a".
    pub fn name(self) -> Cow<'static, str> {
        match self.0 {
            0x0002 => "SSLv2".into(),
            0x0300 => "SSLv3".into(),
            0x0301 => "TLS 1.0".into(),
            0x0302 => "TLS 1.1".into(),
            0x0303 => "TLS 1.2".into(),
            0x0304 => "TLS 1.3".into(),
            v if v >> 8 == 0x7f => format!("TLS 1.3 draft {}", v & 0xff).into(),
            v => format!("{v:#06x}").into(),
        }
    }

    /// SSLv2, SSLv3, TLS 1.0 and TLS 1.1 (the `weak-tls-version` finding).
    pub fn is_weak(self) -> bool {
        matches!(self.0, 0x0002 | 0x0300 | 0x0301 | 0x0302)
    }

    /// TLS 1.3 or one of its drafts (0x7fNN): the handshake after ServerHello is encrypted.
    pub fn is_tls13(self) -> bool {
        self.0 == 0x0304 || self.0 >> 8 == 0x7f
    }

    /// A GREASE value (RFC 8701), `0x?a?a`.
    pub fn is_grease(self) -> bool {
        self.0 & 0x0f0f == 0x0a0a
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsVersion({:#06x} {:?})", self.0, self.name())
    }
}

/// Serialized as `{"code": 771, "name": "TLS 1.2"}`.
impl Serialize for TlsVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("TlsVersion", 2)?;
        st.serialize_field("code", &self.0)?;
        st.serialize_field("name", &self.name())?;
        st.end()
    }
}

/// A cipher suite id from ServerHello (IANA TLS Cipher Suites registry). `Display` gives its
/// name, `Debug` the code and the name (`CipherSuite(0x1301 "TLS_AES_128_GCM_SHA256")`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CipherSuite(pub u16);

impl CipherSuite {
    /// The IANA name (from tls-parser's table), else hex `0x1234`.
    pub fn name(self) -> Cow<'static, str> {
        match TlsCipherSuite::from_id(self.0) {
            Some(c) => c.name.into(),
            None => format!("{:#06x}", self.0).into(),
        }
    }
}

impl fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CipherSuite({:#06x} {:?})", self.0, self.name())
    }
}

/// Serialized as `{"code": 4865, "name": "TLS_AES_128_GCM_SHA256"}`.
impl Serialize for CipherSuite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CipherSuite", 2)?;
        st.serialize_field("code", &self.0)?;
        st.serialize_field("name", &self.name())?;
        st.end()
    }
}

/// The downgrade protection sentinel of RFC 8446 §4.1.3 in ServerHello.random. Serialized as
/// `tls12` / `tls11-or-below`; `Display` gives the 8 bytes in hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum DowngradeSentinel {
    /// `44 4F 57 4E 47 52 44 01`: the server supports TLS 1.3 but TLS 1.2 was negotiated.
    #[serde(rename = "tls12")]
    Tls12,
    /// `44 4F 57 4E 47 52 44 00`: the server supports TLS 1.2 or 1.3, TLS 1.1 or below was negotiated.
    #[serde(rename = "tls11-or-below")]
    Tls11OrBelow,
}

const DOWNGRADE_PREFIX: [u8; 7] = *b"DOWNGRD";

/// The 8 bytes in hex: `44 4F 57 4E 47 52 44 01` ("DOWNGRD" + 01 / 00).
impl fmt::Display for DowngradeSentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = match self {
            DowngradeSentinel::Tls12 => 1,
            DowngradeSentinel::Tls11OrBelow => 0,
        };
        for b in DOWNGRADE_PREFIX {
            write!(f, "{b:02X} ")?;
        }
        write!(f, "{last:02X}")
    }
}

impl DowngradeSentinel {
    /// Looks at the last 8 bytes of a ServerHello random.
    pub fn from_random(random: &[u8]) -> Option<Self> {
        let tail = random.get(random.len().checked_sub(8)?..)?;
        if tail[..7] != DOWNGRADE_PREFIX {
            return None;
        }
        match tail[7] {
            1 => Some(DowngradeSentinel::Tls12),
            0 => Some(DowngradeSentinel::Tls11OrBelow),
            _ => None,
        }
    }
}

/// ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256("HelloRetryRequest").
pub(crate) const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What the client offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// Frame that carried the first byte of the message.
    pub frame: u64,
    /// `ClientHello.legacy_version` (the only version before TLS 1.3).
    pub legacy_version: TlsVersion,
    /// The supported_versions extension, GREASE values left out (empty when absent).
    pub supported_versions: Vec<TlsVersion>,
    /// server_name (SNI) host name, if any (lossy UTF-8, at most 255 bytes).
    pub sni: Option<String>,
    /// The ClientHello came in the old SSLv2 record format.
    pub sslv2_format: bool,
    /// `legacy_session_id` (at most 32 bytes; empty when none): a TLS ≤ 1.2 server that
    /// echoes a non-empty one resumes that session. Not serialized.
    pub session_id: Vec<u8>,
}

impl ClientHello {
    /// The client offers TLS 1.3 (supported_versions lists 1.3 or a 1.3 draft).
    pub fn offers_tls13(&self) -> bool {
        self.supported_versions.iter().any(|v| v.is_tls13())
    }

    /// The highest version offered.
    pub fn max_version(&self) -> TlsVersion {
        let listed = self
            .supported_versions
            .iter()
            .copied()
            .map(|v| if v.is_tls13() { TlsVersion::TLS13 } else { v })
            .max();
        listed.unwrap_or(self.legacy_version)
    }
}

/// Serialized with every field plus `offers_tls13`.
impl Serialize for ClientHello {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ClientHello", 6)?;
        st.serialize_field("frame", &self.frame)?;
        st.serialize_field("legacy_version", &self.legacy_version)?;
        st.serialize_field("supported_versions", &self.supported_versions)?;
        st.serialize_field("sni", &self.sni)?;
        st.serialize_field("sslv2_format", &self.sslv2_format)?;
        st.serialize_field("offers_tls13", &self.offers_tls13())?;
        st.end()
    }
}

/// What the server chose (the final ServerHello, never a HelloRetryRequest).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ServerHello {
    /// Frame that carried the first byte of the message.
    pub frame: u64,
    /// The negotiated version: from the supported_versions extension when present, else
    /// `legacy_version`.
    pub version: TlsVersion,
    /// `ServerHello.legacy_version` (0x0303 in TLS 1.3).
    pub legacy_version: TlsVersion,
    /// The chosen cipher suite.
    pub cipher: CipherSuite,
    /// RFC 8446 downgrade sentinel in the random, only looked for when the negotiated
    /// version is below TLS 1.3 (in a 1.3 ServerHello those bytes are just random).
    pub downgrade_sentinel: Option<DowngradeSentinel>,
    /// `legacy_session_id_echo` (at most 32 bytes; empty when none). Not serialized.
    #[serde(skip)]
    pub session_id: Vec<u8>,
}

/// The result of looking at a ServerHello message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ServerHelloKind {
    Final(ServerHello),
    HelloRetryRequest,
}

/// Walks an extensions block (`type u16, len u16, data`), yielding each extension's
/// complete bytes, so that one odd extension does not hide the others.
fn extension_slices(mut ext: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if ext.len() < 4 {
            return None;
        }
        let len = 4 + usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        let one = ext.get(..len)?;
        ext = &ext[len..];
        Some(one)
    })
}

fn extension_type(one: &[u8]) -> u16 {
    u16::from_be_bytes([one[0], one[1]])
}

const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Facts from a ClientHello parsed by tls-parser.
pub(crate) fn client_hello_facts(ch: &TlsClientHelloContents<'_>, frame: u64) -> ClientHello {
    let mut out = ClientHello {
        frame,
        legacy_version: TlsVersion(ch.version.0),
        supported_versions: Vec::new(),
        sni: None,
        sslv2_format: false,
        session_id: session_id(ch.session_id),
    };
    for one in extension_slices(ch.ext.unwrap_or_default()) {
        let ty = extension_type(one);
        if ty != EXT_SERVER_NAME && ty != EXT_SUPPORTED_VERSIONS {
            continue;
        }
        match parse_tls_client_hello_extension(one) {
            Ok((_, TlsExtension::SNI(names))) if out.sni.is_none() => {
                if let Some((_, name)) = names.iter().find(|(t, _)| *t == SNIType::HostName) {
                    let name = &name[..name.len().min(MAX_SNI)];
                    out.sni = Some(String::from_utf8_lossy(name).into_owned());
                }
            }
            Ok((_, TlsExtension::SupportedVersions(list))) if out.supported_versions.is_empty() => {
                out.supported_versions = list
                    .iter()
                    .map(|v| TlsVersion(v.0))
                    .filter(|v| !v.is_grease())
                    .take(MAX_VERSIONS)
                    .collect();
            }
            _ => {}
        }
    }
    out
}

/// Longest session id kept (the protocol's limit, RFC 5246 §7.4.1.2).
const MAX_SESSION_ID: usize = 32;

fn session_id(id: Option<&[u8]>) -> Vec<u8> {
    let id = id.unwrap_or_default();
    id[..id.len().min(MAX_SESSION_ID)].to_vec()
}

/// Facts from a ServerHello body (as tls-parser gives it: version, random, session id,
/// cipher, extensions).
pub(crate) fn server_hello_facts(
    legacy_version: u16,
    random: &[u8],
    session: Option<&[u8]>,
    cipher: u16,
    ext: Option<&[u8]>,
    frame: u64,
) -> ServerHelloKind {
    if random == HELLO_RETRY_REQUEST_RANDOM {
        return ServerHelloKind::HelloRetryRequest;
    }
    let legacy_version = TlsVersion(legacy_version);
    let mut version = legacy_version;
    for one in extension_slices(ext.unwrap_or_default()) {
        if extension_type(one) != EXT_SUPPORTED_VERSIONS {
            continue;
        }
        if let Ok((_, TlsExtension::SupportedVersions(list))) =
            parse_tls_server_hello_extension(one)
        {
            if let [selected] = list.as_slice() {
                version = TlsVersion(selected.0);
            }
        }
        break;
    }
    let downgrade_sentinel = if version.is_tls13() {
        None
    } else {
        DowngradeSentinel::from_random(random)
    };
    ServerHelloKind::Final(ServerHello {
        frame,
        version,
        legacy_version,
        cipher: CipherSuite(cipher),
        downgrade_sentinel,
        session_id: session_id(session),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names() {
        assert_eq!(TlsVersion(0x0300).name(), "SSLv3");
        assert_eq!(TlsVersion(0x0301).name(), "TLS 1.0");
        assert_eq!(TlsVersion(0x0302).name(), "TLS 1.1");
        assert_eq!(TlsVersion(0x0303).name(), "TLS 1.2");
        assert_eq!(TlsVersion(0x0304).name(), "TLS 1.3");
        assert_eq!(TlsVersion(0x7f12).name(), "TLS 1.3 draft 18");
        assert_eq!(TlsVersion(0x1a1a).name(), "0x1a1a");
        assert!(TlsVersion::TLS11.is_weak() && TlsVersion::SSL3.is_weak());
        assert!(!TlsVersion::TLS12.is_weak() && !TlsVersion::TLS13.is_weak());
        assert!(TlsVersion(0x7a7a).is_grease());
    }

    #[test]
    fn versions_and_ciphers_print_their_names() {
        assert_eq!(TlsVersion::TLS13.to_string(), "TLS 1.3");
        assert_eq!(TlsVersion(0x7f12).to_string(), "TLS 1.3 draft 18");
        assert_eq!(
            format!("{:?}", TlsVersion::TLS12),
            r#"TlsVersion(0x0303 "TLS 1.2")"#
        );
        assert_eq!(
            format!("{:?}", TlsVersion(0x1a1a)),
            r#"TlsVersion(0x1a1a "0x1a1a")"#
        );
        assert_eq!(CipherSuite(0x1301).to_string(), "TLS_AES_128_GCM_SHA256");
        assert_eq!(
            format!("{:?}", CipherSuite(0x1301)),
            r#"CipherSuite(0x1301 "TLS_AES_128_GCM_SHA256")"#
        );
        assert_eq!(
            format!("{:?}", Some(TlsVersion::TLS10)),
            r#"Some(TlsVersion(0x0301 "TLS 1.0"))"#
        );
    }

    #[test]
    fn cipher_names() {
        assert_eq!(CipherSuite(0x1301).name(), "TLS_AES_128_GCM_SHA256");
        assert_eq!(
            CipherSuite(0xc02b).name(),
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(CipherSuite(0xfefe).name(), "0xfefe");
    }

    #[test]
    fn sentinel() {
        let mut r = [0u8; 32];
        assert_eq!(DowngradeSentinel::from_random(&r), None);
        r[24..].copy_from_slice(b"DOWNGRD\x01");
        assert_eq!(
            DowngradeSentinel::from_random(&r),
            Some(DowngradeSentinel::Tls12)
        );
        r[31] = 0;
        assert_eq!(
            DowngradeSentinel::from_random(&r),
            Some(DowngradeSentinel::Tls11OrBelow)
        );
        assert_eq!(
            DowngradeSentinel::Tls11OrBelow.to_string(),
            "44 4F 57 4E 47 52 44 00"
        );
        assert_eq!(
            DowngradeSentinel::Tls12.to_string(),
            "44 4F 57 4E 47 52 44 01"
        );
        r[31] = 2;
        assert_eq!(DowngradeSentinel::from_random(&r), None);
        assert_eq!(DowngradeSentinel::from_random(b"short"), None);
    }

    #[test]
    fn hello_retry_request_is_not_final() {
        assert_eq!(
            server_hello_facts(0x0303, &HELLO_RETRY_REQUEST_RANDOM, None, 0x1301, None, 1),
            ServerHelloKind::HelloRetryRequest
        );
    }

    #[test]
    fn extension_walker_stops_on_truncation() {
        let ext = [0, 0, 0, 1, 9, 0, 43, 0, 9, 1];
        let v: Vec<&[u8]> = extension_slices(&ext).collect();
        assert_eq!(v, vec![&[0u8, 0, 0, 1, 9][..]]);
    }
}

//! TLS alerts (RFC 8446 §6, RFC 5246 §7.2 and the IANA registry).

use std::borrow::Cow;
use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::Direction;

/// Alert level `warning` (1).
pub const LEVEL_WARNING: u8 = 1;
/// Alert level `fatal` (2).
pub const LEVEL_FATAL: u8 = 2;

/// An alert description code; unknown codes keep their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AlertDescription(pub u8);

impl AlertDescription {
    /// close_notify (0)
    pub const CLOSE_NOTIFY: AlertDescription = AlertDescription(0);
    /// handshake_failure (40)
    pub const HANDSHAKE_FAILURE: AlertDescription = AlertDescription(40);
    /// unknown_ca (48)
    pub const UNKNOWN_CA: AlertDescription = AlertDescription(48);
    /// protocol_version (70)
    pub const PROTOCOL_VERSION: AlertDescription = AlertDescription(70);
    /// user_canceled (90)
    pub const USER_CANCELED: AlertDescription = AlertDescription(90);

    /// The registry name ("protocol_version"), or `None` for a code not in the registry.
    pub fn known_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "close_notify",
            10 => "unexpected_message",
            20 => "bad_record_mac",
            21 => "decryption_failed",
            22 => "record_overflow",
            30 => "decompression_failure",
            40 => "handshake_failure",
            41 => "no_certificate",
            42 => "bad_certificate",
            43 => "unsupported_certificate",
            44 => "certificate_revoked",
            45 => "certificate_expired",
            46 => "certificate_unknown",
            47 => "illegal_parameter",
            48 => "unknown_ca",
            49 => "access_denied",
            50 => "decode_error",
            51 => "decrypt_error",
            60 => "export_restriction",
            70 => "protocol_version",
            71 => "insufficient_security",
            80 => "internal_error",
            86 => "inappropriate_fallback",
            90 => "user_canceled",
            100 => "no_renegotiation",
            109 => "missing_extension",
            110 => "unsupported_extension",
            111 => "certificate_unobtainable",
            112 => "unrecognized_name",
            113 => "bad_certificate_status_response",
            114 => "bad_certificate_hash_value",
            115 => "unknown_psk_identity",
            116 => "certificate_required",
            120 => "no_application_protocol",
            121 => "ech_required",
            _ => return None,
        })
    }

    /// The registry name, or `unknown(N)`.
    pub fn name(self) -> Cow<'static, str> {
        match self.known_name() {
            Some(n) => n.into(),
            None => format!("unknown({})", self.0).into(),
        }
    }
}

impl fmt::Display for AlertDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A cleartext alert seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Who sent it.
    pub dir: Direction,
    /// Frame carrying the first byte of the alert record.
    pub frame: u64,
    /// 1 = warning, 2 = fatal (other values kept as seen).
    pub level: u8,
    /// What the alert says.
    pub description: AlertDescription,
}

impl Alert {
    /// Level `fatal`, or a level that is not `warning`.
    pub fn is_fatal(&self) -> bool {
        self.level != LEVEL_WARNING
    }

    /// This alert ends the handshake: any fatal alert, and the warnings close_notify and
    /// user_canceled. Other warnings (e.g. unrecognized_name, no_renegotiation) let the
    /// handshake go on.
    pub fn ends_handshake(&self) -> bool {
        self.is_fatal()
            || self.description == AlertDescription::CLOSE_NOTIFY
            || self.description == AlertDescription::USER_CANCELED
    }
}

/// Serialized as `{"dir":"to-client","frame":4,"level":2,"description":70,"name":"protocol_version"}`.
impl Serialize for Alert {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Alert", 5)?;
        st.serialize_field("dir", &self.dir)?;
        st.serialize_field("frame", &self.frame)?;
        st.serialize_field("level", &self.level)?;
        st.serialize_field("description", &self.description)?;
        st.serialize_field("name", &self.description.name())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(AlertDescription(70).name(), "protocol_version");
        assert_eq!(AlertDescription(48).name(), "unknown_ca");
        assert_eq!(AlertDescription(40).name(), "handshake_failure");
        assert_eq!(AlertDescription(200).name(), "unknown(200)");
    }

    #[test]
    fn serializes_codes_and_name() {
        let a = Alert {
            dir: Direction::ToClient,
            frame: 3,
            level: 2,
            description: AlertDescription(70),
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"dir":"to-client","frame":3,"level":2,"description":70,"name":"protocol_version"})
        );
    }

    #[test]
    fn which_alerts_end_the_handshake() {
        let a = |level, d| Alert {
            dir: Direction::ToClient,
            frame: 1,
            level,
            description: AlertDescription(d),
        };
        assert!(a(2, 40).ends_handshake());
        assert!(a(1, 0).ends_handshake());
        assert!(a(1, 90).ends_handshake());
        assert!(!a(1, 112).ends_handshake());
        assert!(a(7, 112).ends_handshake());
    }
}

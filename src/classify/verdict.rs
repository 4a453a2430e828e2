//! The verdicts and finding kinds: their names are the JSON contract (DESIGN.md).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Exactly one per session: what finally happened to TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Upgraded,
    ImplicitTls,
    HandshakeFailed,
    Stripped,
    Rejected,
    NotUsed,
    NotOffered,
    NoEhlo,
    Refused,
    Incomplete,
}

/// What a session shows besides its verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    MaskedKeyword,
    MaskedBanner,
    MaskedCommand,
    EhloRejected,
    DeletedLine,
    CommandInjection,
    ResponseInjection,
    PlaintextAfterUpgrade,
    AuthBeforeTls,
    TlsRequired,
    CleartextMail,
    DowngradeSentinel,
    WeakTlsVersion,
    CertExpired,
    CertNotYetValid,
    CertSelfSigned,
    CertHostMismatch,
    InconsistentOffer,
    CaptureGap,
    Midstream,
    StarttlsRejected,
    RequiredNotOffered,
    #[serde(rename = "tls-without-220")]
    TlsWithout220,
    StarttlsPipelined,
    OneDirection,
    DecryptedCapture,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Warning,
    High,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl FromStr for $ty {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or(())
            }
        }
    };
}

names!(Verdict {
    Upgraded => "upgraded",
    ImplicitTls => "implicit-tls",
    HandshakeFailed => "handshake-failed",
    Stripped => "stripped",
    Rejected => "rejected",
    NotUsed => "not-used",
    NotOffered => "not-offered",
    NoEhlo => "no-ehlo",
    Refused => "refused",
    Incomplete => "incomplete",
});

names!(FindingKind {
    MaskedKeyword => "masked-keyword",
    MaskedBanner => "masked-banner",
    MaskedCommand => "masked-command",
    EhloRejected => "ehlo-rejected",
    DeletedLine => "deleted-line",
    CommandInjection => "command-injection",
    ResponseInjection => "response-injection",
    PlaintextAfterUpgrade => "plaintext-after-upgrade",
    AuthBeforeTls => "auth-before-tls",
    TlsRequired => "tls-required",
    CleartextMail => "cleartext-mail",
    DowngradeSentinel => "downgrade-sentinel",
    WeakTlsVersion => "weak-tls-version",
    CertExpired => "cert-expired",
    CertNotYetValid => "cert-not-yet-valid",
    CertSelfSigned => "cert-self-signed",
    CertHostMismatch => "cert-host-mismatch",
    InconsistentOffer => "inconsistent-offer",
    CaptureGap => "capture-gap",
    Midstream => "midstream",
    StarttlsRejected => "starttls-rejected",
    RequiredNotOffered => "required-not-offered",
    TlsWithout220 => "tls-without-220",
    StarttlsPipelined => "starttls-pipelined",
    OneDirection => "one-direction",
    DecryptedCapture => "decrypted-capture",
});

names!(Severity { Info => "info", Warning => "warning", High => "high" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for v in Verdict::ALL {
            assert_eq!(v.name().parse::<Verdict>(), Ok(*v));
            assert_eq!(serde_json::to_value(v).unwrap(), v.name());
        }
        for k in FindingKind::ALL {
            assert_eq!(k.name().parse::<FindingKind>(), Ok(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
        assert_eq!(Verdict::ALL.len(), 10);
    }
}

//! The verdicts and finding kinds: their names are the JSON contract (DESIGN.md).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Exactly one per session: what finally happened to TLS.
///
/// When several could apply, the first in declaration order wins (`upgraded`/`implicit-tls` ›
/// `handshake-failed` › `stripped` › `rejected` › `not-used`/`not-offered`/`no-ehlo`/`refused` ›
/// `incomplete`) and the [`Finding`](super::Finding)s carry the rest. `Display`, `FromStr` and
/// serde use the kebab-case names, which are the JSON contract; new verdicts may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// `upgraded`: STARTTLS answered `220` (RFC 3207), then a ServerHello and encrypted records
    /// from both sides with no alert, reset or close before them.
    Upgraded,
    /// `implicit-tls`: TLS from the first byte (port 465 style, RFC 8314) and the handshake
    /// went through.
    ImplicitTls,
    /// `handshake-failed`: `220` given (or TLS expected from the first byte) but the handshake
    /// did not go through: a cleartext alert, a reset or close mid-handshake, or bytes that
    /// are not TLS.
    HandshakeFailed,
    /// `stripped`: a middlebox removed or masked STARTTLS (a masked keyword of STARTTLS'
    /// length, a masked banner or command, a deleted EHLO line, or a `530` demanding the
    /// STARTTLS the EHLO reply did not offer).
    Stripped,
    /// `rejected`: STARTTLS answered with anything but `220` (454, 501, 421, 5xx…), except
    /// 500/502 to an advertised STARTTLS, which is [`Stripped`](Verdict::Stripped).
    Rejected,
    /// `not-used`: STARTTLS offered, the client never sent it and went on in cleartext.
    NotUsed,
    /// `not-offered`: the EHLO reply has no STARTTLS and shows no sign of tampering.
    NotOffered,
    /// `no-ehlo`: no ESMTP: the client used HELO, or EHLO was refused.
    NoEhlo,
    /// `refused`: the server refused the client at the greeting (`554`, `421`) before any EHLO.
    Refused,
    /// `incomplete`: the capture does not hold enough to decide (ends early, starts
    /// mid-stream, a gap at the decisive point, one direction that proves nothing).
    Incomplete,
}

/// What a session shows besides its verdict; the S-numbers are DESIGN.md's wire signatures.
///
/// `Display`, `FromStr` and serde use the kebab-case names (the JSON contract); new kinds may
/// be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FindingKind {
    /// `masked-keyword`: an EHLO keyword of capital X's, optionally ending in one more
    /// capital (`250-XXXXXXXA`): Cisco PIX/ASA ESMTP inspection masking a keyword (S2).
    MaskedKeyword,
    /// `masked-banner`: a greeting `220 ****…` with every character but `2` and `0` turned
    /// into `*` (PIX MailGuard, S3).
    MaskedBanner,
    /// `masked-command`: a client line of X's answered 500/502, or an advertised STARTTLS
    /// answered 500/502 (S4).
    MaskedCommand,
    /// `ehlo-rejected`: EHLO answered 4xx or 5xx, with or without a HELO after it (S5).
    EhloRejected,
    /// `deleted-line`: an empty line, a line without a reply code or a blanked keyword line
    /// inside a multi-line EHLO reply (S7).
    DeletedLine,
    /// `command-injection`: client bytes after `STARTTLS\r\n` before the server's reply
    /// (CVE-2011-0411 class, S8).
    CommandInjection,
    /// `response-injection`: server bytes after its `220` to STARTTLS and before the TLS
    /// handshake began (S9).
    ResponseInjection,
    /// `plaintext-after-upgrade`: after the `220`, bytes that are not a TLS record (S10).
    PlaintextAfterUpgrade,
    /// `auth-before-tls`: AUTH (or `334` challenges) in cleartext; the evidence names the
    /// mechanism, never the credential (S11).
    AuthBeforeTls,
    /// `tls-required`: the server answered `530` (must issue STARTTLS first, RFC 3207; S12).
    TlsRequired,
    /// `cleartext-mail`: MAIL / RCPT / DATA / BDAT sent without TLS.
    CleartextMail,
    /// `downgrade-sentinel`: ServerHello.random ends with `DOWNGRD` + `01`/`00` (RFC 8446
    /// §4.1.3) although the client offered a newer version: a real downgrade (S13).
    DowngradeSentinel,
    /// `weak-tls-version`: SSLv3, TLS 1.0 or TLS 1.1 negotiated (RFC 8996).
    WeakTlsVersion,
    /// `cert-expired`: the TLS ≤ 1.2 server certificate's notAfter is before the capture time.
    CertExpired,
    /// `cert-not-yet-valid`: the server certificate's notBefore is after the capture time.
    CertNotYetValid,
    /// `cert-self-signed`: the server certificate is signed by its own key.
    CertSelfSigned,
    /// `cert-host-mismatch`: the server certificate does not name the SNI the client sent
    /// (RFC 6125; checked only against SNI, never the banner).
    CertHostMismatch,
    /// `inconsistent-offer`: the same server offered STARTTLS in one session and not in
    /// another of the same capture (S14); added across sessions, not by [`findings`](super::findings).
    InconsistentOffer,
    /// `capture-gap`: bytes missing from the capture; the parser resynchronised.
    CaptureGap,
    /// `midstream`: the capture starts after the connection began (no SYN).
    Midstream,
    /// `starttls-rejected`: STARTTLS answered with anything but `220` (also when a later
    /// STARTTLS succeeded).
    StarttlsRejected,
    /// `required-not-offered`: a `530` demanding STARTTLS although the EHLO reply did not
    /// offer it.
    RequiredNotOffered,
    /// `tls-without-220`: the client sent TLS records although its STARTTLS was not answered
    /// `220`.
    #[serde(rename = "tls-without-220")]
    TlsWithout220,
    /// `starttls-pipelined`: more client commands after STARTTLS before its reply (against
    /// RFC 2920 §3.1 / RFC 3207 §4.2) and TLS did not start.
    StarttlsPipelined,
    /// `one-direction`: the capture holds one direction of the connection only (tap or SPAN
    /// port); the verdict is what that side proves.
    OneDirection,
    /// `decrypted-capture`: a coherent plaintext dialogue from both sides after `220`: the
    /// capture was most likely decrypted by an inspecting appliance.
    DecryptedCapture,
}

/// How much a finding matters, lowest first (so `max()` gives the worst); the table marks
/// `High` with `!!` and `Warning` with `!`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Severity {
    /// `info`: context, not a problem (e.g. `midstream`); listed with `-v` only.
    Info,
    /// `warning`: worth a look: STARTTLS refused, a weak version or a doubtful certificate,
    /// mail in cleartext, a masked keyword that cannot be STARTTLS.
    Warning,
    /// `high`: TLS was prevented or tampered with (masking, injection, downgrade), or
    /// credentials went in cleartext.
    High,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),*];
            /// The kebab-case name used in JSON, on the command line and by `Display`.
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

//! What the reader asked to see: which sessions (`--only`, `-q`), which findings (`-v`), how
//! wide (`--wide`, the terminal's width), which clock (`--utc`); and the small pieces every
//! human format shows the same way (time, server name, findings with their severity marks).

use crate::capture::Timestamp;
use crate::classify::{FindingKind, SessionReport, Severity, Verdict};
use crate::text::escape_str;

/// A selector of `--only`: a verdict, a finding kind, or a severity (a session with a finding
/// of at least that severity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Only {
    /// Sessions with this verdict.
    Verdict(Verdict),
    /// Sessions with a finding of this kind.
    Finding(FindingKind),
    /// Sessions with a finding of this severity or worse.
    Severity(Severity),
}

impl std::str::FromStr for Only {
    type Err = ();
    fn from_str(name: &str) -> Result<Only, ()> {
        name.parse()
            .map(Only::Verdict)
            .or_else(|_| name.parse().map(Only::Finding))
            .or_else(|_| name.parse().map(Only::Severity))
    }
}

/// The name `--only` takes: the verdict's, the finding kind's or the severity's.
impl std::fmt::Display for Only {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Only::Verdict(v) => v.fmt(f),
            Only::Finding(k) => k.fmt(f),
            Only::Severity(s) => s.fmt(f),
        }
    }
}

impl Only {
    /// Whether the session is one this selector picks.
    pub fn matches(self, report: &SessionReport) -> bool {
        match self {
            Only::Verdict(v) => report.verdict == v,
            Only::Finding(k) => report.has(k),
            Only::Severity(s) => report.findings.iter().any(|f| f.severity >= s),
        }
    }
}

/// How the human formats show sessions, and which sessions every format lists.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// Colours (a terminal, NO_COLOR unset).
    pub color: bool,
    /// `Some(columns)`: lay the table out for a terminal this wide; `None`: plain aligned
    /// columns for a pipe.
    pub width: Option<usize>,
    /// `--wide`: nothing shortened.
    pub wide: bool,
    /// `-v`: info-level findings in the table too.
    pub verbose: bool,
    /// `--utc`: times in UTC instead of local time.
    pub utc: bool,
    /// `-q`: no sessions, the summary only.
    pub quiet: bool,
    /// `--only`: list only the sessions matching one of these (all when empty).
    pub only: Vec<Only>,
}

impl View {
    /// Whether the session is listed.
    pub(crate) fn shows(&self, report: &SessionReport) -> bool {
        !self.quiet && (self.only.is_empty() || self.only.iter().any(|o| o.matches(report)))
    }

    /// The session's first-packet time, `2024-01-01T01:00:00+01:00` (local time with its
    /// offset, or UTC with `--utc`), to the second.
    pub(crate) fn time(&self, ts: Timestamp) -> String {
        let Ok(t) = jiff::Timestamp::new(ts.secs, 0) else {
            return ts.to_rfc3339();
        };
        let tz = if self.utc {
            jiff::tz::TimeZone::UTC
        } else {
            jiff::tz::TimeZone::system()
        };
        t.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    /// The findings the table lists, most severe first, each with its mark: `!!` high, `!`
    /// warning, none for info (listed with `-v` only). Each kind once.
    pub(crate) fn findings<'a>(&self, report: &'a SessionReport) -> Vec<(Severity, &'a str)> {
        let mut out: Vec<(Severity, &str)> = Vec::new();
        for f in &report.findings {
            if f.severity == Severity::Info && !self.verbose {
                continue;
            }
            if !out.iter().any(|(_, k)| *k == f.kind.name()) {
                out.push((f.severity, f.kind.name()));
            }
        }
        out.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
        out
    }
}

/// `!!` for high, `!` for warning, nothing for info.
pub fn mark(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "!!",
        Severity::Warning => "!",
        Severity::Info => "",
    }
}

/// The server's name: the SNI the client sent, else the host name the banner gives (its first
/// word after the code), escaped; empty when neither is there.
pub fn server_name(report: &SessionReport) -> String {
    let r = &report.record;
    if let Some(sni) = r
        .tls
        .as_deref()
        .and_then(|t| t.client_hello.as_ref())
        .and_then(|ch| ch.sni.as_deref())
    {
        return escape_str(sni);
    }
    let Some(greeting) = r.greeting.as_ref().filter(|g| g.code == 220) else {
        return String::new();
    };
    let Some(Some(text)) = greeting.texts().next() else {
        return String::new();
    };
    let word = text
        .split(|b| b.is_ascii_whitespace())
        .find(|w| !w.is_empty())
        .unwrap_or_default();
    // A masked banner (`****`) names nobody.
    if word.iter().all(|&b| b == b'*') {
        return String::new();
    }
    escape_str(&String::from_utf8_lossy(word))
}

/// The negotiated TLS version, or empty.
pub fn tls_version(report: &SessionReport) -> String {
    report
        .record
        .tls
        .as_ref()
        .and_then(|t| t.server_hello.as_ref())
        .map(|h| h.version.name().into_owned())
        .unwrap_or_default()
}

/// The reason as one line: `#12 protocol_version (70) alert from the server`, then the line
/// it quotes, escaped.
pub fn reason_line(report: &SessionReport) -> String {
    let reason = &report.reason;
    let mut s = format!("#{} {}", reason.frame, reason.text);
    if let Some(line) = &reason.line {
        s.push_str(": ");
        s.push_str(&line.escaped());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prints_what_it_parses() {
        for name in [
            "stripped",
            "masked-keyword",
            "high",
            "warning",
            "incomplete",
        ] {
            let only: Only = name.parse().unwrap();
            assert_eq!(only.to_string(), name);
        }
        assert_eq!("stripped".parse(), Ok(Only::Verdict(Verdict::Stripped)));
        assert!("nonsense".parse::<Only>().is_err());
    }
}

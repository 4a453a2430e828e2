//! Pure parsers for SMTP lines (RFC 5321 §4.1, §4.2; RFC 3463; RFC 1869/5321 §4.1.1.1).
//!
//! Each parser takes one complete line *without* its line ending and never fails loudly:
//! a line that is not what was expected gives `None`. Splitting the byte stream into lines is
//! the session's job (its line buffer); these functions only give lines meaning. Verbs and
//! EHLO keywords are case-insensitive; reply codes are matched, never reply texts.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1, take_while_m_n};
use nom::character::complete::{char, digit1};
use nom::combinator::{eof, opt, rest, value};
use nom::{IResult, Parser};

/// One line of a reply: `250-PIPELINING`, `220 mail.example.com ESMTP`, `354`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The three-digit reply code (RFC 5321 §4.2).
    pub code: u16,
    /// `true` for `250-...`: more lines of the same reply follow.
    pub more: bool,
    /// Everything after the code and its separator (may be empty).
    pub text: &'a [u8],
}

/// Parses one reply line. Three digits, then `-`, a space or the end of the line.
pub fn reply_line(line: &[u8]) -> Option<ReplyLine<'_>> {
    fn parse(i: &[u8]) -> IResult<&[u8], ReplyLine<'_>> {
        let (i, digits) = take_while_m_n(3, 3, |b: u8| b.is_ascii_digit()).parse(i)?;
        let (i, more) = alt((
            value(true, char('-')),
            value(false, char(' ')),
            value(false, eof),
        ))
        .parse(i)?;
        let (i, text) = rest(i)?;
        let code = digits
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        Ok((i, ReplyLine { code, more, text }))
    }
    parse(line).ok().map(|(_, l)| l)
}

/// The SMTP commands mailtap gives meaning to; anything else is [`Verb::Other`].
/// Recognised case-insensitively; serialized in capitals (`"STARTTLS"`). More may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Verb {
    /// `EHLO` (RFC 5321 §4.1.1.1): extended hello, answered with the keyword list.
    Ehlo,
    /// `HELO`: plain SMTP hello, no extensions (and so no STARTTLS).
    Helo,
    /// `LHLO` (RFC 2033): LMTP's EHLO.
    Lhlo,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH` (RFC 4954); only its mechanism is ever kept.
    Auth,
    /// `MAIL FROM:`.
    Mail,
    /// `RCPT TO:`.
    Rcpt,
    /// `DATA`.
    Data,
    /// `BDAT` (RFC 3030 CHUNKING).
    Bdat,
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// Any other word (`VRFY`, `XCLIENT`, a masked `XXXXXXXX`…).
    Other,
}

impl Verb {
    fn from_word(word: &[u8]) -> Verb {
        const VERBS: [(&[u8], Verb); 12] = [
            (b"EHLO", Verb::Ehlo),
            (b"HELO", Verb::Helo),
            (b"LHLO", Verb::Lhlo),
            (b"STARTTLS", Verb::StartTls),
            (b"AUTH", Verb::Auth),
            (b"MAIL", Verb::Mail),
            (b"RCPT", Verb::Rcpt),
            (b"DATA", Verb::Data),
            (b"BDAT", Verb::Bdat),
            (b"RSET", Verb::Rset),
            (b"NOOP", Verb::Noop),
            (b"QUIT", Verb::Quit),
        ];
        VERBS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map_or(Verb::Other, |&(_, verb)| verb)
    }

    /// Commands that carry mail (RFC 5321 MAIL/RCPT/DATA, RFC 3030 BDAT).
    pub fn carries_mail(self) -> bool {
        matches!(self, Verb::Mail | Verb::Rcpt | Verb::Data | Verb::Bdat)
    }

    /// `EHLO`, `HELO` or `LHLO`: the commands that open (or reset) a dialogue.
    pub fn is_hello(self) -> bool {
        matches!(self, Verb::Ehlo | Verb::Helo | Verb::Lhlo)
    }

    /// The verb in capitals, as serialized: `EHLO`, `STARTTLS`, … and `OTHER`.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Ehlo => "EHLO",
            Verb::Helo => "HELO",
            Verb::Lhlo => "LHLO",
            Verb::StartTls => "STARTTLS",
            Verb::Auth => "AUTH",
            Verb::Mail => "MAIL",
            Verb::Rcpt => "RCPT",
            Verb::Data => "DATA",
            Verb::Bdat => "BDAT",
            Verb::Rset => "RSET",
            Verb::Noop => "NOOP",
            Verb::Quit => "QUIT",
            Verb::Other => "OTHER",
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One client command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandLine<'a> {
    /// The command, recognised case-insensitively.
    pub verb: Verb,
    /// The verb as sent (for `Verb::Other`, and for evidence).
    pub word: &'a [u8],
    /// Everything after the verb and its separating spaces.
    pub args: &'a [u8],
}

/// Parses a command line: a word of letters and digits, then optional arguments.
pub fn command_line(line: &[u8]) -> Option<CommandLine<'_>> {
    fn parse(i: &[u8]) -> IResult<&[u8], CommandLine<'_>> {
        let (i, word) = take_while1(|b: u8| b.is_ascii_alphanumeric()).parse(i)?;
        let (i, _) = alt((take_while1(|b| b == b' ' || b == b'\t'), eof)).parse(i)?;
        let (i, args) = rest(i)?;
        Ok((
            i,
            CommandLine {
                verb: Verb::from_word(word),
                word,
                args,
            },
        ))
    }
    parse(line).ok().map(|(_, c)| c)
}

/// `MAIL`-style verbs take an argument after a colon; `BDAT` a size and an optional `LAST`.
pub fn bdat_args(args: &[u8]) -> Option<(u64, bool)> {
    fn parse(i: &[u8]) -> IResult<&[u8], (u64, bool)> {
        let (i, size) = digit1(i)?;
        let (i, last) = opt((take_while1(|b| b == b' '), tag_no_case_last)).parse(i)?;
        let (i, _) = take_while(|b| b == b' ').parse(i)?;
        let (i, _) = eof(i)?;
        let size = std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        Ok((i, (size, last.is_some())))
    }
    fn tag_no_case_last(i: &[u8]) -> IResult<&[u8], &[u8]> {
        nom::bytes::complete::tag_no_case("LAST").parse(i)
    }
    parse(args).ok().map(|(_, v)| v)
}

/// An EHLO keyword line's text (after `250-`): the keyword and its parameters.
/// `ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`.
pub fn ehlo_keyword(text: &[u8]) -> Option<(&[u8], &[u8])> {
    fn parse(i: &[u8]) -> IResult<&[u8], (&[u8], &[u8])> {
        let (i, keyword) = take_while1(|b: u8| b.is_ascii_alphanumeric() || b == b'-').parse(i)?;
        let (i, _) = alt((take_while1(|b| b == b' ' || b == b'='), eof)).parse(i)?;
        let (i, params) = rest(i)?;
        Ok((i, (keyword, params)))
    }
    parse(text).ok().map(|(_, k)| k)
}

/// An RFC 3463 enhanced status code at the start of a reply text: `4.7.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnhancedCode {
    /// `2` success, `4` persistent transient failure, `5` permanent failure.
    pub class: u8,
    /// The subject (`7` is security or policy status).
    pub subject: u16,
    /// The detail within the subject.
    pub detail: u16,
}

/// Parses an RFC 3463 enhanced status code (`class.subject.detail`, class 2, 4 or 5) at the
/// start of a reply text, followed by a space or the end of the text.
pub fn enhanced_code(text: &[u8]) -> Option<EnhancedCode> {
    fn number(i: &[u8]) -> IResult<&[u8], u16> {
        let (i, d) = take_while_m_n(1, 3, |b: u8| b.is_ascii_digit()).parse(i)?;
        Ok((
            i,
            d.iter().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0')),
        ))
    }
    fn parse(i: &[u8]) -> IResult<&[u8], EnhancedCode> {
        let (i, class) = take_while_m_n(1, 1, |b: u8| matches!(b, b'2' | b'4' | b'5')).parse(i)?;
        let (i, (_, subject, _, detail)) = (tag("."), number, tag("."), number).parse(i)?;
        let (i, _) = alt((take_while1(|b| b == b' '), eof)).parse(i)?;
        Ok((
            i,
            EnhancedCode {
                class: class[0] - b'0',
                subject,
                detail,
            },
        ))
    }
    parse(text).ok().map(|(_, c)| c)
}

/// S2: a keyword Cisco ESMTP inspection masked: a run of capital X's, optionally ending in one
/// more capital letter (`XXXXXXXA`, `XXXA`). Lower-case `xxxx` is anonymisation, not masking.
pub fn is_masked_keyword(keyword: &[u8]) -> bool {
    let xs = keyword.iter().take_while(|&&b| b == b'X').count();
    let tail = &keyword[xs..];
    xs >= 3 && (tail.is_empty() || (tail.len() == 1 && tail[0].is_ascii_uppercase()))
}

/// S4: a client line of only capital X's, a command a firewall overwrote (`XXXXXXXX`).
pub fn is_masked_command(line: &[u8]) -> bool {
    line.len() >= 4 && line.iter().all(|&b| b == b'X')
}

/// S3: a greeting text where every character but `2` and `0` became `*` (PIX MailGuard).
pub fn is_masked_banner(text: &[u8]) -> bool {
    let stars = text.iter().filter(|&&b| b == b'*').count();
    stars >= 3
        && text.iter().all(|&b| matches!(b, b'*' | b'2' | b'0' | b' '))
        && stars * 2 >= text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_print_as_serialized() {
        for word in [
            "ehlo", "HELO", "Lhlo", "staRttLs", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
            "NOOP", "QUIT", "VRFY",
        ] {
            let verb = Verb::from_word(word.as_bytes());
            assert_eq!(serde_json::to_value(verb).unwrap(), verb.to_string());
            if verb != Verb::Other {
                assert!(verb.name().eq_ignore_ascii_case(word));
            }
        }
        assert_eq!(Verb::Other.to_string(), "OTHER");
    }

    #[test]
    fn reply_lines() {
        assert_eq!(
            reply_line(b"250-PIPELINING"),
            Some(ReplyLine {
                code: 250,
                more: true,
                text: b"PIPELINING"
            })
        );
        assert_eq!(
            reply_line(b"220 Ready to start TLS"),
            Some(ReplyLine {
                code: 220,
                more: false,
                text: b"Ready to start TLS"
            })
        );
        assert_eq!(
            reply_line(b"354"),
            Some(ReplyLine {
                code: 354,
                more: false,
                text: b""
            })
        );
        assert_eq!(reply_line(b"250XPIPE"), None);
        assert_eq!(reply_line(b""), None);
        assert_eq!(reply_line(b"25"), None);
        assert_eq!(reply_line(b"PIPELINING"), None);
    }

    #[test]
    fn commands_are_case_insensitive() {
        let c = command_line(b"staRttLs").unwrap();
        assert_eq!(c.verb, Verb::StartTls);
        let c = command_line(b"MAIL FROM:<a@example.com> SIZE=10").unwrap();
        assert_eq!(
            (c.verb, c.args),
            (Verb::Mail, &b"FROM:<a@example.com> SIZE=10"[..])
        );
        assert_eq!(
            command_line(b"ehlo  client.example").unwrap().args,
            b"client.example"
        );
        assert_eq!(command_line(b"XEXCH50 1 2").unwrap().verb, Verb::Other);
        assert_eq!(command_line(b"STARTTLSX").unwrap().verb, Verb::Other);
        assert_eq!(command_line(b""), None);
        assert_eq!(command_line(b"\x16\x03\x01"), None);
    }

    #[test]
    fn bdat() {
        assert_eq!(bdat_args(b"1024 LAST"), Some((1024, true)));
        assert_eq!(bdat_args(b"86"), Some((86, false)));
        assert_eq!(bdat_args(b"x"), None);
    }

    #[test]
    fn ehlo_keywords() {
        assert_eq!(
            ehlo_keyword(b"SIZE 10240000"),
            Some((&b"SIZE"[..], &b"10240000"[..]))
        );
        assert_eq!(
            ehlo_keyword(b"STARTTLS"),
            Some((&b"STARTTLS"[..], &b""[..]))
        );
        assert_eq!(
            ehlo_keyword(b"AUTH=LOGIN PLAIN"),
            Some((&b"AUTH"[..], &b"LOGIN PLAIN"[..]))
        );
        assert_eq!(ehlo_keyword(b""), None);
    }

    #[test]
    fn enhanced_codes() {
        assert_eq!(
            enhanced_code(b"4.7.0 TLS not available"),
            Some(EnhancedCode {
                class: 4,
                subject: 7,
                detail: 0
            })
        );
        assert_eq!(
            enhanced_code(b"2.0.0"),
            Some(EnhancedCode {
                class: 2,
                subject: 0,
                detail: 0
            })
        );
        assert_eq!(enhanced_code(b"Ready"), None);
        assert_eq!(enhanced_code(b"3.1.1 x"), None);
    }

    #[test]
    fn masking_signatures() {
        assert!(is_masked_keyword(b"XXXXXXXA"));
        assert!(is_masked_keyword(b"XXXA"));
        assert!(is_masked_keyword(b"XXXXXXXX"));
        assert!(!is_masked_keyword(b"xxxxxxxa"));
        assert!(!is_masked_keyword(b"XEXCH50"));
        assert!(!is_masked_keyword(b"XXAB"));
        assert!(is_masked_command(b"XXXXXXXX"));
        assert!(!is_masked_command(b"XXX"));
        assert!(is_masked_banner(
            b"*****************************0*0*********2***"
        ));
        assert!(!is_masked_banner(b"mail.example.com ESMTP"));
        assert!(!is_masked_banner(b"2.0.0 ok"));
    }
}

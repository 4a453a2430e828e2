//! `--format csv`: one header line, then one line per session, for spreadsheets. RFC 4180:
//! comma-separated, CRLF line ends, fields quoted when they hold a comma, a quote or a line
//! break. The columns are fixed (add new ones only at the end):
//!
//! `capture, client, server, verdict, first_frame, last_frame, first_time, last_time,
//! server_name, tls_version, tls_cipher, findings, reason_frame, reason_text, reason_line`
//!
//! Times are RFC 3339 UTC as in JSON; `findings` lists every kind (info included), separated
//! by spaces; `reason_*` are the JSON `reason`. Wire text is escaped as on a terminal, and a
//! field from the wire that starts with `=`, `+`, `-` or `@` gets a leading `'` so that a
//! spreadsheet does not run it as a formula.

use std::io::{self, Write};

use crate::classify::SessionReport;

pub const COLUMNS: [&str; 15] = [
    "capture",
    "client",
    "server",
    "verdict",
    "first_frame",
    "last_frame",
    "first_time",
    "last_time",
    "server_name",
    "tls_version",
    "tls_cipher",
    "findings",
    "reason_frame",
    "reason_text",
    "reason_line",
];

fn field(out: &mut impl Write, text: &str, wire: bool) -> io::Result<()> {
    let guard = wire && text.starts_with(['=', '+', '-', '@']);
    if text.contains([',', '"', '\r', '\n']) || guard {
        out.write_all(b"\"")?;
        if guard {
            out.write_all(b"'")?;
        }
        out.write_all(text.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(text.as_bytes())
    }
}

fn row(out: &mut impl Write, fields: &[(&str, bool)]) -> io::Result<()> {
    for (i, (text, wire)) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        field(out, text, *wire)?;
    }
    out.write_all(b"\r\n")
}

pub fn write(
    out: &mut impl Write,
    inputs: &[String],
    collected: &[Vec<SessionReport>],
) -> io::Result<()> {
    let header: Vec<(&str, bool)> = COLUMNS.iter().map(|c| (*c, false)).collect();
    row(out, &header)?;
    for (name, reports) in inputs.iter().zip(collected) {
        let capture = crate::text::escape_str(name);
        for report in reports {
            let r = &report.record;
            let hello = r.tls.as_deref().and_then(|t| t.server_hello.as_ref());
            let mut kinds: Vec<&str> = report.findings.iter().map(|f| f.kind.name()).collect();
            kinds.dedup();
            let line = report
                .reason
                .line
                .as_ref()
                .map(|l| l.escaped())
                .unwrap_or_default();
            row(
                out,
                &[
                    (&capture, true),
                    (&r.client.to_string(), false),
                    (&r.server.to_string(), false),
                    (report.verdict.name(), false),
                    (&r.first_frame.to_string(), false),
                    (&r.last_frame.to_string(), false),
                    (&r.first_time.to_string(), false),
                    (&r.last_time.to_string(), false),
                    (&super::view::server_name(report), true),
                    (&hello.map(|h| h.version.name()).unwrap_or_default(), false),
                    (&hello.map(|h| h.cipher.name()).unwrap_or_default(), false),
                    (&kinds.join(" "), false),
                    (&report.reason.frame.to_string(), false),
                    (&report.reason.text, false),
                    (&line, true),
                ],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_formula_guard() {
        let mut out = Vec::new();
        row(
            &mut out,
            &[
                ("a,b", false),
                ("say \"hi\"", false),
                ("=cmd()", true),
                ("-1", false),
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",\"'=cmd()\",-1\r\n"
        );
    }
}

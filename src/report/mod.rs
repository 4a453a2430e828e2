//! Report layer: sessions and the summary, as a table, JSON, JSON Lines or a transcript.
//!
//! Table and JSON documents are written when the input ends, sorted by input and first frame
//! (deterministic whatever order sessions ended in); JSON Lines and transcripts are written as
//! sessions end, in blocks of 64 KiB for files (as `grep` buffers into a pipe) and flushed
//! session by session by a [`Reporter::streaming`] reporter, so that
//! `mailtap -i eth0 --format jsonl | jq` follows a live capture. A streaming reporter writes
//! the table too as sessions end: a header, then one aligned line per session. Every piece of
//! wire text goes through [`crate::text`] escaping.

mod compact;
mod csv;
pub mod json;
mod table;
mod transcript;
mod view;

use std::io::{self, Write};

use crate::analyzer::{OfferHistory, Summary};
use crate::capture::CaptureStats;
use crate::classify::SessionReport;
use crate::parallel::Render;

pub use view::{Only, View};

/// Output formats (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, fitted to the terminal (plain columns in a pipe)
    Table,
    /// One document, schema mailtap/1
    Json,
    /// One session object per line, as sessions end
    Jsonl,
    /// Each session's plaintext dialogue and TLS exchange
    Transcript,
    /// Fixed columns for spreadsheets (see the README)
    Csv,
}

impl Format {
    /// Whether sessions need to be kept until the end (sorted documents).
    fn collects(self, streaming: bool) -> bool {
        match self {
            Format::Table => !streaming,
            Format::Json | Format::Csv => true,
            Format::Jsonl | Format::Transcript => false,
        }
    }

    /// Whether the session records must keep the plaintext dialogue.
    pub fn needs_transcript(self) -> bool {
        self == Format::Transcript
    }
}

/// Writes sessions as they come (or keeps them, for sorted documents) and the summary at the
/// end. Call [`Reporter::finish`] (or `finish_with`): JSON Lines and transcripts of files are
/// written in blocks, and the last block is written there.
pub struct Reporter<W: Write> {
    format: Format,
    out: W,
    view: View,
    inputs: Vec<String>,
    /// Sessions kept for the end, per input.
    collected: Vec<Vec<SessionReport>>,
    /// Table rows are written as sessions end (live capture).
    streaming: bool,
    header_written: bool,
    /// JSON lines or transcripts not yet written: built whole before they are written (a
    /// line-buffered stdout would otherwise search every small piece serde writes for a
    /// newline), and written in blocks unless streaming (one system call per session was a
    /// tenth of the run on an all-SMTP capture).
    pending: Vec<u8>,
}

/// How much JSON Lines or transcript text a file's reporter gathers before writing it.
const OUTPUT_BLOCK: usize = 64 << 10;

impl<W: Write> Reporter<W> {
    /// `color`: use colours in the table (a terminal, and NO_COLOR unset).
    pub fn new(format: Format, out: W, color: bool) -> Self {
        Reporter {
            format,
            out,
            view: View {
                color,
                ..View::default()
            },
            inputs: Vec::new(),
            pending: Vec::new(),
            collected: Vec::new(),
            streaming: false,
            header_written: false,
        }
    }

    /// Live capture: every session is written and flushed as it ends — the table row by row
    /// instead of sorted at the end, JSON Lines and transcripts session by session instead of
    /// in 64 KiB blocks. A JSON document is still one document, written at the end.
    pub fn streaming(mut self) -> Self {
        self.streaming = true;
        self
    }

    /// How sessions are shown and which (`--only`, `-q`, `-v`, `--wide`, `--utc`, width).
    /// The colour given to [`Reporter::new`] is kept.
    pub fn with_view(mut self, view: View) -> Self {
        let color = self.view.color;
        self.view = View { color, ..view };
        self
    }

    /// Writes what comes before the first session: the header of a streaming table.
    pub fn begin(&mut self) -> io::Result<()> {
        if self.streaming && self.format == Format::Table && !self.header_written {
            self.header_written = true;
            let header = table::stream_header(&self.view);
            if !self.view.quiet && !header.is_empty() {
                writeln!(self.out, "{header}")?;
            }
            self.out.flush()?;
        }
        Ok(())
    }

    /// Names the input the next sessions come from; returns its index.
    pub fn input(&mut self, name: &str) -> usize {
        self.inputs.push(name.to_string());
        self.collected.push(Vec::new());
        self.inputs.len() - 1
    }

    /// Takes one session of input `input` (an index from [`Reporter::input`]): written now
    /// (JSON Lines, transcripts, a streaming table) or kept for the sorted document.
    pub fn session(&mut self, input: usize, report: SessionReport) -> io::Result<()> {
        match self.format {
            // Collected sessions are filtered at the end, once `inconsistent-offer` is known.
            f if f.collects(self.streaming) => {
                if !self.view.quiet {
                    self.collected[input].push(report);
                }
                Ok(())
            }
            _ if !self.view.shows(&report) => Ok(()),
            Format::Table => {
                self.begin()?;
                write!(self.out, "{}", table::stream_row(&report, &self.view))?;
                self.out.flush()
            }
            Format::Jsonl => {
                json_line(&mut self.pending, &self.inputs[input], &report)?;
                self.write_pending(false)
            }
            // A transcript (a JSON document is always collected).
            _ => {
                transcript::write(&mut self.pending, &self.inputs[input], &report, &self.view)?;
                self.write_pending(false)
            }
        }
    }

    /// What renders this reporter's output of one session on another thread, for sessions
    /// of the input named `capture`: JSON Lines of a file (`None` for the other formats,
    /// which are not written session by session, or written as sessions end on a terminal).
    pub fn renderer(&self, capture: &str) -> Option<JsonLines> {
        (self.lines_in_blocks() && !self.view.quiet).then(|| JsonLines {
            capture: capture.to_string(),
        })
    }

    /// JSON Lines of a file: the one output written as it is rendered elsewhere.
    fn lines_in_blocks(&self) -> bool {
        self.format == Format::Jsonl && !self.streaming
    }

    /// Takes one session with the output [`Reporter::renderer`] rendered for it.
    pub fn rendered(&mut self, report: &SessionReport, text: &[u8]) -> io::Result<()> {
        debug_assert!(
            self.lines_in_blocks(),
            "only JSON Lines of a file is rendered"
        );
        if self.view.shows(report) {
            self.pending.extend_from_slice(text);
            self.write_pending(false)?;
        }
        Ok(())
    }

    /// Writes the pending text when streaming, when a block is full, or when `all`.
    fn write_pending(&mut self, all: bool) -> io::Result<()> {
        if all || self.streaming || self.pending.len() >= OUTPUT_BLOCK {
            self.out.write_all(&self.pending)?;
            self.pending.clear();
            self.out.flush()?;
        }
        Ok(())
    }

    /// Writes what was collected and the summary.
    pub fn finish(self, summary: &Summary, errors: &[String]) -> io::Result<()> {
        self.finish_with(summary, errors, None)
    }

    /// Writes what was collected and the summary, with the packet counts of a live capture.
    pub fn finish_with(
        mut self,
        summary: &Summary,
        errors: &[String],
        capture: Option<&CaptureStats>,
    ) -> io::Result<()> {
        self.write_pending(true)?;
        for reports in &mut self.collected {
            reports.sort_by_key(|r| r.record.first_frame);
            // Within one input, a server that answered differently marks all its sessions.
            OfferHistory::mark_all(reports);
            let view = &self.view;
            reports.retain(|r| view.shows(r));
        }
        match self.format {
            Format::Json if self.view.quiet => {}
            Format::Json => {
                let document = json::Document {
                    schema: json::SCHEMA,
                    sessions: (self.inputs.iter().zip(&self.collected))
                        .flat_map(|(name, reports)| {
                            reports.iter().map(move |r| json::SessionJson::new(name, r))
                        })
                        .collect(),
                    summary: json::SummaryJson {
                        summary,
                        errors,
                        capture,
                    },
                };
                serde_json::to_writer_pretty(&mut self.out, &document)?;
                self.out.write_all(b"\n")?;
            }
            Format::Table => {
                if !self.streaming && !self.view.quiet {
                    table::write(&mut self.out, &self.inputs, &self.collected, &self.view)?;
                }
            }
            Format::Csv => {
                if !self.view.quiet {
                    csv::write(&mut self.out, &self.inputs, &self.collected)?;
                }
            }
            Format::Jsonl | Format::Transcript => {}
        }
        self.out.flush()
    }
}

/// One line: sessions by verdict, attempts without data, frames read.
pub(crate) fn summary_line(summary: &Summary) -> String {
    let mut parts = vec![format!(
        "{} SMTP session{}",
        summary.sessions,
        if summary.sessions == 1 { "" } else { "s" }
    )];
    if !summary.verdicts.is_empty() {
        let verdicts: Vec<String> = summary
            .verdicts
            .iter()
            .map(|(v, n)| format!("{n} {v}"))
            .collect();
        parts[0].push_str(&format!(" ({})", verdicts.join(", ")));
    }
    let a = &summary.connections;
    if a.attempted > 0 {
        parts.push(format!(
            "{} without data ({} refused, {} unanswered)",
            plural(a.attempted, "connection attempt"),
            a.refused,
            a.unanswered
        ));
    }
    if summary.not_smtp > 0 {
        parts.push(format!(
            "{} on SMTP ports that {} not SMTP",
            plural(summary.not_smtp, "connection"),
            if summary.not_smtp == 1 { "was" } else { "were" }
        ));
    }
    parts.push(plural(summary.frames, "frame"));
    let s = &summary.skipped;
    if s.truncated + s.ip_fragments + s.unsupported_link > 0 {
        parts.push(format!(
            "skipped {} truncated, {} IP fragments, {} of unsupported link types",
            s.truncated, s.ip_fragments, s.unsupported_link
        ));
    }
    if summary.evicted_flows > 0 {
        parts.push(format!(
            "{} ended early to bound memory",
            plural(summary.evicted_flows, "flow")
        ));
    }
    parts.join("; ")
}

/// `1 frame`, `2 frames`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The summary (and a live capture's packet counts) on standard error, in every format: data
/// goes to standard output, the summary beside it. `width`: standard error is a terminal this
/// wide, and long lines are wrapped between words.
// The mailtap binary's (src/main.rs); a library user reads the `Summary` itself.
#[doc(hidden)]
pub fn summary_to_stderr(summary: &Summary, capture: Option<&CaptureStats>, width: Option<usize>) {
    let mut text = wrap(&format!("mailtap: {}", summary_line(summary)), width);
    if let Some(stats) = capture {
        text.push_str(&wrap(&format!("mailtap: {}", capture_line(stats)), width));
    }
    eprint!("{text}");
}

/// A message on standard error, wrapped between words as the summary is (`width`: standard
/// error is a terminal this wide).
// The mailtap binary's (src/main.rs): its warnings about damaged inputs.
#[doc(hidden)]
pub fn line_to_stderr(line: &str, width: Option<usize>) {
    eprint!("{}", wrap(line, width));
}

/// `line` with a newline; wrapped between words to `width`, continuation lines indented.
fn wrap(line: &str, width: Option<usize>) -> String {
    const INDENT: &str = "         ";
    let Some(width) = width.filter(|&w| line.chars().count() > w && w > 2 * INDENT.len()) else {
        return format!("{line}\n");
    };
    let mut out = String::new();
    let mut used = 0;
    for word in line.split(' ') {
        let w = word.chars().count();
        if used > INDENT.len() && used + 1 + w > width {
            out.push('\n');
            out.push_str(INDENT);
            used = INDENT.len();
        } else if used > 0 && used != INDENT.len() {
            out.push(' ');
            used += 1;
        }
        out.push_str(word);
        used += w;
    }
    out.push('\n');
    out
}

/// The packet counts of a live capture, in tcpdump's words.
pub(crate) fn capture_line(stats: &CaptureStats) -> String {
    format!(
        "{} packets received by filter, {} dropped by kernel, {} dropped by interface",
        stats.received, stats.dropped, stats.if_dropped
    )
}

/// JSON Lines of one input, rendered on the threads that analyse it (see
/// [`crate::parallel::Options::render`]).
#[derive(Debug)]
pub struct JsonLines {
    capture: String,
}

impl Render for JsonLines {
    fn render(&self, report: &SessionReport, out: &mut Vec<u8>) {
        if json_line(out, &self.capture, report).is_err() {
            // Rendered again by `Reporter::session`, which reports the error.
            out.clear();
        }
    }

    fn add_last_finding(&self, report: &SessionReport, out: &mut Vec<u8>) {
        // In a rendered line the bytes `],"reason":{` can only be where the `findings` array
        // ends and `reason` begins: inside JSON strings every `"` is escaped.
        let end = memchr::memmem::find(out, b"],\"reason\":{");
        let (Some(end), Some(finding)) = (end, report.findings.last()) else {
            out.clear();
            return;
        };
        let mut element = Vec::with_capacity(256);
        if out[end - 1] != b'[' {
            element.push(b',');
        }
        match compact::write(&mut element, &json::FindingJson::new(finding)) {
            Ok(()) => drop(out.splice(end..end, element)),
            Err(_) => out.clear(),
        }
    }
}

/// One JSON Lines line: the session object and a newline.
fn json_line(out: &mut Vec<u8>, capture: &str, report: &SessionReport) -> io::Result<()> {
    compact::write(out, &json::SessionJson::new(capture, report))?;
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Finding, FindingKind, Severity};

    #[test]
    fn a_finding_added_after_rendering_is_spliced_in_where_a_fresh_render_has_it() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let sessions = [
            "postfix-swaks-upgraded.pcap",
            "aiosmtpd-smtplib-auth-login-cleartext.pcap",
        ]
        .into_iter()
        .flat_map(|name| {
            let file = std::fs::File::open(fixtures.join(name)).unwrap();
            crate::analyze(file, &Default::default()).unwrap().sessions
        });
        let lines = JsonLines {
            capture: "a \"capture\"],\"reason\":{".into(),
        };
        let (mut spliced, mut after_others) = (0, 0);
        for report in sessions {
            // With findings rendered before, and with none (an empty array).
            for findings in [report.findings.clone(), Vec::new()] {
                let mut report = SessionReport {
                    findings,
                    ..report.clone()
                };
                let mut text = Vec::new();
                lines.render(&report, &mut text);
                after_others += usize::from(!report.findings.is_empty());
                report.findings.push(Finding {
                    kind: FindingKind::InconsistentOffer,
                    severity: Severity::Warning,
                    frame: 7,
                    evidence: String::from("a trap: ],\"reason\":{ \\ \"").into(),
                });
                lines.add_last_finding(&report, &mut text);
                let mut fresh = Vec::new();
                lines.render(&report, &mut fresh);
                assert_eq!(
                    String::from_utf8(text).unwrap(),
                    String::from_utf8(fresh).unwrap()
                );
                spliced += 1;
            }
        }
        assert!(
            spliced >= 4 && after_others >= 1,
            "{spliced} {after_others}"
        );
    }

    #[test]
    fn summary_wraps_between_words() {
        let line =
            "mailtap: 6 SMTP sessions (2 handshake-failed, 1 not-used, 1 rejected); 133 frames";
        assert_eq!(super::wrap(line, None), format!("{line}\n"));
        let wrapped = super::wrap(line, Some(40));
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 40),
            "{wrapped}"
        );
        assert_eq!(
            wrapped.split_whitespace().collect::<Vec<_>>(),
            line.split_whitespace().collect::<Vec<_>>()
        );
    }
}

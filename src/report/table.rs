//! The human table: one session per line, aligned columns, the reason last.
//!
//! - In a pipe (no terminal): plain columns separated by two spaces, no box drawing, nothing
//!   shortened, `-` for an empty cell, so that `column -t`, `awk` and `grep` take it line by
//!   line.
//! - On a terminal: the same columns fitted to its width — addresses, verdicts and frame
//!   ranges are never cut, the reason is shortened with `…` (`--wide`: never). Below the
//!   width where a row fits, each session takes two or three lines: the verdict, addresses
//!   and frames first, then the time, name, TLS version and findings, then the reason on a
//!   line of its own when it does not fit whole beside them. Several inputs get a heading
//!   line each (`== FILE`) instead of a `capture` column.
//!
//! Columns: [`capture`] `time` `frames` `client` `server` `name` `verdict` `tls` `findings`
//! `reason`. Findings carry their severity as a mark: `!!` high, `!` warning, none for info
//! (info findings only with `-v`).

use std::io::{self, Write};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::view::{self, View};
use crate::classify::{SessionReport, Severity, Verdict};

/// The narrowest the reason gets before a row goes to two lines.
const MIN_REASON: usize = 24;
/// Longest server name on a terminal (unless `--wide`).
const MAX_NAME: usize = 28;

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const GREY: &str = "90";

fn verdict_color(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Upgraded | Verdict::ImplicitTls => GREEN,
        Verdict::Stripped | Verdict::HandshakeFailed | Verdict::Rejected => RED,
        Verdict::NotUsed | Verdict::NotOffered | Verdict::NoEhlo | Verdict::Refused => YELLOW,
        Verdict::Incomplete => GREY,
    }
}

fn severity_color(severity: Severity) -> &'static str {
    match severity {
        Severity::High => RED,
        Severity::Warning => YELLOW,
        Severity::Info => GREY,
    }
}

fn width(s: &str) -> usize {
    s.width()
}

/// `s` cut to `max` columns, ending in `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` cut to `max` columns from the start, beginning with `…` when cut (a file name's end
/// says more than its folders).
fn shorten_start(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut kept = Vec::new();
    let mut used = 1;
    for c in s.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > max {
            break;
        }
        kept.push(c);
        used += w;
    }
    std::iter::once('…').chain(kept.into_iter().rev()).collect()
}

/// `TLS 1.3` → `1.3` (one word, for the narrow `tls` column).
fn short_tls(name: &str) -> String {
    name.strip_prefix("TLS ").unwrap_or(name).replace(' ', "-")
}

/// One cell: its text, and the colour it is shown in on a terminal.
#[derive(Clone)]
struct Cell {
    text: String,
    color: Option<&'static str>,
}

impl Cell {
    fn plain(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            color: None,
        }
    }
}

/// The findings cell: `!!masked-keyword,!cleartext-mail`.
struct Findings(Vec<(Severity, String)>);

impl Findings {
    fn text(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(s, k)| format!("{}{k}", view::mark(*s)))
            .collect();
        parts.join(",")
    }

    fn colored(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(s, k)| paint(&format!("{}{k}", view::mark(*s)), severity_color(*s)))
            .collect();
        parts.join(",")
    }
}

fn paint(text: &str, code: &str) -> String {
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A session's cells, before layout.
struct Row {
    capture: Option<String>,
    time: String,
    frames: String,
    client: String,
    server: String,
    name: String,
    verdict: Verdict,
    tls: String,
    findings: Findings,
    reason: String,
}

const HEADER: [&str; 10] = [
    "capture", "time", "frames", "client", "server", "name", "verdict", "tls", "findings", "reason",
];

impl Row {
    fn new(capture: Option<&str>, report: &SessionReport, view: &View) -> Row {
        let r = &report.record;
        let mut name = view::server_name(report);
        if view.width.is_some() && !view.wide {
            name = shorten(&name, MAX_NAME);
        }
        Row {
            capture: capture.map(crate::text::escape_str),
            time: view.time(r.first_time),
            frames: format!("{}-{}", r.first_frame, r.last_frame),
            client: r.client.to_string(),
            server: r.server.to_string(),
            name,
            verdict: report.verdict,
            tls: short_tls(&view::tls_version(report)),
            findings: Findings(
                view.findings(report)
                    .into_iter()
                    .map(|(s, k)| (s, k.to_string()))
                    .collect(),
            ),
            reason: view::reason_line(report),
        }
    }

    /// Every column but the reason, as cells (empty cells as `-` when `dash`).
    fn cells(&self, color: bool, dash: bool) -> Vec<Cell> {
        let fill = |s: &str| {
            if s.is_empty() && dash {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        let mut cells = Vec::with_capacity(9);
        if let Some(capture) = &self.capture {
            cells.push(Cell::plain(fill(capture)));
        }
        let findings = self.findings.text();
        cells.extend([
            Cell::plain(fill(&self.time)),
            Cell::plain(fill(&self.frames)),
            Cell::plain(fill(&self.client)),
            Cell::plain(fill(&self.server)),
            Cell::plain(fill(&self.name)),
            Cell {
                text: self.verdict.name().to_string(),
                color: color.then(|| verdict_color(self.verdict)),
            },
            Cell::plain(fill(&self.tls)),
            Cell {
                text: fill(&findings),
                // Marked per finding below.
                color: (color && !findings.is_empty()).then_some(""),
            },
        ]);
        cells
    }
}

/// Writes one line of aligned cells, then the reason (already fitted).
fn write_line(
    out: &mut impl Write,
    cells: &[Cell],
    widths: &[usize],
    findings: &Findings,
    reason: &str,
) -> io::Result<()> {
    let mut line = String::new();
    for (cell, &w) in cells.iter().zip(widths) {
        let pad = w.saturating_sub(width(&cell.text));
        match cell.color {
            Some("") => line.push_str(&findings.colored()),
            Some(code) => line.push_str(&paint(&cell.text, code)),
            None => line.push_str(&cell.text),
        }
        line.push_str(&" ".repeat(pad + 2));
    }
    line.push_str(reason);
    writeln!(out, "{}", line.trim_end())
}

pub fn write(
    out: &mut impl Write,
    inputs: &[String],
    collected: &[Vec<SessionReport>],
    view: &View,
) -> io::Result<()> {
    let many = inputs.len() > 1;
    let terminal = view.width.is_some();
    // In a pipe, several inputs get a `capture` column; on a terminal, a heading line each.
    let column = many && !terminal;
    let groups: Vec<(&String, Vec<Row>)> = inputs
        .iter()
        .zip(collected)
        .filter(|(_, reports)| !reports.is_empty())
        .map(|(name, reports)| {
            let rows = reports
                .iter()
                .map(|r| Row::new(column.then_some(name.as_str()), r, view))
                .collect();
            (name, rows)
        })
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    let color = view.color && terminal;
    let heading = |out: &mut dyn Write, name: &str| -> io::Result<()> {
        if let (true, Some(columns)) = (many, view.width) {
            let name = crate::text::escape_str(name);
            let name = if view.wide {
                name
            } else {
                shorten_start(&name, columns.saturating_sub(3))
            };
            writeln!(out, "== {name}")?;
        }
        Ok(())
    };
    let header: Vec<Cell> = HEADER[usize::from(!column)..HEADER.len() - 1]
        .iter()
        .map(|h| Cell::plain(*h))
        .collect();
    let tables: Vec<Vec<Vec<Cell>>> = groups
        .iter()
        .map(|(_, rows)| rows.iter().map(|r| r.cells(color, !terminal)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|c| width(&c.text)).collect();
    for cells in tables.iter().flatten() {
        for (w, cell) in widths.iter_mut().zip(cells) {
            *w = (*w).max(width(&cell.text));
        }
    }
    let fixed: usize = widths.iter().map(|w| w + 2).sum();
    let reason_room = match view.width {
        // A pipe, or --wide: nothing shortened.
        None => None,
        Some(_) if view.wide => None,
        Some(columns) if columns >= fixed + MIN_REASON => Some(columns - fixed),
        Some(columns) => {
            let verdict_width = groups
                .iter()
                .flat_map(|(_, rows)| rows)
                .map(|r| r.verdict.name().len())
                .max()
                .unwrap_or(0);
            for (name, rows) in &groups {
                heading(out, name)?;
                for row in rows {
                    for line in compact_lines(row, columns, verdict_width, color) {
                        writeln!(out, "{}", line.trim_end())?;
                    }
                }
            }
            return Ok(());
        }
    };
    let no_findings = Findings(Vec::new());
    write_line(out, &header, &widths, &no_findings, "reason")?;
    for ((name, rows), table) in groups.iter().zip(&tables) {
        heading(out, name)?;
        for (row, cells) in rows.iter().zip(table) {
            let reason = match reason_room {
                Some(room) => shorten(&row.reason, room),
                None => row.reason.clone(),
            };
            write_line(out, cells, &widths, &row.findings, &reason)?;
        }
    }
    Ok(())
}

/// Pieces laid one after the other, a piece never cut; a piece that does not fit starts a new
/// line, indented.
struct Flow {
    columns: usize,
    lines: Vec<String>,
    line: String,
    used: usize,
}

const INDENT: &str = "  ";

impl Flow {
    fn new(columns: usize) -> Flow {
        Flow {
            columns,
            lines: Vec::new(),
            line: String::new(),
            used: 0,
        }
    }

    fn break_line(&mut self) {
        self.lines.push(std::mem::take(&mut self.line));
        self.line.push_str(INDENT);
        self.used = INDENT.len();
    }

    /// Adds a piece (`shown` may carry colour codes; `w` is its width on screen).
    fn put(&mut self, shown: &str, w: usize, sep: &str) {
        if w == 0 {
            return;
        }
        let at_start = self.used == 0 || self.used == INDENT.len() && !self.lines.is_empty();
        if !at_start && self.used + sep.len() + w > self.columns {
            self.break_line();
        }
        let at_start = self.used == 0 || self.used == INDENT.len() && !self.lines.is_empty();
        if !at_start {
            self.line.push_str(sep);
            self.used += sep.len();
        }
        self.line.push_str(shown);
        self.used += w;
    }

    /// The last piece, shortened to what is left of the line (or of a new line if too little
    /// is left).
    fn put_last(&mut self, text: &str) {
        let left = self.columns.saturating_sub(self.used + 2);
        if width(text) > left && self.used > INDENT.len() {
            // Whole on a line of its own rather than cut short.
            self.break_line();
        }
        let left = self.columns.saturating_sub(self.used + 2);
        let shown = shorten(text, left.max(8));
        let w = width(&shown);
        self.put(&shown, w, "  ");
    }

    fn finish(mut self) -> Vec<String> {
        if !self.line.trim().is_empty() {
            self.lines.push(self.line);
        }
        self.lines
    }
}

/// The narrow layout: `verdict  client → server  frames  time`, then `name tls findings
/// reason`, flowing onto the next line when a piece does not fit.
fn compact_lines(row: &Row, columns: usize, verdict_width: usize, color: bool) -> Vec<String> {
    let mut flow = Flow::new(columns);
    let verdict = row.verdict.name();
    let padded = format!("{verdict:<verdict_width$}");
    let shown = if color {
        format!(
            "{}{}",
            paint(verdict, verdict_color(row.verdict)),
            &padded[verdict.len()..]
        )
    } else {
        padded.clone()
    };
    flow.put(&shown, width(&padded), "  ");
    flow.put(&row.client, width(&row.client), "  ");
    let to = format!("→ {}", row.server);
    flow.put(&to, width(&to), " ");
    let frames = format!("#{}", row.frames);
    flow.put(&frames, width(&frames), "  ");
    flow.put(&row.time, width(&row.time), "  ");
    flow.put(&row.name, width(&row.name), "  ");
    flow.put(&row.tls, width(&row.tls), "  ");
    let findings = row.findings.text();
    if color {
        flow.put(&row.findings.colored(), width(&findings), "  ");
    } else {
        flow.put(&findings, width(&findings), "  ");
    }
    flow.put_last(&row.reason);
    flow.finish()
}

/// Column widths of the streaming table (live capture), every column but the reason; a
/// longer value pushes the rest of its line right.
const STREAM_WIDTHS: [usize; 8] = [25, 9, 21, 21, 18, 16, 3, 16];

fn stream_fixed() -> usize {
    STREAM_WIDTHS.iter().map(|w| w + 2).sum()
}

/// Whether the streaming table goes two lines per session.
fn stream_compact(view: &View) -> bool {
    !view.wide && view.width.is_some_and(|c| c < stream_fixed() + MIN_REASON)
}

/// The header line of the streaming table (live capture), or nothing in the compact layout.
pub fn stream_header(view: &View) -> String {
    if stream_compact(view) {
        return String::new();
    }
    let mut line = String::new();
    for (name, w) in HEADER[1..HEADER.len() - 1].iter().zip(STREAM_WIDTHS) {
        line.push_str(&format!("{name:<w$}  "));
    }
    line.push_str("reason");
    line
}

/// One session of the streaming table, written as soon as the session ends (with its final
/// newline).
pub fn stream_row(report: &SessionReport, view: &View) -> String {
    let row = Row::new(None, report, view);
    let color = view.color && view.width.is_some();
    let mut out = Vec::new();
    if stream_compact(view) {
        let columns = view.width.unwrap_or(80);
        for line in compact_lines(&row, columns, "handshake-failed".len(), color) {
            out.extend_from_slice(line.trim_end().as_bytes());
            out.push(b'\n');
        }
    } else {
        let cells = row.cells(color, view.width.is_none());
        let widths: Vec<usize> = cells
            .iter()
            .zip(STREAM_WIDTHS)
            .map(|(c, w)| w.max(width(&c.text)))
            .collect();
        let used: usize = widths.iter().map(|w| w + 2).sum();
        let reason = match view.width {
            Some(columns) if !view.wide => shorten(&row.reason, columns.saturating_sub(used)),
            _ => row.reason.clone(),
        };
        let _ = write_line(&mut out, &cells, &widths, &row.findings, &reason);
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_marks_the_cut() {
        assert_eq!(shorten("abcdef", 6), "abcdef");
        assert_eq!(shorten("abcdefg", 6), "abcde…");
        assert_eq!(width(&shorten("日本語のテキスト", 7)), 7);
    }

    #[test]
    fn flow_never_cuts_a_piece_and_stays_in_width() {
        let mut flow = Flow::new(30);
        flow.put("handshake-failed", 16, "  ");
        flow.put("192.0.2.10:40000", 16, "  ");
        flow.put("→ 198.51.100.25:25", 18, " ");
        flow.put_last("#12 protocol_version (70) alert from the server");
        let lines = flow.finish();
        assert!(lines.iter().all(|l| width(l) <= 30), "{lines:?}");
        let all = lines.join("\n");
        assert!(all.contains("192.0.2.10:40000"));
        assert!(all.contains("198.51.100.25:25"));
    }
}

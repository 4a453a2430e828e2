//! Report layer: sessions and the summary, as a table, JSON, JSON Lines or a transcript.
//!
//! Table and JSON documents are written when the input ends, sorted by input and first frame
//! (deterministic whatever order sessions ended in); JSON Lines and transcripts are written as
//! each session ends, and flushed, so that `mailtap ... --format jsonl | jq` follows a live
//! capture. Every piece of wire text goes through [`crate::text`] escaping.

pub mod json;
mod table;
mod transcript;

use std::io::{self, Write};

use crate::analyzer::{OfferHistory, Summary};
use crate::classify::SessionReport;

/// Output formats (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Transcript,
}

impl Format {
    /// Whether sessions need to be kept until the end (sorted documents).
    fn collects(self) -> bool {
        matches!(self, Format::Table | Format::Json)
    }

    /// Whether the session records must keep the plaintext dialogue.
    pub fn needs_transcript(self) -> bool {
        self == Format::Transcript
    }
}

/// Writes sessions as they come and the summary at the end.
pub struct Reporter<W: Write> {
    format: Format,
    out: W,
    color: bool,
    inputs: Vec<String>,
    /// Sessions kept for the end, per input.
    collected: Vec<Vec<SessionReport>>,
}

impl<W: Write> Reporter<W> {
    /// `color`: use colours in the table (a terminal, and NO_COLOR unset).
    pub fn new(format: Format, out: W, color: bool) -> Self {
        Reporter {
            format,
            out,
            color,
            inputs: Vec::new(),
            collected: Vec::new(),
        }
    }

    /// Names the input the next sessions come from; returns its index.
    pub fn input(&mut self, name: &str) -> usize {
        self.inputs.push(name.to_string());
        self.collected.push(Vec::new());
        self.inputs.len() - 1
    }

    pub fn session(&mut self, input: usize, report: SessionReport) -> io::Result<()> {
        match self.format {
            f if f.collects() => {
                self.collected[input].push(report);
                Ok(())
            }
            Format::Jsonl => {
                serde_json::to_writer(
                    &mut self.out,
                    &json::SessionJson::new(&self.inputs[input], &report),
                )?;
                self.out.write_all(b"\n")?;
                self.out.flush()
            }
            _ => {
                transcript::write(&mut self.out, &self.inputs[input], &report)?;
                self.out.flush()
            }
        }
    }

    /// Writes what was collected and the summary.
    pub fn finish(mut self, summary: &Summary, errors: &[String]) -> io::Result<()> {
        for reports in &mut self.collected {
            reports.sort_by_key(|r| r.record.first_frame);
            // Within one input, a server that answered differently marks all its sessions.
            OfferHistory::mark_all(reports);
        }
        match self.format {
            Format::Json => {
                let document = json::Document {
                    schema: json::SCHEMA,
                    sessions: (self.inputs.iter().zip(&self.collected))
                        .flat_map(|(name, reports)| {
                            reports.iter().map(move |r| json::SessionJson::new(name, r))
                        })
                        .collect(),
                    summary: json::SummaryJson { summary, errors },
                };
                serde_json::to_writer_pretty(&mut self.out, &document)?;
                self.out.write_all(b"\n")?;
            }
            Format::Table => {
                table::write(&mut self.out, &self.inputs, &self.collected, self.color)?;
                writeln!(self.out, "{}", summary_line(summary))?;
            }
            Format::Jsonl | Format::Transcript => {}
        }
        self.out.flush()
    }
}

/// One line: sessions by verdict, attempts without data, frames read.
pub fn summary_line(summary: &Summary) -> String {
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
            "{} connection attempt(s) without data ({} refused, {} unanswered)",
            a.attempted, a.refused, a.unanswered
        ));
    }
    parts.push(format!("{} frames", summary.frames));
    let s = &summary.skipped;
    if s.truncated + s.ip_fragments + s.unsupported_link > 0 {
        parts.push(format!(
            "skipped {} truncated, {} IP fragments, {} of unsupported link types",
            s.truncated, s.ip_fragments, s.unsupported_link
        ));
    }
    if summary.evicted_flows > 0 {
        parts.push(format!(
            "{} flows ended early to bound memory",
            summary.evicted_flows
        ));
    }
    parts.join("; ")
}

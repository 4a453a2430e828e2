//! mailtap: for every SMTP connection in a capture, how the STARTTLS negotiation went.
//!
//! The data flows one way, one module per step:
//!
//! ```text
//! capture ──frames──▶ decode ──TCP segments──▶ reassembly ──ordered bytes per direction──▶
//!   smtp (parsers, state machine, TLS sniffing) ──session record──▶ classify ──▶ report
//! ```
//!
//! [`analyzer::Analyzer`] ties the steps together and is the library entry point: feed it
//! [`capture::Frame`]s (from [`capture::file::FileReader`] or a live capture) and it hands back
//! a [`classify::SessionReport`] for every SMTP session as the session ends. Nothing below the
//! capture layer reads a clock or does I/O: time is the capture's.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod analyzer;
pub mod capture;
pub mod classify;
pub mod diff;
pub mod report;
pub mod servers;
pub mod smtp;
pub mod text;
pub mod tls;

// Steps of the pipeline that the library's users meet only through `analyzer`: public so
// that the benches, the fuzz targets and the property tests can drive them one by one.
#[doc(hidden)]
pub mod decode;
#[doc(hidden)]
pub mod reassembly;
// The binary's driver for several inputs and threads; a library user calls `analyze_with`.
#[doc(hidden)]
pub mod parallel;
mod shard;

/// Deterministic pseudo-random numbers for the unit tests (shared with the integration tests).
#[cfg(test)]
#[path = "../tests/common/rng.rs"]
mod test_rng;

/// The reader of the recorded TLS conversations, for the unit tests (shared likewise).
#[cfg(test)]
#[path = "../tests/common/tls_vectors.rs"]
mod test_tls_vectors;

use serde::Serialize;

/// Which way bytes travel on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From the client to the server.
    ToServer,
    /// From the server to the client.
    ToClient,
}

/// As in the JSON: `to-server`, `to-client`.
impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::ToServer => "to-server",
            Direction::ToClient => "to-client",
        })
    }
}

impl Direction {
    /// The other way.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

use std::io::Read;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use analyzer::{Analyzer, OfferHistory, Summary};
use capture::file::{CaptureError, FileReader, Progress};
use classify::SessionReport;

/// How reading one capture ended.
#[derive(Debug)]
pub struct Outcome {
    /// The counts of the whole input.
    pub summary: Summary,
    /// Damage met after the start of the file: everything before it was analysed.
    pub damage: Option<CaptureError>,
}

/// Analyses one capture (pcap or pcapng, from a file or a pipe; gzip-, zstd- or
/// xz-compressed ones are recognised by their first bytes and decompressed on a thread of their
/// own), streaming: `on_session` receives each session as it ends. Fails only when the input is
/// not a capture at all.
pub fn analyze_with(
    input: impl Read + Send,
    config: &analyzer::Config,
    on_session: impl FnMut(SessionReport),
) -> Result<Outcome, CaptureError> {
    analyze_until(input, config, None, || false, on_session)
}

/// [`analyze_with`], counting the bytes read into `progress` as it goes (for a progress bar
/// on another thread: [`Progress::bytes`] against the file's size).
pub fn analyze_with_progress(
    input: impl Read + Send,
    config: &analyzer::Config,
    progress: &Progress,
    on_session: impl FnMut(SessionReport),
) -> Result<Outcome, CaptureError> {
    analyze_until(input, config, Some(progress), || false, on_session)
}

/// The one loop behind the entry points; `stop` is asked after every frame. When it says yes
/// the caller wants nothing more: reading ends, and the sessions still open are not reported.
pub(crate) fn analyze_until(
    input: impl Read + Send,
    config: &analyzer::Config,
    progress: Option<&Progress>,
    stop: impl Fn() -> bool,
    on_session: impl FnMut(SessionReport),
) -> Result<Outcome, CaptureError> {
    analyze_selected(input, config, progress, |_| true, stop, on_session)
}

/// [`analyze_until`] on the frames `keep` says yes to (a capture filter); the others are
/// skipped as if not in the capture (frame numbers stay the file's).
pub(crate) fn analyze_selected(
    input: impl Read + Send,
    config: &analyzer::Config,
    progress: Option<&Progress>,
    mut keep: impl FnMut(&capture::Frame<'_>) -> bool,
    stop: impl Fn() -> bool,
    mut on_session: impl FnMut(SessionReport),
) -> Result<Outcome, CaptureError> {
    let mut analyzer = Analyzer::new(config.clone());
    let read = read_frames(input, progress, |frame| {
        if keep(frame) {
            analyzer.take(frame, &mut on_session);
        }
        analyzer.sweep_if_due(&mut on_session);
        !stop()
    })?;
    if !read.stopped {
        analyzer.finish(&mut on_session);
    }
    Ok(Outcome {
        summary: analyzer.summary().clone(),
        damage: read.damage,
    })
}

/// How reading an input ended.
pub(crate) struct Reading {
    /// Damage met after the start of the file.
    pub damage: Option<CaptureError>,
    /// The caller said stop before the end.
    pub stopped: bool,
}

/// Hands every frame of the input to `on_frame`, as long as it says to go on. A compressed
/// input (gzip, zstd, xz: [`capture::compressed`]) is decompressed on a thread of its own;
/// then `progress` counts the compressed bytes, and damage offsets count decompressed bytes.
pub(crate) fn read_frames(
    input: impl Read + Send,
    progress: Option<&Progress>,
    mut on_frame: impl FnMut(&capture::Frame<'_>) -> bool,
) -> Result<Reading, CaptureError> {
    let mut stopped = false;
    let mut on_frame = |frame: &capture::Frame<'_>| {
        stopped = !on_frame(frame);
        if stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let compressed = Arc::new(AtomicBool::new(false));
    let input = capture::file::Counting::new(input, progress.cloned(), Arc::clone(&compressed));
    capture::compressed::decompressed(input, |compression, input| {
        compressed.store(compression.is_some(), Ordering::Relaxed);
        let mut reader = FileReader::new(input)?;
        if let (Some(progress), None) = (progress, compression) {
            reader = reader.with_progress(progress.clone());
        }
        let mut damage = reader.for_each_frame(&mut on_frame).err();
        if let (Some(e), Some(c)) = (&mut damage, compression) {
            e.what = format!("{} (offset in the {}-decompressed data)", e.what, c.name());
        }
        Ok(damage)
    })?
    .map(|damage| Reading { damage, stopped })
}

/// Everything found in one capture, sessions in order of their first frame.
#[derive(Debug)]
pub struct Analysis {
    /// Every SMTP session, in order of its first frame.
    pub sessions: Vec<SessionReport>,
    /// The counts of the whole input.
    pub summary: Summary,
    /// Damage met after the start of the file: everything before it was analysed.
    pub damage: Option<CaptureError>,
}

/// Analyses one whole capture and returns its sessions sorted by first frame — the library
/// entry point for tests of a mail setup:
///
/// ```no_run
/// let file = std::fs::File::open("capture.pcapng")?;
/// let analysis = mailtap::analyze(file, &mailtap::analyzer::Config::default())?;
/// for s in &analysis.sessions {
///     assert_eq!(s.verdict, mailtap::classify::Verdict::Upgraded, "{} -> {}", s.record.client, s.record.server);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn analyze(
    input: impl Read + Send,
    config: &analyzer::Config,
) -> Result<Analysis, CaptureError> {
    let mut sessions = Vec::new();
    let outcome = analyze_with(input, config, |s| sessions.push(s))?;
    sessions.sort_by_key(|s| s.record.first_frame);
    OfferHistory::mark_all(&mut sessions);
    Ok(Analysis {
        sessions,
        summary: outcome.summary,
        damage: outcome.damage,
    })
}

#[cfg(test)]
mod tests {
    use super::Direction;

    #[test]
    fn direction_displays_as_in_json() {
        for dir in [Direction::ToServer, Direction::ToClient] {
            assert_eq!(serde_json::to_value(dir).unwrap(), dir.to_string());
            assert_eq!(dir.reverse().reverse(), dir);
        }
    }
}

//! Watching a live source — an interface (cargo feature `live`) or a capture streamed on
//! standard input (`tcpdump -U -w - | mailtap -`) — and reporting each session as it ends.
//!
//! One loop serves both: wait at most [`TICK`] for packets, feed them to the analyzer, end the
//! sessions idle for longer than `--idle-timeout` even while no packet arrives, and stop on
//! Ctrl-C / SIGTERM, `-c`, `--duration`, or the end of the input. On stopping, the packets
//! already captured are analysed, every session still open is reported (decided or
//! `incomplete`), then the summary. A second Ctrl-C exits at once.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailtap::analyzer::Analyzer;
use mailtap::capture::file::FileReader;
use mailtap::capture::{CaptureStats, Frame, LinkType, Timestamp};
use mailtap::classify::SessionReport;
use mailtap::parallel::FrameFilter;
use mailtap::report::{self, Format, Reporter};

use crate::cli::{Config, FailOn};

/// The longest wait for packets before looking at the clock and the stop flag.
const TICK: Duration = Duration::from_millis(250);
/// How often idle sessions are looked for.
const SWEEP: Duration = Duration::from_secs(1);
/// The most packets taken in one go before looking at the clock again.
const BATCH: usize = 4096;

/// Whether the inputs are standard input alone, and it is not a regular file: a pipe (or
/// socket, or terminal) is watched like a live capture.
pub fn is_stream(inputs: &[PathBuf]) -> bool {
    if inputs.len() != 1 || inputs[0].as_os_str() != "-" {
        return false;
    }
    let Ok(fd) = io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    File::from(fd)
        .metadata()
        .is_ok_and(|m| !m.file_type().is_file())
}

/// Where packets come from.
trait Source {
    /// Hands over what has arrived; when nothing has, waits up to `wait`.
    fn next(
        &mut self,
        wait: Duration,
        on_frame: &mut dyn FnMut(&Frame<'_>),
    ) -> Result<Flow, SourceError>;

    /// After a stop: hands over what was captured but not yet analysed.
    fn drain(&mut self, on_frame: &mut dyn FnMut(&Frame<'_>)) -> Result<(), SourceError>;

    /// Packet counts so far, for a live capture.
    fn stats(&mut self) -> Option<CaptureStats> {
        None
    }

    /// The final packet counts, once watching has stopped.
    fn final_stats(&mut self) -> Option<CaptureStats> {
        self.stats()
    }
}

enum Flow {
    Open,
    /// The input ended (end of the stream).
    Ended,
}

struct SourceError {
    message: String,
    /// Frames were read before it: they are analysed and reported.
    after_frames: u64,
}

/// Receives each session as it ends.
struct Sink<'a, W: Write> {
    reporter: Reporter<W>,
    input: usize,
    fail_on: &'a [FailOn],
    matched: bool,
    ended: u64,
    error: Option<io::Error>,
}

impl<W: Write> Sink<'_, W> {
    fn session(&mut self, report: SessionReport) {
        self.ended += 1;
        self.matched |= crate::matches(self.fail_on, &report);
        if self.error.is_none() {
            if let Err(e) = self.reporter.session(self.input, report) {
                self.error = Some(e);
            }
        }
    }
}

/// Capture time now: the newest packet's timestamp plus the time since it arrived (a remote
/// tcpdump's clock may differ from ours; only elapsed time is taken from ours).
#[derive(Default)]
struct Clock {
    newest: Option<(Timestamp, Instant)>,
}

impl Clock {
    fn saw(&mut self, ts: Option<Timestamp>) {
        if let Some(ts) = ts {
            if self.newest.is_none_or(|(t, _)| ts >= t) {
                self.newest = Some((ts, Instant::now()));
            }
        }
    }

    fn now(&self) -> Option<Timestamp> {
        let (ts, at) = self.newest?;
        let elapsed = at.elapsed();
        let nanos = u64::from(ts.nanos) + u64::from(elapsed.subsec_nanos());
        Some(Timestamp::new(
            ts.secs
                .saturating_add(elapsed.as_secs() as i64)
                .saturating_add((nanos / 1_000_000_000) as i64),
            (nanos % 1_000_000_000) as u32,
        ))
    }
}

/// Ctrl-C and SIGTERM set the flag; a second one ends the process at once.
fn stop_on_signals() -> io::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    let stop = Arc::new(AtomicBool::new(false));
    for (signal, code) in [(SIGINT, 130), (SIGTERM, 143)] {
        flag::register_conditional_shutdown(signal, code, Arc::clone(&stop))?;
        flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// Why watching stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    Signal,
    Count,
    Duration,
    Ended,
    Failed,
    Output,
}

/// The loop: sessions reported as they end, then the summary.
fn watch(
    config: &Config,
    source: &mut dyn Source,
    name: &str,
    stop: &AtomicBool,
) -> io::Result<ExitCode> {
    let stdout = io::stdout();
    let format = config.format.unwrap_or(Format::Table);
    let mut reporter = Reporter::new(format, stdout.lock(), crate::color(&stdout))
        .with_view(crate::view(config, &stdout))
        .streaming();
    let input = reporter.input(name);
    reporter.begin()?;
    let mut sink = Sink {
        reporter,
        input,
        fail_on: &config.fail_on,
        matched: false,
        ended: 0,
        error: None,
    };
    let mut analyzer = Analyzer::new(config.analysis.clone());
    let mut clock = Clock::default();
    let started = Instant::now();
    let mut last_sweep = Instant::now();
    let mut last_stats = Instant::now();
    let mut errors = Vec::new();
    let mut failed = false;
    let mut on_error = |e: SourceError, errors: &mut Vec<String>| {
        if e.after_frames > 0 {
            // A damaged stream exits 2 after its sessions are reported, unless --allow-damage.
            let label = if config.allow_damage { "warning: " } else { "" };
            report::line_to_stderr(
                &format!(
                    "mailtap: {label}{name}: {} (after {} frames; the sessions before it are reported)",
                    e.message, e.after_frames
                ),
                crate::stderr_width(),
            );
            failed |= !config.allow_damage;
        } else {
            eprintln!("mailtap: {name}: {}", e.message);
            failed = true;
        }
        errors.push(format!("{name}: {}", e.message));
    };

    let why = loop {
        if stop.load(Ordering::Relaxed) {
            break Why::Signal;
        }
        if sink.error.is_some() {
            break Why::Output;
        }
        if config.stop.sessions.is_some_and(|n| sink.ended >= n) {
            break Why::Count;
        }
        let mut wait = TICK;
        if let Some(limit) = config.stop.after {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                break Why::Duration;
            }
            wait = wait.min(left);
        }
        let mut newest = None;
        let flow = source.next(wait, &mut |frame| {
            newest = newest.max(Some(frame.ts));
            analyzer.frame(frame, &mut |r| sink.session(r));
        });
        clock.saw(newest);
        match flow {
            Ok(Flow::Open) => {}
            Ok(Flow::Ended) => break Why::Ended,
            Err(e) => {
                on_error(e, &mut errors);
                break Why::Failed;
            }
        }
        if let Some(every) = config.stop.stats_every {
            if last_stats.elapsed() >= every {
                last_stats = Instant::now();
                let capture = source
                    .stats()
                    .map(|s| format!(", {} received, {} dropped by kernel", s.received, s.dropped))
                    .unwrap_or_default();
                eprintln!(
                    "mailtap: stats: {} frames, {} sessions ended, {} connections followed{capture}",
                    analyzer.summary().frames,
                    sink.ended,
                    analyzer.open_flows()
                );
            }
        }
        if last_sweep.elapsed() >= SWEEP {
            last_sweep = Instant::now();
            if let Some(now) = clock.now() {
                analyzer.tick(now, &mut |r| sink.session(r));
            }
        }
    };
    if matches!(why, Why::Signal | Why::Duration | Why::Count) {
        // Nothing seen is lost: what the kernel (or the pipe, or the capture thread) already
        // holds is analysed.
        let drained = source.drain(&mut |frame| analyzer.frame(frame, &mut |r| sink.session(r)));
        if let Err(e) = drained {
            on_error(e, &mut errors);
        }
    }
    analyzer.finish(&mut |r| sink.session(r));
    if let Some(e) = sink.error.take() {
        return Err(e);
    }
    let stats = source.final_stats();
    let summary = analyzer.summary();
    sink.reporter
        .finish_with(summary, &errors, stats.as_ref())?;
    // Data on stdout, the summary beside it on stderr; none after an input that could not
    // be read.
    if !failed {
        report::summary_to_stderr(summary, stats.as_ref(), crate::stderr_width());
    }
    if let Some(stats) = stats.filter(|s| s.dropped > 0) {
        // Drops leave holes in sessions: say how many sessions they touched.
        let touched = summary.findings.get("capture-gap").copied().unwrap_or(0);
        eprintln!(
            "mailtap: warning: the kernel dropped {} packets (its buffer was full): {touched} session{} with a capture gap, reported as far as the capture shows; raise -B",
            stats.dropped,
            if touched == 1 { "" } else { "s" },
        );
    }
    let none = crate::no_sessions(&config.fail_on, summary.sessions);
    Ok(if failed {
        ExitCode::from(2)
    } else if sink.matched || none {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

// ---- standard input --------------------------------------------------------------------------

/// A frame copied out of the reader's buffer, to cross to the analysing thread.
struct OwnedFrame {
    number: u64,
    ts: Timestamp,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
    interface: u32,
}

enum Message {
    Frame(OwnedFrame),
    /// The stream ended: cleanly, or with damage after `frames` frames.
    End {
        error: Option<String>,
        frames: u64,
    },
}

/// A capture streamed on standard input, read on a thread of its own so that the watching
/// loop can keep time while the pipe is quiet.
struct Stdin {
    rx: Receiver<Message>,
}

impl Stdin {
    fn start(filter: Option<FrameFilter>) -> Self {
        let (tx, rx) = mpsc::sync_channel(BATCH);
        std::thread::spawn(move || read_stdin(&tx, filter));
        Stdin { rx }
    }

    fn take(
        &mut self,
        first: Message,
        on_frame: &mut dyn FnMut(&Frame<'_>),
    ) -> Result<Flow, SourceError> {
        let mut first = Some(first);
        for _ in 0..BATCH {
            // Received only when there is room to take it: a message received and not taken
            // would be lost (it was, the 4097th of a full queue).
            let message = match first.take() {
                Some(message) => message,
                None => match self.rx.try_recv() {
                    Ok(next) => next,
                    Err(mpsc::TryRecvError::Empty) => return Ok(Flow::Open),
                    Err(mpsc::TryRecvError::Disconnected) => return Ok(Flow::Ended),
                },
            };
            match message {
                Message::Frame(f) => on_frame(&Frame {
                    number: f.number,
                    ts: f.ts,
                    link: f.link,
                    data: &f.data,
                    orig_len: f.orig_len,
                    interface: f.interface,
                }),
                Message::End { error: None, .. } => return Ok(Flow::Ended),
                Message::End {
                    error: Some(message),
                    frames,
                } => {
                    return Err(SourceError {
                        message,
                        after_frames: frames,
                    })
                }
            }
        }
        Ok(Flow::Open)
    }
}

fn read_stdin(tx: &SyncSender<Message>, filter: Option<FrameFilter>) {
    // A capture filter (the live build), --server, --client: frames it refuses stay here.
    let mut keep = FrameFilter::for_input(filter.as_ref());
    // A compressed stream (zstd -c x.pcap | mailtap -) is decompressed on a thread of its own.
    let read = mailtap::capture::compressed::decompressed(io::stdin(), |_, input| {
        let mut reader = FileReader::new(input)?;
        let result = reader.for_each_frame(|f| {
            if !keep(f) {
                return std::ops::ControlFlow::Continue(());
            }
            let owned = OwnedFrame {
                number: f.number,
                ts: f.ts,
                link: f.link,
                data: f.data.to_vec(),
                orig_len: f.orig_len,
                interface: f.interface,
            };
            match tx.send(Message::Frame(owned)) {
                Ok(()) => std::ops::ControlFlow::Continue(()),
                Err(_) => std::ops::ControlFlow::Break(()),
            }
        });
        Ok((result.err(), reader.stats().frames))
    });
    let (error, frames) = match read.and_then(|r| r) {
        Ok((error, frames)) => (error.map(|e| e.to_string()), frames),
        Err(e) => (Some(e.to_string()), 0),
    };
    let _ = tx.send(Message::End { error, frames });
}

impl Source for Stdin {
    fn next(
        &mut self,
        wait: Duration,
        on_frame: &mut dyn FnMut(&Frame<'_>),
    ) -> Result<Flow, SourceError> {
        match self.rx.recv_timeout(wait) {
            Ok(first) => self.take(first, on_frame),
            Err(RecvTimeoutError::Timeout) => Ok(Flow::Open),
            Err(RecvTimeoutError::Disconnected) => Ok(Flow::Ended),
        }
    }

    /// The writer (tcpdump) got the same Ctrl-C and is flushing its last packets: take them
    /// while they keep coming.
    fn drain(&mut self, on_frame: &mut dyn FnMut(&Frame<'_>)) -> Result<(), SourceError> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match self.rx.recv_timeout(Duration::from_millis(300)) {
                Ok(first) => {
                    if let Flow::Ended = self.take(first, on_frame)? {
                        return Ok(());
                    }
                }
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }
}

/// `mailtap -` on a pipe: like a live capture.
pub fn stdin(config: &Config) -> io::Result<ExitCode> {
    let stop = stop_on_signals()?;
    let mut source = Stdin::start(config.filter.clone());
    watch(config, &mut source, "-", &stop)
}

// ---- live interface ------------------------------------------------------------------------

#[cfg(feature = "live")]
mod interface {
    use super::*;
    use mailtap::capture::live::{self, LiveCapture};

    /// Packets captured in one go, copied out of the kernel's ring: one buffer for the bytes.
    #[derive(Default)]
    struct Batch {
        bytes: Vec<u8>,
        /// (number, time, link, start in `bytes`, captured length, length on the wire,
        /// interface)
        frames: Vec<(u64, Timestamp, LinkType, usize, usize, u32, u32)>,
    }

    enum Captured {
        Batch(Batch),
        Failed(String),
    }

    /// Batches in flight between the capture thread and the analysis; when they are all full
    /// the capture thread waits and the kernel's buffer takes the rest (its drops are counted).
    const QUEUE: usize = 256;

    /// Live capture on a thread of its own that only reads packets and hands them on, so the
    /// kernel's buffer is emptied while the analysis works through a burst.
    pub struct Interface {
        rx: Receiver<Captured>,
        stop: Arc<AtomicBool>,
        stats: Arc<std::sync::Mutex<Option<CaptureStats>>>,
        thread: Option<std::thread::JoinHandle<LiveCapture>>,
    }

    impl Interface {
        pub fn start(mut capture: LiveCapture) -> io::Result<Interface> {
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            let stop = Arc::new(AtomicBool::new(false));
            let stats = Arc::new(std::sync::Mutex::new(None));
            let (thread_stop, thread_stats) = (Arc::clone(&stop), Arc::clone(&stats));
            let thread = std::thread::Builder::new().spawn(move || {
                let mut last_stats = Instant::now();
                // After the stop, what the kernel holds is handed over: bounded, in case
                // packets keep pouring in.
                let mut rounds_after_stop = 0;
                loop {
                    let stopping = thread_stop.load(Ordering::Relaxed);
                    if stopping {
                        rounds_after_stop += 1;
                        if rounds_after_stop > 64 {
                            break;
                        }
                    }
                    let mut batch = Batch::default();
                    // After the stop: only what the kernel already holds, no waiting.
                    let wait = if stopping { Duration::ZERO } else { TICK };
                    let read = capture.read(wait, BATCH, &mut |f| {
                        batch.frames.push((
                            f.number,
                            f.ts,
                            f.link,
                            batch.bytes.len(),
                            f.data.len(),
                            f.orig_len,
                            f.interface,
                        ));
                        batch.bytes.extend_from_slice(f.data);
                    });
                    match read {
                        Ok(n) => {
                            if n > 0 && tx.send(Captured::Batch(batch)).is_err() {
                                break;
                            }
                            if stopping && n == 0 {
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Captured::Failed(e.to_string()));
                            break;
                        }
                    }
                    if last_stats.elapsed() >= SWEEP {
                        last_stats = Instant::now();
                        if let Ok(s) = capture.stats() {
                            *thread_stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
                        }
                    }
                }
                capture
            })?;
            Ok(Interface {
                rx,
                stop,
                stats,
                thread: Some(thread),
            })
        }

        fn take(
            &mut self,
            first: Captured,
            on_frame: &mut dyn FnMut(&Frame<'_>),
        ) -> Result<(), SourceError> {
            let mut next = Some(first);
            // A few batches at a time, then back to the clock.
            for _ in 0..16 {
                let Some(captured) = next.take() else { break };
                match captured {
                    Captured::Batch(batch) => {
                        for &(number, ts, link, start, len, orig_len, interface) in &batch.frames {
                            on_frame(&Frame {
                                number,
                                ts,
                                link,
                                data: &batch.bytes[start..start + len],
                                orig_len,
                                interface,
                            });
                        }
                    }
                    Captured::Failed(message) => {
                        return Err(SourceError {
                            message,
                            after_frames: 0,
                        })
                    }
                }
                next = self.rx.try_recv().ok();
            }
            Ok(())
        }
    }

    impl Source for Interface {
        fn next(
            &mut self,
            wait: Duration,
            on_frame: &mut dyn FnMut(&Frame<'_>),
        ) -> Result<Flow, SourceError> {
            match self.rx.recv_timeout(wait) {
                Ok(first) => self.take(first, on_frame).map(|_| Flow::Open),
                Err(RecvTimeoutError::Timeout) => Ok(Flow::Open),
                Err(RecvTimeoutError::Disconnected) => Ok(Flow::Ended),
            }
        }

        fn drain(&mut self, on_frame: &mut dyn FnMut(&Frame<'_>)) -> Result<(), SourceError> {
            // The capture thread hands over what the kernel already holds, then ends.
            self.stop.store(true, Ordering::Relaxed);
            while let Ok(first) = self.rx.recv() {
                self.take(first, on_frame)?;
            }
            Ok(())
        }

        fn stats(&mut self) -> Option<CaptureStats> {
            *self.stats.lock().unwrap_or_else(|e| e.into_inner())
        }

        fn final_stats(&mut self) -> Option<CaptureStats> {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(thread) = self.thread.take() {
                // The thread ends once it finds nothing more: its capture gives the final counts.
                while self.rx.recv_timeout(Duration::from_millis(10)).is_ok() {}
                if let Ok(mut capture) = thread.join() {
                    return capture.stats().ok();
                }
            }
            *self.stats.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    pub fn options(live: &crate::cli::Live) -> live::Options {
        let mut options = live::Options::new(&live.interface);
        options.filter = live.filter.clone();
        options.snaplen = live.snaplen;
        options.buffer_size = live.buffer_size;
        options.immediate = live
            .immediate
            .unwrap_or_else(|| std::io::IsTerminal::is_terminal(&std::io::stdout()));
        options.promiscuous = live.promiscuous;
        options.save = live.save.clone();
        options.rotation = live.rotation.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        options.started = Timestamp::new(now.as_secs() as i64, now.subsec_nanos());
        options
    }
}

/// `mailtap -i IFACE [FILTER]`.
#[cfg(feature = "live")]
pub fn interface(config: &Config, live: &crate::cli::Live) -> io::Result<ExitCode> {
    use mailtap::capture::live::LiveCapture;
    let options = interface::options(live);
    let capture = match LiveCapture::open(&options) {
        Ok(capture) => capture,
        Err(e) => {
            eprintln!("mailtap: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    // Signals are caught only once the capture is open: Ctrl-C before that just ends.
    let stop = stop_on_signals()?;
    // From here on nothing needs a privilege: give them all up before the first packet.
    let plan = crate::sandbox::Plan {
        user: live.user.as_deref(),
        interface: &live.interface,
        save: capture
            .saver()
            .map(|s| (s.file(), s.folder(), s.rotation().rotates())),
    };
    let user = match crate::sandbox::enter(&plan) {
        Ok(outcome) => {
            if let Some(why) = outcome.landlock_missing {
                eprintln!("mailtap: warning: {why}");
            }
            outcome.user
        }
        Err(e) => {
            eprintln!("mailtap: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    eprintln!(
        "mailtap: listening on {}, link-type {}, snapshot length {} bytes, filter: {}{}, running as {} without privileges",
        capture.interface(),
        capture.link_name(),
        options.snaplen,
        if options.filter.is_empty() {
            "(none)"
        } else {
            &options.filter
        },
        options
            .save
            .as_deref()
            .map(|p: &std::path::Path| format!(", saving to {}", p.display()))
            .unwrap_or_default(),
        user
    );
    // The capture thread starts inside the sandbox (a thread inherits it).
    let mut source = interface::Interface::start(capture)?;
    watch(config, &mut source, &live.interface, &stop)
}

/// `mailtap -D`: the interfaces, numbered as tcpdump -D lists them.
#[cfg(feature = "live")]
pub fn list_interfaces() -> io::Result<ExitCode> {
    let list = match mailtap::capture::live::interfaces() {
        Ok(list) => list,
        Err(e) => {
            eprintln!("mailtap: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut out = io::stdout().lock();
    for (i, iface) in list.iter().enumerate() {
        write!(out, "{}.{}", i + 1, iface.name)?;
        if let Some(d) = &iface.description {
            write!(out, " ({})", mailtap::text::escape_str(d))?;
        }
        if !iface.flags.is_empty() {
            write!(out, " [{}]", iface.flags.join(", "))?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "live"))]
pub fn interface(_: &Config, _: &crate::cli::Live) -> io::Result<ExitCode> {
    eprintln!("mailtap: {}", crate::cli::NO_LIVE);
    Ok(ExitCode::from(2))
}

#[cfg(not(feature = "live"))]
pub fn list_interfaces() -> io::Result<ExitCode> {
    eprintln!("mailtap: {}", crate::cli::NO_LIVE);
    Ok(ExitCode::from(2))
}

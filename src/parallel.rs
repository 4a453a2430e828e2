//! Several inputs analysed at once, one per thread, their results handed back in input order.
//!
//! `mailtap a.pcap b.pcap c.pcap` reads each file on its own core, yet reports exactly what
//! analysing them one after the other reports: every event of input 0 (its sessions in the order
//! they ended, then its outcome), then every event of input 1, and so on. Each input has its own
//! [`Analyzer`](crate::analyzer::Analyzer), as [`crate::analyze_with`] gives it, so frame numbers
//! and the offer history stay per input.
//!
//! The calling thread receives the events; workers take inputs in order. The sessions of inputs
//! ahead of the one being reported wait in a bounded queue per input, so memory stays bounded
//! however many sessions the files hold: a worker whose queue is full waits for its turn. With
//! one thread (one input, or one CPU) there is no worker: the calling thread reads the inputs
//! one after the other and hears each event as it happens.
//!
//! ```no_run
//! use mailtap::parallel::{analyze_inputs, Event, Options};
//! let paths = ["a.pcap", "b.pcapng"];
//! let config = mailtap::analyzer::Config::default();
//! analyze_inputs(
//!     paths.len(),
//!     |i| std::fs::File::open(paths[i]),
//!     &config,
//!     &Options::default(),
//!     |i, event| {
//!         match event {
//!             Event::Session(s) => println!("{}: {} {}", paths[i], s.record.client, s.verdict),
//!             Event::Rendered(s, _) => println!("{}: {} {}", paths[i], s.record.client, s.verdict),
//!             Event::Done(Ok(outcome)) => println!("{}: {} frames", paths[i], outcome.summary.frames),
//!             Event::Done(Err(e)) => eprintln!("{}: {e}", paths[i]),
//!         }
//!         std::ops::ControlFlow::Continue(())
//!     },
//! );
//! ```

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

use crate::analyzer::Config;
use crate::capture::file::{CaptureError, Progress};
use crate::capture::Frame;
use crate::classify::SessionReport;
use crate::Outcome;

/// What the caller hears about one input, in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// A session of the input, in the order sessions ended (as [`crate::analyze_with`] hands
    /// them over). Boxed: a report is a kilobyte or more, and it may cross a channel.
    Session(Box<SessionReport>),
    /// A session and its output, rendered by [`Options::render`] on the thread that analysed
    /// it: for the caller to write as it is. Lent: both go back to that thread, which frees
    /// the one and fills the other again (a thread freeing what another allocated costs both).
    Rendered(&'a SessionReport, &'a [u8]),
    /// The input is finished: its outcome, or why it could not be read. Always the last event
    /// of an input.
    Done(Result<Outcome, InputError>),
}

/// Why an input gave no outcome.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The `open` function failed (no such file, permission...).
    #[error("{0}")]
    Open(io::Error),
    /// Not a capture at all (see [`crate::analyze_with`]).
    #[error("{0}")]
    Capture(CaptureError),
}

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Inputs read at once (default: the number of CPUs).
    pub threads: usize,
    /// Sessions an input ahead of the one being reported may queue before its thread waits.
    pub queue: usize,
    /// Bytes read, all inputs together, for a progress bar.
    pub progress: Option<Progress>,
    /// With one input and several threads, split its connections between the threads
    /// (`--threads`): one thread reads the input and hands each the frames of its
    /// connections. Not with `max_sessions`.
    pub split_one_input: bool,
    /// Only the frames this filter keeps are analysed (a capture filter on files).
    pub filter: Option<FrameFilter>,
    /// Stop after this many sessions, all inputs together (`-c N`): the inputs are then read
    /// one after the other, the last one read only as far as its N-th session, and the
    /// sessions still open then are not reported. Its outcome still comes.
    pub max_sessions: Option<u64>,
    /// When one input is split between threads: renders each session's output on the thread
    /// that analysed it (the caller then gets [`Event::Rendered`]), so that writing the output
    /// is shared between the threads too.
    pub render: Option<Arc<dyn Render>>,
}

/// Renders sessions' output on the threads that analyse them (see [`Options::render`]).
pub trait Render: Send + Sync + std::fmt::Debug {
    /// The session's output, appended to `out` (left empty: "render it yourself").
    fn render(&self, report: &SessionReport, out: &mut Vec<u8>);
    /// The merge appended a finding (`inconsistent-offer`) to `report.findings` after `out`
    /// was rendered: brings `out` up to date, or clears it.
    fn add_last_finding(&self, report: &SessionReport, out: &mut Vec<u8>);
}

/// A capture filter: makes, for each input, a predicate over its frames (a compiled BPF
/// program, say, which is compiled per link type and not shared between threads).
#[derive(Clone)]
pub struct FrameFilter(Arc<MakeFilter>);

type MakeFilter = dyn Fn() -> Box<dyn FnMut(&Frame<'_>) -> bool> + Send + Sync;

impl FrameFilter {
    pub fn new(
        make: impl Fn() -> Box<dyn FnMut(&Frame<'_>) -> bool> + Send + Sync + 'static,
    ) -> Self {
        FrameFilter(Arc::new(make))
    }

    /// A predicate for one input.
    pub fn make(&self) -> Box<dyn FnMut(&Frame<'_>) -> bool> {
        (self.0)()
    }

    /// A predicate for one input that keeps what `filter` keeps, or every frame.
    pub fn for_input(filter: Option<&FrameFilter>) -> impl FnMut(&Frame<'_>) -> bool {
        let mut keep = filter.map(FrameFilter::make);
        move |frame| keep.as_mut().is_none_or(|keep| keep(frame))
    }
}

impl std::fmt::Debug for FrameFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameFilter")
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            queue: 1024,
            progress: None,
            filter: None,
            max_sessions: None,
            split_one_input: false,
            render: None,
        }
    }
}

/// Analyses inputs `0..count`, opened by `open(i)` on the thread that reads input `i` (a
/// worker, or the calling thread when only one thread is to run), and calls `on_event(i, event)` on the calling thread for every event, input by input in
/// order. `on_event` returning `Break` (say, a closed pipe) stops everything: inputs under way
/// are abandoned and no further event comes.
pub fn analyze_inputs<R, O, E>(
    count: usize,
    open: O,
    config: &Config,
    options: &Options,
    mut on_event: E,
) where
    R: Read + Send,
    O: Fn(usize) -> io::Result<R> + Sync,
    E: FnMut(usize, Event<'_>) -> ControlFlow<()>,
{
    if count == 0 {
        return;
    }
    let mut threads = options.threads.clamp(1, count);
    if options.max_sessions.is_some() {
        // "The first N sessions" is only well defined one input after the other.
        threads = 1;
    }
    if count == 1
        && options.split_one_input
        && options.max_sessions.is_none()
        && options.threads > 1
    {
        let stop = AtomicBool::new(false);
        let outcome = crate::shard::analyze_sharded(
            || open(0),
            config,
            options,
            &stop,
            |event| on_event(0, event),
        );
        if !stop.load(Ordering::Relaxed) {
            let _ = on_event(0, Event::Done(outcome));
        }
        return;
    }
    if threads == 1 {
        // One file, or one core: no worker thread, no queue. Handing each session across a
        // channel to a thread on the same core costs a context switch per session.
        let stop = AtomicBool::new(false);
        let sessions = AtomicU64::new(0);
        for i in 0..count {
            run_one(i, &open, config, options, &stop, &sessions, |event| {
                on_event(i, event)
            });
            if stop.load(Ordering::Relaxed) || enough(options, &sessions) {
                return;
            }
        }
        return;
    }
    type Sent = Event<'static>;
    let (senders, receivers): (Vec<SyncSender<Sent>>, Vec<Receiver<Sent>>) = (0..count)
        .map(|_| mpsc::sync_channel(options.queue.max(1)))
        .unzip();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let sessions = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let senders = &senders;
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || stop.load(Ordering::Relaxed) {
                    return;
                }
                let tx = &senders[i];
                run_one(
                    i,
                    &open,
                    config,
                    options,
                    &stop,
                    &sessions,
                    |event| match tx.send(event) {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()),
                    },
                );
            });
        }
        let mut receivers = receivers;
        'inputs: for (i, rx) in receivers.iter().enumerate() {
            for event in rx.iter() {
                let done = matches!(event, Event::Done(_));
                if on_event(i, event).is_break() {
                    stop.store(true, Ordering::Relaxed);
                    break 'inputs;
                }
                if done {
                    break;
                }
            }
        }
        // Workers waiting on a full queue see it gone and give up.
        receivers.clear();
    });
}

/// Whether `-c N` is reached.
fn enough(options: &Options, sessions: &AtomicU64) -> bool {
    options
        .max_sessions
        .is_some_and(|max| sessions.load(Ordering::Relaxed) >= max)
}

/// Reads input `i`, handing its events to `emit` until `emit` breaks (the receiver is gone)
/// or `stop` is set. A break also sets `stop`, for the inputs that would come next.
/// `sessions` counts the sessions handed over, for `max_sessions`.
fn run_one<R: Read + Send>(
    i: usize,
    open: &(impl Fn(usize) -> io::Result<R> + Sync),
    config: &Config,
    options: &Options,
    stop: &AtomicBool,
    sessions: &AtomicU64,
    mut emit: impl FnMut(Event<'static>) -> ControlFlow<()>,
) {
    // Nothing more once anyone has said stop: the sessions that end in the same frame, say,
    // are not handed over. Nor sessions past `max_sessions`.
    let mut deliver = |event| {
        if matches!(event, Event::Session(_)) {
            if enough(options, sessions) {
                return;
            }
            sessions.fetch_add(1, Ordering::Relaxed);
        }
        if !stop.load(Ordering::Relaxed) && emit(event).is_break() {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let input = match open(i) {
        Ok(input) => input,
        Err(e) => return deliver(Event::Done(Err(InputError::Open(e)))),
    };
    let outcome = crate::analyze_selected(
        input,
        config,
        options.progress.as_ref(),
        FrameFilter::for_input(options.filter.as_ref()),
        || stop.load(Ordering::Relaxed) || enough(options, sessions),
        |session| deliver(Event::Session(Box::new(session))),
    );
    if !stop.load(Ordering::Relaxed) {
        deliver(Event::Done(outcome.map_err(InputError::Capture)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::Summary;

    /// A classic pcap of `sessions` SMTP sessions (client ports 40000...), each a greeting,
    /// EHLO, an EHLO reply with or without STARTTLS, QUIT, and (when `closed`) both FINs.
    fn capture(sessions: u16, offer: bool, closed: bool) -> Vec<u8> {
        let mut file = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&65535u32.to_le_bytes());
        file.extend_from_slice(&1u32.to_le_bytes());
        let mut time = 1_700_000_000u32;
        let mut frame = |file: &mut Vec<u8>,
                         client: u16,
                         to_server: bool,
                         seq: u32,
                         ack: u32,
                         flags: u8,
                         payload: &[u8]| {
            let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
            let (a, b) = ([192, 0, 2, 10], [198, 51, 100, 25]);
            let (src, dst) = if to_server { (a, b) } else { (b, a) };
            let (sport, dport) = if to_server {
                (client, 25)
            } else {
                (25, client)
            };
            f.extend_from_slice(&[0x45, 0]);
            f.extend_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
            f.extend_from_slice(&src);
            f.extend_from_slice(&dst);
            f.extend_from_slice(&sport.to_be_bytes());
            f.extend_from_slice(&dport.to_be_bytes());
            f.extend_from_slice(&seq.to_be_bytes());
            f.extend_from_slice(&ack.to_be_bytes());
            f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
            f.extend_from_slice(payload);
            time += 1;
            for word in [time, 0, f.len() as u32, f.len() as u32] {
                file.extend_from_slice(&word.to_le_bytes());
            }
            file.extend_from_slice(&f);
        };
        let ehlo_reply: &[u8] = if offer {
            b"250-mx.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
        } else {
            b"250-mx.example.test\r\n250 8BITMIME\r\n"
        };
        for n in 0..sessions {
            let client = 40000 + n;
            let (mut c, mut s) = (1000u32, 5000u32);
            frame(&mut file, client, true, c, 0, 0x02, b"");
            frame(&mut file, client, false, s, c + 1, 0x12, b"");
            c += 1;
            s += 1;
            frame(&mut file, client, true, c, s, 0x10, b"");
            for (to_server, line) in [
                (false, &b"220 mx.example.test ESMTP\r\n"[..]),
                (true, b"EHLO client.example.test\r\n"),
                (false, ehlo_reply),
                (true, b"QUIT\r\n"),
                (false, b"221 bye\r\n"),
            ] {
                if to_server {
                    frame(&mut file, client, true, c, s, 0x18, line);
                    c += line.len() as u32;
                } else {
                    frame(&mut file, client, false, s, c, 0x18, line);
                    s += line.len() as u32;
                }
            }
            if closed {
                frame(&mut file, client, false, s, c, 0x11, b"");
                frame(&mut file, client, true, c, s + 1, 0x11, b"");
                frame(&mut file, client, false, s + 1, c + 1, 0x10, b"");
            }
        }
        file
    }

    /// `analyze_inputs` over captures held in memory, with the default configuration.
    fn analyze_all(
        inputs: &[Vec<u8>],
        threads: usize,
        queue: usize,
        on_event: impl FnMut(usize, Event<'_>) -> ControlFlow<()>,
    ) {
        let options = Options {
            threads,
            queue,
            progress: None,
            ..Options::default()
        };
        let open = |i: usize| Ok(&inputs[i][..]);
        analyze_inputs(inputs.len(), open, &Config::default(), &options, on_event);
    }

    /// (input, "client verdict" or "done: frames") in the order events came.
    fn events(inputs: &[Vec<u8>], options: &Options) -> Vec<(usize, String)> {
        let mut got = Vec::new();
        analyze_inputs(
            inputs.len() + 1,
            |i| match inputs.get(i) {
                Some(bytes) => Ok(&bytes[..]),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
            },
            &Config::default(),
            options,
            |i, event| {
                got.push((
                    i,
                    match event {
                        Event::Session(s) => format!("{} {}", s.record.client, s.verdict),
                        Event::Rendered(s, _) => format!("{} {}", s.record.client, s.verdict),
                        Event::Done(Ok(o)) => format!("done: {} frames", o.summary.frames),
                        Event::Done(Err(e)) => format!("error: {e}"),
                    },
                ));
                ControlFlow::Continue(())
            },
        );
        got
    }

    #[test]
    fn results_come_in_input_order_as_one_after_the_other() {
        let inputs = vec![
            capture(40, true, true),
            capture(3, false, true),
            b"not a capture".to_vec(),
            capture(25, false, true),
        ];
        let mut sequential = Vec::new();
        for (i, bytes) in inputs.iter().enumerate() {
            match crate::analyze_with(&bytes[..], &Config::default(), |s| {
                sequential.push((i, format!("{} {}", s.record.client, s.verdict)))
            }) {
                Ok(o) => sequential.push((i, format!("done: {} frames", o.summary.frames))),
                Err(e) => sequential.push((i, format!("error: {e}"))),
            }
        }
        sequential.push((4, "error: no such file".into()));
        assert_eq!(
            sequential
                .iter()
                .filter(|(_, e)| e.ends_with("not-used"))
                .count(),
            40
        );
        for threads in [1, 2, 4] {
            for queue in [1, 1024] {
                let options = Options {
                    threads,
                    queue,
                    progress: None,
                    ..Options::default()
                };
                assert_eq!(
                    events(&inputs, &options),
                    sequential,
                    "{threads} threads, queue {queue}"
                );
            }
        }
    }

    #[test]
    fn progress_counts_every_byte_of_every_input() {
        let inputs = vec![capture(10, true, true), capture(7, false, true)];
        let progress = Progress::new();
        let options = Options {
            threads: 2,
            queue: 4,
            progress: Some(progress.clone()),
            ..Options::default()
        };
        events(&inputs, &options);
        assert_eq!(
            progress.bytes(),
            inputs.iter().map(|b| b.len() as u64).sum::<u64>()
        );

        let single = Progress::new();
        let outcome =
            crate::analyze_with_progress(&inputs[0][..], &Config::default(), &single, |_| {})
                .unwrap();
        assert_eq!(single.bytes(), inputs[0].len() as u64);
        assert_eq!(outcome.summary.frames, 10 * 11);
    }

    #[test]
    fn a_break_stops_every_input() {
        let inputs: Vec<Vec<u8>> = (0..6).map(|_| capture(30, true, true)).collect();
        for threads in [1, 3] {
            let mut seen = 0;
            let mut summary = Summary::default();
            analyze_all(&inputs, threads, 2, |_, event| {
                if let Event::Done(Ok(o)) = &event {
                    summary.merge(&o.summary);
                }
                seen += 1;
                if seen == 5 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            assert_eq!(seen, 5, "{threads} threads");
            assert_eq!(summary.frames, 0, "{threads} threads");
        }
    }

    #[test]
    fn nothing_comes_after_a_break_while_sessions_are_open() {
        // 30 sessions never closed: they all end together, at the end of the input.
        let inputs = [capture(30, true, false), capture(5, true, true)];
        for threads in [1, 2] {
            let mut seen = 0;
            analyze_all(&inputs, threads, 4, |_, _| {
                seen += 1;
                ControlFlow::Break(())
            });
            assert_eq!(seen, 1, "{threads} threads");
        }
    }

    #[test]
    fn max_sessions_stops_after_n_and_a_filter_selects_frames() {
        let inputs = vec![capture(5, true, true), capture(5, false, true)];
        for max in [1, 5, 7, 100] {
            let options = Options {
                threads: 4,
                max_sessions: Some(max),
                ..Options::default()
            };
            let got = events(&inputs, &options);
            let sessions = got
                .iter()
                .filter(|(_, e)| !e.starts_with("done") && !e.starts_with("error"))
                .count();
            assert_eq!(sessions as u64, max.min(10), "max {max}: {got:?}");
            // The input where it stopped still gives its outcome, and nothing comes after it
            // (the third input, missing, is reached only when every session was taken).
            let last = &got.last().unwrap().1;
            if max < 10 {
                assert!(last.starts_with("done"), "{got:?}");
            } else {
                assert!(last.starts_with("error"), "{got:?}");
            }
        }
        // Only the frames of client port 40001 (its SYN carries dst port 25, src 40001).
        let options = Options {
            filter: Some(FrameFilter::new(|| {
                Box::new(|frame: &Frame<'_>| {
                    crate::decode::decode(frame)
                        .is_ok_and(|s| s.src.port() == 40001 || s.dst.port() == 40001)
                })
            })),
            ..Options::default()
        };
        let got = events(&inputs[..1], &options);
        assert_eq!(got[0].1, "192.0.2.10:40001 not-used", "{got:?}");
        assert_eq!(
            got.len(),
            3,
            "one session, the outcome, the missing input: {got:?}"
        );
    }

    #[test]
    fn a_break_stops_one_input_split_between_threads() {
        // Many sessions, a queue smaller than them: shards block on it until the break.
        let input = capture(5000, true, true);
        for threads in [2, 3] {
            let options = Options {
                threads,
                queue: 1,
                progress: None,
                split_one_input: true,
                ..Options::default()
            };
            let mut seen = 0;
            analyze_inputs(
                1,
                |_| Ok(&input[..]),
                &Config::default(),
                &options,
                |_, _| {
                    seen += 1;
                    if seen == 3 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            );
            assert_eq!(seen, 3, "{threads} threads");
        }
    }
}

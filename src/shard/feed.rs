//! From the reader to the shards: the frames each shard needs, in batches.
//!
//! A batch holds the bytes of its frames in one buffer, and between them what the shard
//! must do as one analyzer would have done at that point of the input: sweep idle flows,
//! say that it has passed a frame, finish. Batches go back to the reader once taken apart,
//! so their buffers are allocated once and stay warm.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use super::{Handover, Item, Phase, BATCH, PASS_EVERY, QUEUE};
use crate::analyzer::{Analyzer, Config, Splitter};
use crate::capture::file::{CaptureError, Progress};
use crate::capture::{Frame, LinkType, Timestamp};
use crate::classify::SessionReport;
use crate::parallel::Render;
use crate::Outcome;

/// A batch is sent once its frames' bytes reach this, if no word from the reader came first.
/// Frames in flight to a shard are then at most the queue's batches of this size, each
/// overrun by one frame (at most `capture::file::MAX_RECORD`).
const BATCH_BYTES: usize = 256 << 10;

/// Frames and steps for one shard; see the module docs.
#[derive(Default)]
pub(super) struct Batch {
    /// The frames' bytes, one after the other in the order of `steps`.
    bytes: Vec<u8>,
    steps: Vec<Step>,
}

/// One thing for a shard to do. `now` is the capture's time at that point: the newest
/// timestamp of every frame so far, the shard's or not.
enum Step {
    /// Take a frame: its bytes are the next `len` of the batch's.
    Frame {
        number: u64,
        ts: Timestamp,
        now: Timestamp,
        link: LinkType,
        orig_len: u32,
        interface: u32,
        len: usize,
    },
    /// Look for idle flows after frame `at`; `last_frame` is the last frame taken (not
    /// skipped by a capture filter), the shard's or not.
    Sweep {
        at: u64,
        last_frame: u64,
        now: Timestamp,
    },
    /// Every frame up to this one was handed over.
    Passed(u64),
    /// The input ended: report the sessions still open.
    End { last_frame: u64, now: Timestamp },
}

impl Batch {
    fn push_frame(&mut self, frame: &Frame<'_>, now: Timestamp) {
        self.bytes.extend_from_slice(frame.data);
        self.steps.push(Step::Frame {
            number: frame.number,
            ts: frame.ts,
            now,
            link: frame.link,
            orig_len: frame.orig_len,
            interface: frame.interface,
            len: frame.data.len(),
        });
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.steps.clear();
    }
}

/// Reads `input` once and hands each shard of `shards` its frames, as `splitter` routes
/// them, of those `keep` says yes to. Returns the counts of the whole input (frames, bytes,
/// skipped frames) and the damage met; fails only when the input is not a capture at all.
/// Stops early, without the shards' `End`, when `stop` is set or a shard is gone.
pub(super) fn read(
    input: impl Read + Send,
    mut keep: impl FnMut(&Frame<'_>) -> bool,
    mut splitter: Splitter,
    progress: Option<&Progress>,
    stop: &AtomicBool,
    shards: &[SyncSender<Batch>],
    spares: &Receiver<Batch>,
) -> Result<Outcome, CaptureError> {
    let mut batches: Vec<Batch> = shards.iter().map(|_| Batch::default()).collect();
    let send = |batches: &mut [Batch], shard: usize| {
        let fresh = spares.try_recv().unwrap_or_default();
        let batch = std::mem::replace(&mut batches[shard], fresh);
        shards[shard].send(batch).is_ok()
    };
    let read = crate::read_frames(input, progress, |frame| {
        let mut sent = true;
        if let Some(shard) = keep(frame).then(|| splitter.route(frame)).flatten() {
            let batch = &mut batches[shard];
            batch.push_frame(frame, splitter.now());
            if batch.bytes.len() >= BATCH_BYTES {
                sent = send(&mut batches, shard);
            }
        }
        if let Some(now) = splitter.sweep() {
            let (at, last_frame) = (frame.number, splitter.last_frame());
            batches.iter_mut().for_each(|batch| {
                batch.steps.push(Step::Sweep {
                    at,
                    last_frame,
                    now,
                })
            });
        }
        if frame.number % PASS_EVERY == 0 {
            for shard in 0..shards.len() {
                batches[shard].steps.push(Step::Passed(frame.number));
                sent &= send(&mut batches, shard);
            }
        }
        sent && !stop.load(Ordering::Relaxed)
    })?;
    if !read.stopped {
        for shard in 0..shards.len() {
            let (last_frame, now) = (splitter.last_frame(), splitter.now());
            batches[shard].steps.push(Step::End { last_frame, now });
            send(&mut batches, shard);
        }
    }
    Ok(Outcome {
        summary: splitter.summary().clone(),
        damage: read.damage,
    })
}

/// A shard: analyses the frames of `batches` with an analyzer configured for its shard, and
/// hands its sessions to `outbox`. Each batch taken apart goes back through `spare`.
pub(super) fn analyze(
    config: Config,
    batches: &Receiver<Batch>,
    spare: &Sender<Batch>,
    mut outbox: Outbox<'_>,
) {
    let mut analyzer = Analyzer::new(config);
    for mut batch in batches {
        let mut bytes = &batch.bytes[..];
        for step in &batch.steps {
            match *step {
                Step::Frame {
                    number,
                    ts,
                    now,
                    link,
                    orig_len,
                    interface,
                    len,
                } => {
                    let (data, rest) = bytes.split_at(len);
                    bytes = rest;
                    let frame = Frame {
                        number,
                        ts,
                        link,
                        data,
                        orig_len,
                        interface,
                    };
                    analyzer.catch_up(number, now);
                    analyzer.take(&frame, &mut outbox.sessions(number, Phase::Frame));
                }
                Step::Sweep {
                    at,
                    last_frame,
                    now,
                } => {
                    analyzer.catch_up(last_frame, now);
                    analyzer.tick(now, &mut outbox.sessions(at, Phase::Sweep));
                }
                Step::Passed(frame) => outbox.items.push(Item::Passed(frame)),
                Step::End { last_frame, now } => {
                    analyzer.catch_up(last_frame, now);
                    analyzer.finish(&mut outbox.sessions(u64::MAX, Phase::End));
                }
            }
            let word = matches!(step, Step::Passed(_));
            if (word || outbox.items.len() >= BATCH) && !outbox.send() {
                return;
            }
        }
        // One grown by a huge frame (up to `MAX_RECORD`) is not kept.
        if batch.bytes.capacity() <= 2 * BATCH_BYTES {
            batch.clear();
            let _ = spare.send(batch);
        }
    }
    outbox
        .items
        .push(Item::Done(Box::new(analyzer.summary().clone())));
    outbox.send();
}

/// Kept for reuse at most, of each kind of thing the merge sends back: about what is in flight
/// (`QUEUE` batches of `BATCH` sessions, one being filled, one being handed on).
const KEEP: usize = BATCH * (QUEUE + 2);
/// Output buffers grown beyond this (a session with a huge line) are not kept.
const KEEP_TEXT: usize = 16 << 10;

/// A shard's sessions on their way to the merge, and back. What the merge has handed on
/// comes back to be freed here, on the thread that allocated it, and mostly to be used
/// again: report boxes, output buffers and the batches themselves.
pub(super) struct Outbox<'a> {
    items: Vec<Item>,
    merge: SyncSender<Vec<Item>>,
    returned: Receiver<Vec<Item>>,
    render: Option<&'a dyn Render>,
    // The boxes themselves are what is reused: a session is moved into one.
    #[allow(clippy::vec_box)]
    boxes: Vec<Box<SessionReport>>,
    texts: Vec<Vec<u8>>,
    batches: Vec<Vec<Item>>,
}

impl<'a> Outbox<'a> {
    pub fn new(
        merge: SyncSender<Vec<Item>>,
        returned: Receiver<Vec<Item>>,
        render: Option<&'a dyn Render>,
    ) -> Self {
        Outbox {
            items: Vec::new(),
            merge,
            returned,
            render,
            boxes: Vec::new(),
            texts: Vec::new(),
            batches: Vec::new(),
        }
    }

    /// Takes the sessions an analyzer hands over at `frame`, in `phase`.
    fn sessions(&mut self, frame: u64, phase: Phase) -> impl FnMut(SessionReport) + use<'_, 'a> {
        move |session| self.session(Handover::of(frame, phase, &session), session)
    }

    fn session(&mut self, at: Handover, session: SessionReport) {
        let text = self.render.map(|render| {
            // Room for a typical JSON line at once: grown from empty, it was reallocated a
            // dozen times.
            let mut text = self
                .texts
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(4 << 10));
            render.render(&session, &mut text);
            text
        });
        let report = match self.boxes.pop() {
            Some(mut report) => {
                *report = session;
                report
            }
            None => Box::new(session),
        };
        self.items.push(Item::Session(at, report, text));
    }

    /// Sends the items gathered to the merge; `false` when the merge is gone.
    fn send(&mut self) -> bool {
        while let Ok(mut spent) = self.returned.try_recv() {
            for item in spent.drain(..) {
                let Item::Session(_, report, text) = item else {
                    continue;
                };
                if self.boxes.len() < KEEP {
                    self.boxes.push(report);
                }
                match text {
                    Some(mut text) if self.texts.len() < KEEP && text.capacity() <= KEEP_TEXT => {
                        text.clear();
                        self.texts.push(text);
                    }
                    _ => {}
                }
            }
            if self.batches.len() < QUEUE + 2 {
                self.batches.push(spent);
            }
        }
        let next = self.batches.pop().unwrap_or_default();
        let items = std::mem::replace(&mut self.items, next);
        self.merge.send(items).is_ok()
    }
}

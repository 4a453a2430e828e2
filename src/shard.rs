//! One capture on several cores (`--threads`): the connections are split into shards by a
//! hash of their addresses, one analyzer per shard, and their sessions are merged back into
//! exactly the order, findings and summary one analyzer gives.
//!
//! Every shard reads the whole input itself and keeps only its own connections: reading and
//! the first look at a frame cost next to nothing (the file comes from the page cache, and
//! most frames are dropped after a look at their ports), while sharing frames between threads
//! would cost a copy and a hand-over per frame. What depends on more than one connection is
//! done once, by the merge: counting sessions and the streaming `inconsistent-offer` check.
//! Frames are counted by shard 0 alone. Idle sweeps happen at the same frames in every shard,
//! since every shard sees every frame's time.
//!
//! The merge takes, from the shards' queues, always the session handed over first
//! (`Handover`: frame, then sweep, then first frame), so it needs a word from every shard
//! before it can hand on anything: each shard says every `PASS_EVERY` frames that it has
//! sent everything up to there. A shard sends its sessions in batches, one per such word
//! (or sooner, when `BATCH` sessions are waiting): a send that wakes a waiting thread costs a
//! system call and a context switch, and one per session was more than the analysis of the
//! session. Queues are bounded, so memory is
//! too. Only an input that can be opened once per shard (a file, not a pipe) is split; the
//! caller decides.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};

use crate::analyzer::{Config, OfferHistory, Shard, Summary};
use crate::capture::file::Progress;
use crate::classify::SessionReport;
use crate::parallel::{InputError, Render};
use crate::{Handover, Outcome};

/// A shard says it has sent everything up to a frame this often (in frames).
pub(crate) const PASS_EVERY: u64 = 1024;
/// Batches a shard may queue ahead of the merge: enough to ride out the merge waiting on
/// another shard, few enough that sessions in flight stay in the allocator's warm pages.
const QUEUE: usize = 4;
/// Sessions in one batch at most: a batch is sent at the next word or when this full, so that
/// an idle sweep ending thousands of sessions at once still holds few of them in memory.
const BATCH: usize = 64;

enum Item {
    /// A session, and its output when the shard rendered it.
    Session(Handover, Box<SessionReport>, Option<Vec<u8>>),
    /// Everything up to this frame was sent.
    Passed(u64),
    Done(Result<Outcome, InputError>),
}

impl Item {
    fn key(&self) -> Handover {
        match self {
            Item::Session(at, ..) => *at,
            Item::Passed(frame) => Handover::passed(*frame),
            Item::Done(_) => Handover::LAST,
        }
    }
}

/// Analyses the input `open` gives with `shards` analyzers at once, handing `on_session`
/// each session in the order one analyzer would, with the output `render` gave it on its
/// shard (brought up to date when the merge adds `inconsistent-offer`). `on_session`
/// returning `Break`, or `stop` set, ends it early (as [`crate::parallel::analyze_inputs`]
/// does).
pub(crate) fn analyze_sharded<R: Read + Send>(
    shards: usize,
    open: impl Fn() -> io::Result<R> + Sync,
    config: &Config,
    progress: Option<&Progress>,
    stop: &AtomicBool,
    render: Option<&dyn Render>,
    mut on_session: impl FnMut(Box<SessionReport>, Option<Vec<u8>>) -> ControlFlow<()>,
) -> Result<Outcome, InputError> {
    let shards = shards.max(1);
    let seed = foldhash::fast::RandomState::default().hash_one(0u8);
    let (senders, receivers): (Vec<_>, Vec<Receiver<Vec<Item>>>) =
        (0..shards).map(|_| mpsc::sync_channel(QUEUE)).unzip();
    std::thread::scope(|scope| {
        for (index, tx) in senders.into_iter().enumerate() {
            let config = Config {
                shard: Some(Shard {
                    index,
                    count: shards,
                    seed,
                }),
                ..config.clone()
            };
            let open = &open;
            // Every shard reads the whole input: only the first counts its bytes.
            let progress = progress.filter(|_| index == 0);
            scope.spawn(move || {
                let batch = RefCell::new(Vec::new());
                let result = open().map_err(InputError::Open).and_then(|input| {
                    crate::drive(
                        input,
                        &config,
                        progress,
                        |_| true,
                        || stop.load(Ordering::Relaxed),
                        &mut |at, session| {
                            let text = render.map(|render| {
                                // Room for a typical JSON line at once: grown from empty, it
                                // was reallocated a dozen times.
                                let mut text = Vec::with_capacity(4 << 10);
                                render.render(&session, &mut text);
                                text
                            });
                            let mut batch = batch.borrow_mut();
                            batch.push(Item::Session(at, Box::new(session), text));
                            if batch.len() >= BATCH {
                                let _ = tx.send(std::mem::take(&mut *batch));
                            }
                        },
                        |frame| {
                            if frame % PASS_EVERY == 0 {
                                let mut batch = batch.borrow_mut();
                                batch.push(Item::Passed(frame));
                                let _ = tx.send(std::mem::take(&mut *batch));
                            }
                        },
                    )
                    .map_err(InputError::Capture)
                });
                let mut batch = batch.into_inner();
                batch.push(Item::Done(result));
                let _ = tx.send(batch);
            });
        }
        let result = merge(&receivers, stop, render, &mut on_session);
        // Shards still sending (after a stop) see the queues gone and end.
        drop(receivers);
        result
    })
}

/// Hands on the shards' sessions in order, then puts their outcomes together.
fn merge(
    receivers: &[Receiver<Vec<Item>>],
    stop: &AtomicBool,
    render: Option<&dyn Render>,
    on_session: &mut impl FnMut(Box<SessionReport>, Option<Vec<u8>>) -> ControlFlow<()>,
) -> Result<Outcome, InputError> {
    let mut queues: Vec<Queue> = receivers.iter().map(Queue::new).collect();
    let mut offers = OfferHistory::default();
    let mut sessions = Summary::default();
    loop {
        let (shard, key) = queues
            .iter()
            .enumerate()
            .map(|(i, queue)| (i, queue.front().key()))
            .min_by_key(|&(i, key)| (key, i))
            .expect("at least one shard");
        if key == Handover::LAST {
            break;
        }
        if stop.load(Ordering::Relaxed) {
            return Err(InputError::Open(io::Error::other("stopped")));
        }
        if let Item::Session(_, mut report, mut text) = queues[shard].pop() {
            if offers.observe(&mut report) {
                if let (Some(render), Some(text)) = (render, &mut text) {
                    render.add_last_finding(&report, text);
                }
            }
            sessions.count(&report);
            if on_session(report, text).is_break() {
                stop.store(true, Ordering::Relaxed);
                return Err(InputError::Open(io::Error::other("stopped")));
            }
        }
    }
    let fronts = queues.into_iter().map(|mut queue| queue.pop());
    let mut outcomes = fronts.map(|item| match item {
        Item::Done(result) => result,
        _ => unreachable!("every shard is done"),
    });
    let mut outcome = outcomes.next().expect("at least one shard")?;
    for other in outcomes {
        outcome.summary.merge(&other?.summary);
    }
    outcome.summary.merge(&sessions);
    Ok(outcome)
}

/// One shard's items as the merge sees them: the batch being taken apart, then the next.
struct Queue<'a> {
    receiver: &'a Receiver<Vec<Item>>,
    /// The batch being handed on, in reverse: its next item is last. Never empty.
    batch: Vec<Item>,
}

impl<'a> Queue<'a> {
    fn new(receiver: &'a Receiver<Vec<Item>>) -> Self {
        let mut queue = Queue {
            receiver,
            batch: Vec::new(),
        };
        queue.refill();
        queue
    }

    fn front(&self) -> &Item {
        self.batch.last().expect("a queue is never empty")
    }

    /// The next item. `Done` is a shard's last: the merge takes it only when every shard is
    /// done, and then asks no more.
    fn pop(&mut self) -> Item {
        let item = self.batch.pop().expect("a queue is never empty");
        if self.batch.is_empty() && !matches!(item, Item::Done(_)) {
            self.refill();
        }
        item
    }

    fn refill(&mut self) {
        self.batch = self.receiver.recv().unwrap_or_else(|_| {
            vec![Item::Done(Err(InputError::Open(io::Error::other(
                "an analysis thread stopped",
            ))))]
        });
        self.batch.reverse();
    }
}

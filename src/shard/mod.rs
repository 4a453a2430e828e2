//! One capture on several cores (`--threads`): the connections are split into shards by a
//! hash of their addresses, one analyzer per shard, and their sessions are merged back into
//! exactly the order, findings and summary one analyzer gives.
//!
//! ```text
//! reader ──frames of shard k──▶ shard k (analyzer, renders JSON) ──sessions──▶ merge ──▶ caller
//! ```
//!
//! - The **reader** ([`feed::read`]) reads the input once and looks at every frame once
//!   ([`Splitter`](crate::analyzer::Splitter)): it counts frames, keeps the capture's clock,
//!   drops what no analyzer would look at, and copies each other frame into its shard's next
//!   batch. It tells every shard when to sweep idle flows, so that sweeps happen at the same
//!   frames as in one analyzer, and every `PASS_EVERY` frames that everything up to there
//!   was handed over.
//! - Each **shard** ([`feed::analyze`]) runs an analyzer over its batches and sends its
//!   sessions on, each with the frame it ended at ([`Handover`]), in batches too: one per
//!   word from the reader, or sooner when `BATCH` sessions wait. A send that wakes a waiting
//!   thread costs a system call and a context switch, and one per frame or per session was
//!   more than the work it carried.
//! - The **merge** ([`merge::merge`]) hands on, from the shards' queues, always the session
//!   handed over first, so it needs a word from every shard before it can hand on anything.
//!   What depends on more than one connection is done there: the streaming
//!   `inconsistent-offer` check.
//!
//! Every queue is bounded, so memory is too.

mod feed;
mod merge;

use std::hash::BuildHasher;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

use crate::analyzer::{Config, Shard, Splitter, Summary};
use crate::classify::SessionReport;
use crate::parallel::{Event, FrameFilter, InputError, Options};
use crate::Outcome;

/// The reader tells every shard this often (in frames) that it has handed over everything up
/// to there, and the shards tell the merge.
const PASS_EVERY: u64 = 1024;
/// Batches queued between two threads at most: enough to ride out a thread waiting on
/// another, few enough that frames and sessions in flight stay in the allocator's warm pages.
const QUEUE: usize = 4;
/// Sessions in one batch at most: a batch is sent at the next word or when this full, so that
/// an idle sweep ending thousands of sessions at once still holds few of them in memory.
const BATCH: usize = 64;

/// What a shard sends the merge.
enum Item {
    /// A session, and its output when the shard rendered it.
    Session(Handover, Box<SessionReport>, Option<Vec<u8>>),
    /// Everything up to this frame was sent.
    Passed(u64),
    /// The shard's last word: its counts.
    Done(Box<Summary>),
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

/// When a session was handed over, in the order one analyzer hands them over: by frame; in
/// a frame, the sessions the frame itself ended, then those an idle sweep ended (in order of
/// first frame); after the last frame, those still open (in order of first frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Handover {
    frame: u64,
    phase: Phase,
    first_frame: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Frame,
    Sweep,
    /// Nothing more of this frame: a shard's "everything up to here was sent".
    Passed,
    End,
}

impl Handover {
    fn of(frame: u64, phase: Phase, session: &SessionReport) -> Self {
        Handover {
            frame,
            phase,
            first_frame: session.record.first_frame,
        }
    }

    /// Everything of frames up to `frame` is before this.
    fn passed(frame: u64) -> Self {
        Handover {
            frame,
            phase: Phase::Passed,
            first_frame: 0,
        }
    }

    const LAST: Handover = Handover {
        frame: u64::MAX,
        phase: Phase::End,
        first_frame: u64::MAX,
    };
}

/// Analyses the input `open` gives with `options.threads` analyzers at once (the frames
/// `options.filter` says no to skipped, as [`crate::analyze_selected`] skips them), handing
/// `on_session` each session in the order one analyzer would, with the output
/// `options.render` gave it on its shard (brought up to date when the merge adds
/// `inconsistent-offer`). `on_session` returning `Break`, or `stop` set, ends it early (as
/// [`crate::parallel::analyze_inputs`] does).
pub(crate) fn analyze_sharded<R: Read + Send>(
    open: impl FnOnce() -> io::Result<R> + Send,
    config: &Config,
    options: &Options,
    stop: &AtomicBool,
    mut on_session: impl FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<Outcome, InputError> {
    let count = options.threads.max(1);
    let seed = foldhash::fast::RandomState::default().hash_one(0u8);
    let render = options.render.as_deref();
    let (to_shards, from_reader): (Vec<_>, Vec<_>) =
        (0..count).map(|_| mpsc::sync_channel(QUEUE)).unzip();
    let (to_merge, from_shards): (Vec<_>, Vec<_>) =
        (0..count).map(|_| mpsc::sync_channel(QUEUE)).unzip();
    // Sessions handed on go back to their shard (bounded by the batches in flight).
    let (to_return, returned): (Vec<_>, Vec<_>) = (0..count).map(|_| mpsc::channel()).unzip();
    // Batches the shards are done with go back to the reader, to be filled again.
    let (spare, spares) = mpsc::channel();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let input = open().map_err(InputError::Open)?;
            let keep = FrameFilter::for_input(options.filter.as_ref());
            let splitter = Splitter::new(config, count, seed);
            let progress = options.progress.as_ref();
            feed::read(input, keep, splitter, progress, stop, &to_shards, &spares)
                .map_err(InputError::Capture)
        });
        let queues = from_reader.into_iter().zip(to_merge).zip(returned);
        for (index, ((batches, sessions), returned)) in queues.enumerate() {
            let config = Config {
                shard: Some(Shard { index, count, seed }),
                // `--max-flows` bounds the memory of the whole input: each shard gets its part.
                max_flows: config.max_flows.div_ceil(count),
                ..config.clone()
            };
            let spare = spare.clone();
            let outbox = feed::Outbox::new(sessions, returned, render);
            scope.spawn(move || feed::analyze(config, &batches, &spare, outbox));
        }
        drop(spare);
        let merged = merge::merge(&from_shards, &to_return, stop, render, &mut on_session);
        // Shards still sending (after a stop) see the queues gone and end, and so does the
        // reader then.
        drop(from_shards);
        let mut outcome = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        outcome.summary.merge(&merged?);
        Ok(outcome)
    })
}

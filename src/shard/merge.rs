//! The shards' sessions, put back in the order one analyzer hands them over.

use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use super::{Handover, Item};
use crate::analyzer::{OfferHistory, Summary};
use crate::classify::FindingKind;
use crate::parallel::{Event, InputError, Render};

/// Hands on the shards' sessions in order (adding `inconsistent-offer` where it belongs),
/// then returns the shards' counts put together. Each shard's queue comes
/// from `receivers` and the sessions handed on go back through `returns`.
pub(super) fn merge(
    receivers: &[Receiver<Vec<Item>>],
    returns: &[Sender<Vec<Item>>],
    stop: &AtomicBool,
    render: Option<&dyn Render>,
    on_session: &mut impl FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<Summary, InputError> {
    let stopped = || InputError::Open(io::Error::other("stopped"));
    let mut queues: Vec<Queue> = receivers.iter().zip(returns).map(Queue::new).collect();
    let mut offers = OfferHistory::default();
    let mut summary = Summary::default();
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
            return Err(stopped());
        }
        let queue = &mut queues[shard];
        if let Item::Session(at, mut report, mut text) = queue.pop() {
            if offers.observe(&mut report) {
                summary.count_added(FindingKind::InconsistentOffer);
                if let (Some(render), Some(text)) = (render, &mut text) {
                    render.add_last_finding(&report, text);
                }
            }
            let flow = match text {
                // Not rendered, or rendering failed: the caller renders it (and says why not).
                None => on_session(Event::Session(report)),
                Some(text) if text.is_empty() => on_session(Event::Session(report)),
                Some(text) => {
                    let flow = on_session(Event::Rendered(&report, &text));
                    queue.spent.push(Item::Session(at, report, Some(text)));
                    flow
                }
            };
            if flow.is_break() {
                stop.store(true, Ordering::Relaxed);
                return Err(stopped());
            }
        }
    }
    for mut queue in queues {
        if let Item::Done(shard) = queue.pop() {
            summary.merge(&shard);
        }
    }
    Ok(summary)
}

/// One shard's items as the merge sees them: the batch being taken apart, then the next.
struct Queue<'a> {
    receiver: &'a Receiver<Vec<Item>>,
    /// The batch being handed on, in reverse: its next item is last. Never empty.
    batch: Vec<Item>,
    /// Sessions handed on, for the shard to free and to render into again: sent back with
    /// each batch received.
    spent: Vec<Item>,
    returns: &'a Sender<Vec<Item>>,
}

impl<'a> Queue<'a> {
    fn new((receiver, returns): (&'a Receiver<Vec<Item>>, &'a Sender<Vec<Item>>)) -> Self {
        let mut queue = Queue {
            receiver,
            batch: Vec::new(),
            spent: Vec::new(),
            returns,
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
        // The emptied batch goes back too, to be filled again.
        let mut spent = std::mem::take(&mut self.batch);
        spent.append(&mut self.spent);
        if spent.capacity() > 0 {
            // A shard that has ended no longer takes any: they are freed here.
            let _ = self.returns.send(spent);
        }
        // A shard gone without its last word panicked: the thread scope passes the panic on
        // once the others are done.
        self.batch = self
            .receiver
            .recv()
            .unwrap_or_else(|_| vec![Item::Done(Box::default())]);
        self.batch.reverse();
    }
}

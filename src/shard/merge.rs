//! The shards' sessions, put back in the order one analyzer hands them over.

use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;

use super::{Handover, Item};
use crate::analyzer::{OfferHistory, Summary};
use crate::classify::SessionReport;
use crate::parallel::{InputError, Render};

/// Hands on the shards' sessions in order (adding `inconsistent-offer` where it belongs),
/// then returns the shards' counts put together, sessions included.
pub(super) fn merge(
    receivers: &[Receiver<Vec<Item>>],
    stop: &AtomicBool,
    render: Option<&dyn Render>,
    on_session: &mut impl FnMut(Box<SessionReport>, Option<Vec<u8>>) -> ControlFlow<()>,
) -> Result<Summary, InputError> {
    let stopped = || InputError::Open(io::Error::other("stopped"));
    let mut queues: Vec<Queue> = receivers.iter().map(Queue::new).collect();
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
        if let Item::Session(_, mut report, mut text) = queues[shard].pop() {
            if offers.observe(&mut report) {
                if let (Some(render), Some(text)) = (render, &mut text) {
                    render.add_last_finding(&report, text);
                }
            }
            summary.count(&report);
            if on_session(report, text).is_break() {
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
        // A shard gone without its last word panicked: the thread scope passes the panic on
        // once the others are done.
        self.batch = self
            .receiver
            .recv()
            .unwrap_or_else(|_| vec![Item::Done(Box::default())]);
        self.batch.reverse();
    }
}

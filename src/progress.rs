//! A progress bar on standard error for big files: only on a terminal, never in pipes, and
//! never on standard output (which carries the report).

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mailtap::capture::file::Progress;

/// Files smaller than this are read before a bar would be worth drawing.
const WORTH_A_BAR: u64 = 64 << 20;

/// A bar updated from the readers' byte counter until dropped.
pub struct Bar {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bar {
    /// Starts a bar when standard error is a terminal and the files are big enough.
    pub fn start(inputs: &[PathBuf], progress: &Progress) -> Bar {
        let total: u64 = inputs
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        let done = Arc::new(AtomicBool::new(false));
        if !io::stderr().is_terminal() || total < WORTH_A_BAR {
            return Bar { done, thread: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let (flag, counter) = (Arc::clone(&done), progress.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                bar.set_position(counter.bytes().min(total));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Bar {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Bar {
    /// Clears the bar before the report is written.
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

//! The progress bar of uploads and downloads: drawn on stderr, only when stderr is a
//! terminal, `$CI` is not set and `--quiet` was not given, so logs stay clean.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::cache::{Progress, Silent};

use super::output::human_size;

const WIDTH: usize = 30;
const REDRAW: Duration = Duration::from_millis(100);

/// A progress reporter for a transfer: a bar on a terminal, nothing otherwise.
pub fn transfer_progress(quiet: bool) -> Box<dyn Progress> {
    let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    if interactive && !quiet {
        Box::new(Bar::default())
    } else {
        Box::new(Silent)
    }
}

#[derive(Default)]
struct Bar {
    label: String,
    total: Option<u64>,
    done: u64,
    last_draw: Option<Instant>,
}

impl Bar {
    fn draw(&mut self) {
        let line = match self.total {
            Some(total) if total > 0 => {
                let ratio = (self.done as f64 / total as f64).min(1.0);
                let filled = (ratio * WIDTH as f64).round() as usize;
                format!(
                    "{} [{}{}] {:>3.0}% {} / {}",
                    self.label,
                    "#".repeat(filled),
                    "-".repeat(WIDTH - filled),
                    ratio * 100.0,
                    human_size(self.done),
                    human_size(total)
                )
            }
            _ => format!("{} {}", self.label, human_size(self.done)),
        };
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, "\r{line}\x1b[K");
        let _ = stderr.flush();
        self.last_draw = Some(Instant::now());
    }
}

impl Progress for Bar {
    fn start(&mut self, label: &str, total: Option<u64>, done: u64) {
        self.label = label.to_owned();
        self.total = total;
        self.done = done;
        self.draw();
    }

    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if self.last_draw.is_none_or(|at| at.elapsed() >= REDRAW) {
            self.draw();
        }
    }

    fn finish(&mut self) {
        if self.last_draw.is_some() {
            self.draw();
            eprintln!();
            self.last_draw = None;
        }
    }
}

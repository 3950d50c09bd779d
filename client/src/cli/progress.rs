//! Progress bars: of uploads and downloads (bytes), and of a batch job `--wait` follows
//! (rows and rows/s). Drawn on stderr, only when stderr is a terminal, `$CI` is not set
//! and `--quiet` was not given, so logs stay clean.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::cache::{Progress, Silent};

use super::output::human_size;

const WIDTH: usize = 30;
const REDRAW: Duration = Duration::from_millis(100);

/// Whether bars may be drawn: stderr is a terminal, `$CI` is unset, no `--quiet`.
fn interactive(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

/// A progress reporter for a transfer: a bar on a terminal, nothing otherwise.
pub fn transfer_progress(quiet: bool) -> Box<dyn Progress> {
    if interactive(quiet) {
        Box::new(Bar::default())
    } else {
        Box::new(Silent)
    }
}

/// `[#####-----]  50%` for `done` of `total`.
fn gauge(done: f64, total: f64) -> String {
    let ratio = (done / total).clamp(0.0, 1.0);
    let filled = (ratio * WIDTH as f64).round() as usize;
    format!(
        "[{}{}] {:>3.0}%",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        ratio * 100.0
    )
}

/// Replaces the current stderr line with `line`.
fn redraw(line: &str) {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "\r{line}\x1b[K");
    let _ = stderr.flush();
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
            Some(total) if total > 0 => format!(
                "{} {} {} / {}",
                self.label,
                gauge(self.done as f64, total as f64),
                human_size(self.done),
                human_size(total)
            ),
            _ => format!("{} {}", self.label, human_size(self.done)),
        };
        redraw(&line);
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

/// The bar of a batch job being waited for: its status, rows done of the total (when
/// known) and the rate the registry reports.
pub struct RowsProgress {
    enabled: bool,
    drawn: bool,
}

impl RowsProgress {
    pub fn new(quiet: bool) -> Self {
        RowsProgress {
            enabled: interactive(quiet),
            drawn: false,
        }
    }

    pub fn update(&mut self, status: &str, done: i64, total: Option<i64>, per_second: f64) {
        if !self.enabled {
            return;
        }
        let rate = format!("{per_second:.0} rows/s");
        let line = match total {
            Some(total) if total > 0 => format!(
                "{status:<9} {} {done} / {total} rows, {rate}",
                gauge(done as f64, total as f64)
            ),
            _ => format!("{status:<9} {done} rows, {rate}"),
        };
        redraw(&line);
        self.drawn = true;
    }

    /// Ends the bar's line, so what is printed next starts on its own.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

//! Progress for long steps: indicatif bars and spinners on a terminal, plain
//! parseable lines otherwise (stdout not a terminal, or `CI` set), nothing
//! with `--quiet`. Also the parser for pg_basebackup's `-P` lines.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bars and spinners.
    Terminal,
    /// One line per event, byte progress at most every [`PLAIN_INTERVAL`].
    Plain,
    /// Nothing but the final result.
    Quiet,
}

/// How often plain mode reports byte progress.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// Shows the steps of one command.
#[derive(Debug, Clone)]
pub struct Reporter {
    mode: Mode,
    /// Write to stderr (when stdout carries data, such as `export --out -`).
    stderr: bool,
}

impl Reporter {
    /// Picks the mode from `--quiet`, the `CI` variable and whether the
    /// output is a terminal.
    pub fn new(quiet: bool, stderr: bool) -> Self {
        let terminal = if stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        let mode = match (quiet, terminal && !ci) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Terminal,
            (false, false) => Mode::Plain,
        };
        Reporter { mode, stderr }
    }

    /// A reporter with a fixed mode (tests, `--json`).
    pub fn with_mode(mode: Mode) -> Self {
        Reporter {
            mode,
            stderr: false,
        }
    }

    /// The mode in use.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Prints a line of the report (not in quiet mode).
    pub fn line(&self, text: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        if self.stderr {
            eprintln!("{text}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.stderr {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::stdout()
        }
    }

    /// Starts a step: a spinner on a terminal, a `==>` line otherwise.
    pub fn step(&self, name: &str) -> Step {
        let spinner = match self.mode {
            Mode::Terminal => {
                let bar = ProgressBar::with_draw_target(None, self.target());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("template"),
                );
                bar.set_message(name.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                Some(bar)
            }
            Mode::Plain => {
                self.line(&format!("==> {name}"));
                None
            }
            Mode::Quiet => None,
        };
        Step {
            reporter: self.clone(),
            name: name.to_string(),
            started: Instant::now(),
            spinner,
        }
    }

    /// Starts a byte counter for a transfer of `total` bytes (0 when unknown).
    pub fn bytes(&self, label: &str, total: u64) -> Bytes {
        let bar = (self.mode == Mode::Terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), self.target());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            bar.set_message(label.to_string());
            bar
        });
        Bytes {
            reporter: self.clone(),
            label: label.to_string(),
            bar,
            last_line: None,
            total,
        }
    }
}

/// A step in progress.
pub struct Step {
    reporter: Reporter,
    name: String,
    started: Instant,
    spinner: Option<ProgressBar>,
}

impl Step {
    /// Ends the step as done, with an optional detail, and returns its duration.
    pub fn done(self, detail: &str) -> Duration {
        self.finish("ok", detail)
    }

    /// Ends the step as failed.
    pub fn failed(self, detail: &str) -> Duration {
        self.finish("failed", detail)
    }

    fn finish(self, status: &str, detail: &str) -> Duration {
        let elapsed = self.started.elapsed();
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        self.reporter.line(&format!(
            "{status:>6} {} ({:.1}s){detail}",
            self.name,
            elapsed.as_secs_f64()
        ));
        elapsed
    }
}

/// A byte counter in progress.
pub struct Bytes {
    reporter: Reporter,
    label: String,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
    total: u64,
}

impl Bytes {
    /// Updates the counter; `total` may grow as the source learns more.
    pub fn set(&mut self, done: u64, total: u64) {
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            return;
        }
        if self.reporter.mode != Mode::Plain {
            return;
        }
        let due = self.last_line.is_none_or(|t| t.elapsed() >= PLAIN_INTERVAL);
        if due {
            self.last_line = Some(Instant::now());
            let pct = (done * 100).checked_div(total).unwrap_or(0);
            self.reporter
                .line(&format!("   {}: {done}/{total} bytes ({pct}%)", self.label));
        }
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One progress line of `pg_basebackup -P` under `LC_ALL=C`:
/// `DONE/TOTAL kB (PCT%), N/M tablespace(s)`, optionally followed by a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasebackupProgress {
    pub done_bytes: u64,
    pub total_bytes: u64,
}

/// Parses a pg_basebackup progress line; other lines give `None`.
pub fn parse_basebackup_progress(line: &str) -> Option<BasebackupProgress> {
    let line = line.trim();
    let (counts, rest) = line.split_once(" kB (")?;
    if !rest.contains("%)") || !rest.contains("tablespace") {
        return None;
    }
    let (done, total) = counts.split_once('/')?;
    let done: u64 = done.trim().parse().ok()?;
    let total: u64 = total.trim().parse().ok()?;
    Some(BasebackupProgress {
        done_bytes: done * 1024,
        total_bytes: total * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basebackup_progress_lines() {
        let table = [
            ("0/22905 kB (0%), 0/1 tablespace", Some((0, 22905))),
            (
                "22913/22913 kB (100%), 1/1 tablespace",
                Some((22913, 22913)),
            ),
            (
                "11232/789012 kB (1%), 0/1 tablespace (...ata/base/16384/16397)",
                Some((11232, 789012)),
            ),
            ("  512/1024 kB (50%), 0/2 tablespaces", Some((512, 1024))),
            (
                "pg_basebackup: initiating base backup, waiting for checkpoint",
                None,
            ),
            (
                "waiting for background process to finish streaming ...",
                None,
            ),
            ("garbage/x kB (1%), 0/1 tablespace", None),
        ];
        for (line, expected) in table {
            let got = parse_basebackup_progress(line)
                .map(|p| (p.done_bytes / 1024, p.total_bytes / 1024));
            assert_eq!(got, expected, "line {line:?}");
        }
    }
}

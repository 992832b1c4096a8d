//! How commands talk to people and scripts: spinners on a terminal, plain
//! lines without one (CI, pipes), and nothing but the final JSON document on
//! stdout with `--output json`. Progress always goes to stderr.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Tty,
    Plain,
    Quiet,
}

pub struct Reporter {
    mode: Mode,
}

impl Reporter {
    pub fn new(format: OutputFormat) -> Self {
        let mode = match format {
            OutputFormat::Json => Mode::Quiet,
            OutputFormat::Text if std::io::stderr().is_terminal() => Mode::Tty,
            OutputFormat::Text => Mode::Plain,
        };
        Reporter { mode }
    }

    /// Starts a step; finish it with [`Step::done`] or [`Step::fail`].
    pub fn step(&self, what: &str) -> Step {
        let bar = match self.mode {
            Mode::Tty => {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(what.to_string());
                bar.enable_steady_tick(Duration::from_millis(80));
                Some(bar)
            }
            Mode::Plain => {
                eprintln!("… {what}");
                None
            }
            Mode::Quiet => None,
        };
        Step {
            what: what.to_string(),
            bar,
            mode: self.mode,
            started: Instant::now(),
        }
    }

    /// A line that is not a step.
    pub fn note(&self, text: &str) {
        if !matches!(self.mode, Mode::Quiet) {
            eprintln!("{text}");
        }
    }
}

pub struct Step {
    what: String,
    bar: Option<ProgressBar>,
    mode: Mode,
    started: Instant,
}

impl Step {
    pub fn done(self, detail: &str) {
        self.finish("✓", detail);
    }

    pub fn fail(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !matches!(self.mode, Mode::Quiet) {
            eprintln!("✗ {}", self.what);
        }
    }

    fn finish(&self, mark: &str, detail: &str) {
        let ms = self.started.elapsed().as_millis();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !matches!(self.mode, Mode::Quiet) {
            eprintln!("{mark} {}: {detail} ({ms} ms)", self.what);
        }
    }
}

//! Podman's build stream, read for the events log: lines, step progress, and
//! the tail kept for a failure message. Pure.

use std::collections::VecDeque;

/// How many of the last log lines a `build_failed` message carries.
pub const TAIL_LINES: usize = 20;

#[derive(Debug, Default)]
pub struct BuildLog {
    partial: String,
    tail: VecDeque<String>,
    /// (current step, total steps) from the last `STEP n/m:` line.
    pub step: Option<(u32, u32)>,
}

impl BuildLog {
    /// Feeds one chunk of the stream (which may hold several lines or part
    /// of one) and returns the complete, non-empty lines it finished.
    pub fn feed(&mut self, chunk: &str) -> Vec<String> {
        self.partial.push_str(chunk);
        let mut lines = Vec::new();
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            let line = line.trim_end().to_owned();
            if !line.is_empty() {
                self.remember(&line);
                lines.push(line);
            }
        }
        lines
    }

    /// Whatever is left without a newline at the end of the stream.
    pub fn flush(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.partial);
        let rest = rest.trim_end().to_owned();
        if rest.is_empty() {
            None
        } else {
            self.remember(&rest);
            Some(rest)
        }
    }

    fn remember(&mut self, line: &str) {
        if let Some(step) = parse_step(line) {
            self.step = Some(step);
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
    }

    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    /// Share of the steps begun so far, 0..=100.
    pub fn step_percent(&self) -> u8 {
        match self.step {
            Some((n, m)) if m > 0 => ((n.saturating_sub(1).min(m) * 100) / m) as u8,
            _ => 0,
        }
    }
}

/// `STEP 2/3: RUN make` → (2, 3).
fn parse_step(line: &str) -> Option<(u32, u32)> {
    let rest = line.strip_prefix("STEP ")?;
    let (fraction, _) = rest.split_once(':')?;
    let (n, m) = fraction.split_once('/')?;
    Some((n.parse().ok()?, m.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_log_joins_partial_lines_and_tracks_steps() {
        let mut log = BuildLog::default();
        assert!(log.feed("STEP 1/2: FR").is_empty());
        assert_eq!(
            log.feed("OM x\nSTEP 2/2: RUN false\n\n"),
            ["STEP 1/2: FROM x", "STEP 2/2: RUN false"]
        );
        assert_eq!(log.step, Some((2, 2)));
        assert_eq!(log.step_percent(), 50);
        assert_eq!(log.feed("error: exit 1"), Vec::<String>::new());
        assert_eq!(log.flush().as_deref(), Some("error: exit 1"));
        assert_eq!(log.tail().last().map(String::as_str), Some("error: exit 1"));
    }

    #[test]
    fn build_log_tail_is_bounded() {
        let mut log = BuildLog::default();
        for i in 0..100 {
            log.feed(&format!("line {i}\n"));
        }
        assert_eq!(log.tail().len(), TAIL_LINES);
        assert_eq!(log.tail()[0], "line 80");
    }
}

//! Reads a systemd unit file the way systemd does, for the parts a test
//! replays: `[Section]` `Key=value` lines (repeatable keys kept in order)
//! and a command line split into words (systemd.syntax(7): double quotes
//! with C escapes, `%%` and `$$` for a literal `%` and `$`).

use std::path::Path;

#[derive(Debug, Clone)]
pub struct UnitFile {
    /// `(section, key, value)` in file order.
    pub entries: Vec<(String, String, String)>,
}

impl UnitFile {
    pub fn read(path: &Path) -> UnitFile {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let mut section = String::new();
        let mut entries = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_string();
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: not Key=value: {line}", path.display()));
            entries.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
        UnitFile { entries }
    }

    /// Every value of `key` in `section`, in order.
    pub fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    pub fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.values(section, key).last().copied()
    }

    /// `Environment=` assignments of `[Service]`.
    pub fn environment(&self) -> Vec<(String, String)> {
        self.values("Service", "Environment")
            .into_iter()
            .flat_map(words)
            .filter_map(|w| w.split_once('=').map(|(k, v)| (k.into(), v.into())))
            .collect()
    }
}

/// A command line's words, as systemd splits them.
pub fn command_words(line: &str) -> Vec<String> {
    words(line)
        .into_iter()
        .map(|w| w.replace("$$", "$"))
        .collect()
}

fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some(e) => word.push(e),
                        None => break,
                    },
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word.replace("%%", "%"));
    }
    out
}

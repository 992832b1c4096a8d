//! Parsers for the few `/proc` files host facts read. The parsers are pure
//! and unit-tested; the readers are one line each.

use std::io;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryInfo {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

fn bad(file: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected format of {file}"),
    )
}

pub fn load() -> io::Result<LoadAverage> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg")?).ok_or_else(|| bad("/proc/loadavg"))
}

pub fn memory() -> io::Result<MemoryInfo> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo")?).ok_or_else(|| bad("/proc/meminfo"))
}

pub fn uptime() -> io::Result<f64> {
    std::fs::read_to_string("/proc/uptime")?
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("/proc/uptime"))
}

fn parse_loadavg(s: &str) -> Option<LoadAverage> {
    let mut it = s.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some(LoadAverage {
        one: it.next()??,
        five: it.next()??,
        fifteen: it.next()??,
    })
}

fn parse_meminfo(s: &str) -> Option<MemoryInfo> {
    let field = |name: &str| -> Option<u64> {
        s.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib * 1024)
        })
    };
    Some(MemoryInfo {
        total_bytes: field("MemTotal")?,
        available_bytes: field("MemAvailable")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadavg_parses_three_numbers() {
        let l = parse_loadavg("0.52 0.58 0.59 1/389 12345\n").unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (0.52, 0.58, 0.59));
        assert!(parse_loadavg("0.5 x").is_none());
    }

    #[test]
    fn meminfo_reads_total_and_available_in_bytes() {
        let m =
            parse_meminfo("MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:    8000 kB\n")
                .unwrap();
        assert_eq!(m.total_bytes, 16000 * 1024);
        assert_eq!(m.available_bytes, 8000 * 1024);
        assert!(parse_meminfo("MemTotal: 1 kB\n").is_none());
    }
}

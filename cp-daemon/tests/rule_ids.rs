//! Rule ids against the vector file `data/rule_ids.txt`: each raw tuple
//! must canonicalise to the listed string, and its id must equal both the
//! listed id and one recomputed here with the system's `sha256sum`, so the
//! vectors are checked by an implementation that is not ours.

use std::io::Write;
use std::process::{Command, Stdio};

use coold::firewall::{PortValue, RuleRequest};

fn sha256sum_prefix(s: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha256sum (coreutils)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(s.as_bytes())
        .expect("write to sha256sum");
    let out = child.wait_with_output().expect("wait for sha256sum");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)[..12].to_string()
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

#[test]
fn rule_id_vectors_match_sha256sum() {
    let text = include_str!("data/rule_ids.txt");
    let mut checked = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let [raw, canonical, id] = cols.as_slice() else {
            panic!("bad vector line {line:?}");
        };
        let f: Vec<&str> = raw.split('|').collect();
        assert_eq!(f.len(), 5, "{raw}");
        let rule = RuleRequest {
            namespace: opt(f[0]),
            src: opt(f[1]),
            dst: opt(f[2]),
            proto: opt(f[3]),
            port: opt(f[4]).map(PortValue::Text),
            id: None,
        }
        .validate()
        .unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(rule.canonical(), *canonical, "{raw}");
        assert_eq!(
            sha256sum_prefix(canonical),
            *id,
            "vector file id for {canonical}"
        );
        assert_eq!(rule.id().as_str(), *id, "{raw}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} vectors");
}

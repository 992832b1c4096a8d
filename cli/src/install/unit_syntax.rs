//! Quoting for unit files: an argument vector becomes one `ExecStart=`
//! value that systemd splits back into the same words (systemd.service(5),
//! "Command lines"; systemd.syntax(7), quoting). Pure.
//!
//! systemd expands `%` specifiers everywhere and `$VAR` in command lines,
//! so both are doubled; a word with whitespace, quotes, `;` or `\` is
//! double-quoted with C-style escapes for `"` and `\`.

/// One command line for `ExecStart=` and its kin.
pub fn exec_line(argv: &[String]) -> String {
    argv.iter()
        .map(|w| quote(&w.replace('$', "$$")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One `Environment=` value (`$` is not expanded there).
pub fn env_assignment(name: &str, value: &str) -> String {
    quote(&format!("{name}={value}"))
}

/// A path in a directive that takes one path (`WorkingDirectory=`,
/// `ConditionPathExists=`): specifiers only.
pub fn path_value(p: &std::path::Path) -> String {
    p.display().to_string().replace('%', "%%")
}

fn quote(word: &str) -> String {
    let word = word.replace('%', "%%");
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if plain {
        return word;
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(
            exec_line(&words(&[
                "/usr/bin/podman",
                "system",
                "service",
                "--time=0"
            ])),
            "/usr/bin/podman system service --time=0"
        );
    }

    #[test]
    fn specifiers_dollars_spaces_and_quotes_are_escaped() {
        assert_eq!(
            exec_line(&words(&["/bin/sh", "-c", "a $X; \"b\" 50%", ""])),
            r#"/bin/sh -c "a $$X; \"b\" 50%%" """#
        );
        assert_eq!(
            env_assignment("COOLIFY_X", "a b\\c"),
            r#""COOLIFY_X=a b\\c""#
        );
    }
}

//! Text output of `coolify firewall` (the JSON output is the agent's own
//! document, pretty-printed).

use coolify_api_types::firewall::{BulkOutcome, ReconcileOutcome, RuleView};

/// One row per rule, aligned columns, a header even when empty.
pub fn table(rules: &[RuleView]) -> String {
    let rows: Vec<[String; 6]> = rules
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                r.namespace.clone(),
                r.src.clone(),
                r.dst.clone(),
                r.proto.clone().unwrap_or_else(|| "any".into()),
                r.port.clone().unwrap_or_else(|| "any".into()),
            ]
        })
        .collect();
    let header = ["ID", "NAMESPACE", "SRC", "DST", "PROTO", "PORT"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |row: &[String; 6]| {
        row.iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    std::iter::once(line(&header))
        .chain(rows.iter().map(line))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn allowed(rule: &RuleView, created: bool) -> String {
    format!(
        "{} {}\n{}",
        rule.id,
        if created {
            "created"
        } else {
            "already present"
        },
        table(std::slice::from_ref(rule))
    )
}

pub fn bulk(out: &BulkOutcome) -> String {
    let mut s = format!(
        "added {}, already present {}",
        out.added.len(),
        out.existing.len()
    );
    if !out.added.is_empty() {
        s.push('\n');
        s.push_str(&table(&out.added));
    }
    s
}

pub fn reconcile(out: &ReconcileOutcome) -> String {
    let mut s = format!(
        "added {}, removed {}, kept {}",
        out.added.len(),
        out.removed.len(),
        out.kept.len()
    );
    for (title, rules) in [("added", &out.added), ("removed", &out.removed)] {
        if !rules.is_empty() {
            s.push_str(&format!("\n\n{title}:\n{}", table(rules)));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(json: &str) -> RuleView {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn table_aligns_columns_and_names_absent_fields_any() {
        let rules = [
            view(
                r#"{"id":"0123456789ab","namespace":"default","src":"10.0.0.5","dst":"10.0.1.0/24","proto":"tcp","port":"80"}"#,
            ),
            view(r#"{"id":"ba9876543210","namespace":"alpha","src":"0.0.0.0/0","dst":"10.0.1.7"}"#),
        ];
        let t = table(&rules);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "ID            NAMESPACE  SRC        DST          PROTO  PORT"
        );
        assert_eq!(
            lines[1],
            "0123456789ab  default    10.0.0.5   10.0.1.0/24  tcp    80"
        );
        assert_eq!(
            lines[2],
            "ba9876543210  alpha      0.0.0.0/0  10.0.1.7     any    any"
        );
        assert_eq!(table(&[]).lines().count(), 1);
    }
}

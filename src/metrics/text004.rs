//! Prometheus text format 0.0.4 from OpenMetrics text.
//!
//! The two differ only in metadata for what this exporter writes: 0.0.4 names a counter family
//! with its `_total` suffix, has no `info` type (a gauge named `_info`), and has no `# UNIT` or
//! `# EOF` lines.

pub fn from_openmetrics(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut pending_help: Option<&str> = None;
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if line.starts_with("# HELP ") {
            pending_help = Some(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.rsplit_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                other => (name.to_string(), other),
            };
            if let Some(help) = pending_help.take() {
                let text =
                    help.strip_prefix("# HELP ").and_then(|h| h.split_once(' ')).map_or("", |(_, t)| t);
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_infos_get_their_suffixes() {
        let om = "# HELP a_b Help text.\n# TYPE a_b counter\na_b_total{x=\"1\"} 3\n\
                  # HELP e Info.\n# TYPE e info\ne_info{u=\"v\"} 1\n\
                  # HELP g G.\n# TYPE g gauge\ng 1.5\n# EOF\n";
        let text = from_openmetrics(om);
        assert_eq!(
            text,
            "# HELP a_b_total Help text.\n# TYPE a_b_total counter\na_b_total{x=\"1\"} 3\n\
             # HELP e_info Info.\n# TYPE e_info gauge\ne_info{u=\"v\"} 1\n\
             # HELP g G.\n# TYPE g gauge\ng 1.5\n"
        );
    }
}

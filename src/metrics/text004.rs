//! Prometheus text format 0.0.4 from OpenMetrics text.
//!
//! The two differ only in metadata for what this exporter writes: 0.0.4 names a counter family
//! with its `_total` suffix, has no `info` type (a gauge named `_info`), and has no `# UNIT` or
//! `# EOF` lines.

pub fn from_openmetrics(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut pending_help: Option<&str> = None;
    let mut rest = om;
    while !rest.is_empty() {
        // Samples are the same in both formats: copy each run of them as one block.
        if !rest.starts_with('#') {
            let end = samples_end(rest);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let (line, next) = rest.split_once('\n').unwrap_or((rest, ""));
        rest = next;
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if line.starts_with("# HELP ") {
            pending_help = Some(line);
            continue;
        }
        if let Some(meta) = line.strip_prefix("# TYPE ") {
            let (name, kind) = meta.rsplit_once(' ').unwrap_or((meta, "untyped"));
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

/// Where the run of sample lines at the start of `s` ends: at the next line that starts with `#`.
/// Searching for the rare `#` (one memchr per family, plus one per `#` inside a label value)
/// is far cheaper than visiting every line.
fn samples_end(s: &str) -> usize {
    let mut from = 0;
    while let Some(i) = s[from..].find('#') {
        let at = from + i;
        if at == 0 || s.as_bytes()[at - 1] == b'\n' {
            return at;
        }
        from = at + 1;
    }
    s.len()
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
        let with_hash = "# TYPE u info\nu_info{url=\"https://h/p#frag\"} 1\nv 2\n# EOF\n";
        assert_eq!(
            from_openmetrics(with_hash),
            "# TYPE u_info gauge\nu_info{url=\"https://h/p#frag\"} 1\nv 2\n"
        );
        assert_eq!(
            text,
            "# HELP a_b_total Help text.\n# TYPE a_b_total counter\na_b_total{x=\"1\"} 3\n\
             # HELP e_info Info.\n# TYPE e_info gauge\ne_info{u=\"v\"} 1\n\
             # HELP g G.\n# TYPE g gauge\ng 1.5\n"
        );
    }
}

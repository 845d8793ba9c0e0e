//! The bundled "Webhook health" Grafana dashboard as data: its panels, its PromQL and SQL targets
//! and its template variables. Shared by the static checks (tests/it/dashboard_static.rs) and the
//! tests that run the queries against a real Prometheus and PostgreSQL
//! (tests/it/dashboard_queries.rs). Only std and serde_json.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

pub const DASHBOARD: &str = "grafana/dashboards/webhook-health.json";

/// One PromQL target of a panel.
#[derive(Debug, Clone)]
pub struct PromTarget {
    pub panel: String,
    pub ref_id: String,
    pub expr: String,
    /// An instant query (current value); otherwise a range query (a time series).
    pub instant: bool,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(rel: &str) -> String {
    let path = repo().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD} is not valid JSON: {e}"))
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// All panels except rows, including panels nested in collapsed rows.
pub fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("dashboard has a panels array") {
        if str_of(p, "type") == "row" {
            if let Some(nested) = p.get("panels").and_then(Value::as_array) {
                out.extend(nested.iter());
            }
        } else {
            out.push(p);
        }
    }
    out
}

pub fn targets(p: &Value) -> Vec<&Value> {
    p.get("targets").and_then(Value::as_array).map(|t| t.iter().collect()).unwrap_or_default()
}

pub fn ds_uid(v: &Value) -> &str {
    v.get("datasource").and_then(|d| d.get("uid")).and_then(Value::as_str).unwrap_or("")
}

pub fn is_sql(t: &Value) -> bool {
    t.get("rawSql").is_some()
}

/// Every PromQL target of every panel.
pub fn prom_targets(d: &Value) -> Vec<PromTarget> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in targets(p) {
            if !is_sql(t) {
                let expr = str_of(t, "expr");
                assert!(
                    !expr.trim().is_empty(),
                    "panel '{}' target {} has no plain `expr`",
                    str_of(p, "title"),
                    str_of(t, "refId")
                );
                out.push(PromTarget {
                    panel: str_of(p, "title").to_string(),
                    ref_id: str_of(t, "refId").to_string(),
                    expr: expr.to_string(),
                    instant: t["instant"] == true,
                });
            }
        }
    }
    out
}

/// (where, rawSql) of every SQL target, panels and annotations.
pub fn sql_targets(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in targets(p) {
            if is_sql(t) {
                out.push((format!("panel '{}'", str_of(p, "title")), str_of(t, "rawSql").to_string()));
            }
        }
    }
    for a in d["annotations"]["list"].as_array().into_iter().flatten() {
        if let Some(t) = a.get("target").filter(|t| is_sql(t)) {
            out.push((format!("annotation '{}'", str_of(a, "name")), str_of(t, "rawSql").to_string()));
        }
    }
    out
}

pub fn variable<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["templating"]["list"]
        .as_array()
        .expect("dashboard has templating.list")
        .iter()
        .find(|v| str_of(v, "name") == name)
        .unwrap_or_else(|| panic!("dashboard has no variable `{name}`"))
}

pub fn window_choices(d: &Value) -> Vec<String> {
    str_of(variable(d, "window"), "query")
        .split(',')
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Every `$name`, `${name}` or `${name:format}` reference in a query text. `$__timeFilter(x)` is
/// reported as `$__timeFilter`.
pub fn variables_in(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        if b.get(i + 1) == Some(&b'{') {
            let end = text[i..].find('}').map(|e| i + e + 1).unwrap_or(b.len());
            out.push(text[i..end].to_string());
            i = end;
        } else {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > i + 1 {
                out.push(text[i..j].to_string());
            }
            i = j.max(i + 1);
        }
    }
    out
}

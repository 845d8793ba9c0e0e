//! A small PromQL scanner: the vector selectors of an expression, with their matchers, range and
//! the function they are the argument of. Enough for the static checks of the dashboard
//! (tests/it/dashboard_static) and of the rules the mixin renders (tests/it/mixin.rs); not a
//! parser (no subqueries, no `{__name__=...}` selectors).

#[derive(Debug)]
pub struct Matcher {
    pub label: String,
    pub op: String,
    pub value: String,
}

#[derive(Debug)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<Matcher>,
    /// The range of a range selector (`[...]`), if any.
    pub range: Option<String>,
    /// The function whose first argument this selector is, e.g. `rate`.
    pub call: Option<String>,
}

impl Selector {
    pub fn matchers_of(&self, label: &str) -> Vec<&Matcher> {
        self.matchers.iter().filter(|m| m.label == label).collect()
    }
}

const PROMQL_KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
];
/// Keywords followed by a parenthesised label list rather than an expression.
const LABEL_LIST_KEYWORDS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Index just past the string literal starting at `i` (quote char at `i`).
fn skip_string(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() && b[j] != q {
        if b[j] == b'\\' && q != b'`' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

fn parse_matchers(body: &str) -> Vec<Matcher> {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        i = skip_ws(b, i);
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_ident(b[i]) {
            i += 1;
        }
        let label = body[start..i].to_string();
        i = skip_ws(b, i);
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| body[i..].starts_with(op))
            .unwrap_or_else(|| panic!("cannot parse matchers `{body}`"));
        i = skip_ws(b, i + op.len());
        assert!(i < b.len() && (b[i] == b'"' || b[i] == b'\''), "matcher value is not quoted in `{body}`");
        let end = skip_string(b, i);
        out.push(Matcher { label, op: op.to_string(), value: body[i + 1..end - 1].to_string() });
        i = skip_ws(b, end);
        if i < b.len() && b[i] == b',' {
            i += 1;
        }
    }
    out
}

/// The vector selectors of a PromQL expression, in order. Good enough for the expressions of
/// this repository's dashboard and rules (no subqueries, no `{__name__=...}` selectors).
pub fn selectors(expr: &str) -> Vec<Selector> {
    let b = expr.as_bytes();
    let mut out: Vec<Selector> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(b, i);
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_digit() || c == b'.' {
            // A number or a duration: never the start of a metric name.
            while i < b.len() && (is_ident(b[i]) || b[i] == b'.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let next = skip_ws(b, i);
            if LABEL_LIST_KEYWORDS.contains(&word) && next < b.len() && b[next] == b'(' {
                i = expr[next..].find(')').map(|e| next + e + 1).expect("unclosed label list");
                continue;
            }
            let grouped_aggregation = ["by", "without"].iter().any(|k| {
                expr[next..].starts_with(k)
                    && !expr[next + k.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
            if PROMQL_KEYWORDS.contains(&word) || grouped_aggregation || (next < b.len() && b[next] == b'(') {
                continue; // keyword, function or aggregation (`sum by (org) (...)`)
            }
            // The function this selector is the first argument of, if any.
            let before = expr[..start].trim_end();
            let call = before.strip_suffix('(').map(|f| {
                let f = f.trim_end();
                let s =
                    f.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map(|p| p + 1).unwrap_or(0);
                f[s..].to_string()
            });
            let mut sel = Selector { metric: word.to_string(), matchers: Vec::new(), range: None, call };
            i = next;
            if i < b.len() && b[i] == b'{' {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'}' {
                    if b[j] == b'"' || b[j] == b'\'' {
                        j = skip_string(b, j);
                    } else {
                        j += 1;
                    }
                }
                sel.matchers = parse_matchers(&expr[i + 1..j]);
                i = skip_ws(b, j + 1);
            }
            if i < b.len() && b[i] == b'[' {
                let end = expr[i..].find(']').map(|e| i + e).expect("unclosed range");
                sel.range = Some(expr[i + 1..end].trim().to_string());
                i = end + 1;
            }
            out.push(sel);
        } else {
            i += 1;
        }
    }
    out
}

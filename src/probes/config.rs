//! Probe settings: `--probe.*` flags (defaults for every target) and `[[probe]]` tables in the
//! config file (per-target settings, which win over the flags because they are more specific).

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::parse::{invalid, parse_duration, ConfigError};

/// Default time between two probes of one target.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Default time a probe waits for the response headers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// GET is what any HTTP client (and `curl`) sends; a webhook endpoint must answer it without a
/// side effect, usually with 401 or 405.
pub const DEFAULT_METHOD: &str = "GET";
/// Answers that prove the endpoint is deployed and its code runs. 404 is left out (the function
/// is not deployed, or the URL is wrong), and so are 429 and every 5xx, which include Supabase's
/// 546 for a worker over its resource limits.
pub const DEFAULT_EXPECT_STATUS: &str = "200-399,400,401,403,405";

/// Methods without side effects: a probe must never look like a webhook delivery.
const METHODS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

#[derive(Debug, Clone, Default, Args)]
pub struct ProbeArgs {
    /// Endpoint to probe, as name=URL (repeatable); reported as component="endpoint:<name>"
    #[arg(long = "probe.target", env = "WHE_PROBE_TARGET", value_name = "NAME=URL")]
    pub targets: Vec<String>,
    /// Time between two probes of a target [default: 15s]
    #[arg(long = "probe.interval", env = "WHE_PROBE_INTERVAL")]
    pub interval: Option<String>,
    /// How long a probe waits for the response before it counts as failed [default: 5s, at most
    /// the interval]
    #[arg(long = "probe.timeout", env = "WHE_PROBE_TIMEOUT")]
    pub timeout: Option<String>,
    /// HTTP method of the probe: GET, HEAD or OPTIONS [default: GET]
    #[arg(long = "probe.method", env = "WHE_PROBE_METHOD")]
    pub method: Option<String>,
    /// HTTP statuses that count as healthy, codes and ranges [default: 200-399,400,401,403,405]
    #[arg(long = "probe.expect-status", env = "WHE_PROBE_EXPECT_STATUS")]
    pub expect_status: Option<String>,
}

/// One `[[probe]]` table of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeFileEntry {
    pub name: String,
    pub url: String,
    pub method: Option<String>,
    pub timeout: Option<String>,
    pub interval: Option<String>,
    pub expect_status: Option<String>,
}

/// A resolved probe target.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTarget {
    pub name: String,
    pub url: url::Url,
    pub method: reqwest::Method,
    pub timeout: Duration,
    pub interval: Duration,
    pub expect: StatusSet,
}

impl ProbeTarget {
    /// The `component` label value.
    pub fn component(&self) -> String {
        format!("endpoint:{}", self.name)
    }
}

/// HTTP status codes and ranges, e.g. `200-399,401`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl StatusSet {
    pub fn parse(setting: &'static str, text: &str) -> Result<StatusSet, ConfigError> {
        let code = |s: &str| -> Result<u16, ConfigError> {
            let n: u16 =
                s.trim().parse().map_err(|_| invalid(setting, text, format!("{s:?} is not a status")))?;
            if !(100..=599).contains(&n) {
                return Err(invalid(setting, text, format!("{n} is not an HTTP status (100-599)")));
            }
            Ok(n)
        };
        let mut ranges = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let range = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => (code(part)?, code(part)?),
            };
            if range.0 > range.1 {
                return Err(invalid(setting, text, format!("empty range {part:?}")));
            }
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err(invalid(setting, text, "no status given"));
        }
        Ok(StatusSet(ranges))
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

/// Flag targets and file targets together. A `--probe.target` whose name a `[[probe]]` table
/// also uses replaces that table's URL and keeps its other settings (flags override the file).
pub fn resolve(args: &ProbeArgs, file: &[ProbeFileEntry]) -> Result<Vec<ProbeTarget>, ConfigError> {
    let mut entries: Vec<ProbeFileEntry> = Vec::new();
    for entry in file {
        if entries.iter().any(|e| e.name == entry.name) {
            return Err(invalid("[[probe]] name", &entry.name, "given twice"));
        }
        entries.push(entry.clone());
    }
    let mut flag_names: Vec<String> = Vec::new();
    for text in &args.targets {
        let (name, url) =
            text.split_once('=').ok_or_else(|| invalid("--probe.target", text, "expected NAME=URL"))?;
        let (name, url) = (name.trim().to_string(), url.trim().to_string());
        if flag_names.contains(&name) {
            return Err(invalid("--probe.target", text, format!("name {name:?} given twice")));
        }
        flag_names.push(name.clone());
        match entries.iter_mut().find(|e| e.name == name) {
            Some(e) => e.url = url,
            None => entries.push(ProbeFileEntry { name, url, ..ProbeFileEntry::default() }),
        }
    }

    let interval = match &args.interval {
        Some(t) => parse_duration("--probe.interval", t)?,
        None => DEFAULT_INTERVAL,
    };
    let timeout = args.timeout.as_deref().map(|t| parse_duration("--probe.timeout", t)).transpose()?;
    let method = parse_method("--probe.method", args.method.as_deref().unwrap_or(DEFAULT_METHOD))?;
    let expect = StatusSet::parse(
        "--probe.expect-status",
        args.expect_status.as_deref().unwrap_or(DEFAULT_EXPECT_STATUS),
    )?;

    entries
        .into_iter()
        .map(|e| {
            let interval = match &e.interval {
                Some(t) => parse_duration("[[probe]] interval", t)?,
                None => interval,
            };
            let target = ProbeTarget {
                url: parse_url(&e.url)?,
                method: match &e.method {
                    Some(m) => parse_method("[[probe]] method", m)?,
                    None => method.clone(),
                },
                timeout: match (&e.timeout, timeout) {
                    (Some(t), _) => parse_duration("[[probe]] timeout", t)?,
                    (None, Some(t)) => t,
                    // A short interval brings the default timeout down with it.
                    (None, None) => DEFAULT_TIMEOUT.min(interval),
                },
                interval,
                expect: match &e.expect_status {
                    Some(s) => StatusSet::parse("[[probe]] expect_status", s)?,
                    None => expect.clone(),
                },
                name: check_name(e.name)?,
            };
            // A probe still running when the next is due would make the reported result stale.
            if target.timeout > target.interval {
                return Err(invalid(
                    "--probe.timeout",
                    &humantime::format_duration(target.timeout).to_string(),
                    format!("longer than the probe interval of target {}", target.name),
                ));
            }
            Ok(target)
        })
        .collect()
}

/// Names become label values: keep them short and plain.
fn check_name(name: String) -> Result<String, ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name)
    } else {
        Err(invalid("probe name", &name, "use 1-64 characters of A-Z a-z 0-9 - _ ."))
    }
}

fn parse_url(text: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(text).map_err(|e| invalid("probe URL", text, e))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("probe URL", text, "expected an http:// or https:// URL"));
    }
    Ok(url)
}

fn parse_method(setting: &'static str, text: &str) -> Result<reqwest::Method, ConfigError> {
    let upper = text.trim().to_ascii_uppercase();
    if !METHODS.contains(&upper.as_str()) {
        return Err(invalid(setting, text, "expected GET, HEAD or OPTIONS"));
    }
    Ok(upper.parse().expect("a standard method"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(targets: &[&str]) -> ProbeArgs {
        ProbeArgs { targets: targets.iter().map(|s| s.to_string()).collect(), ..ProbeArgs::default() }
    }

    #[test]
    fn defaults_fit_an_edge_function_url() {
        let t = resolve(&args(&["edge=https://x.supabase.co/functions/v1/hook"]), &[]).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].component(), "endpoint:edge");
        assert_eq!(t[0].method, reqwest::Method::GET);
        assert_eq!((t[0].interval, t[0].timeout), (DEFAULT_INTERVAL, DEFAULT_TIMEOUT));
        for ok in [200, 204, 301, 400, 401, 403, 405] {
            assert!(t[0].expect.contains(ok), "{ok}");
        }
        for bad in [404, 429, 500, 502, 503, 504, 546] {
            assert!(!t[0].expect.contains(bad), "{bad}");
        }
    }

    #[test]
    fn file_entries_keep_their_settings_and_flags_replace_urls() {
        let file = [ProbeFileEntry {
            name: "edge".into(),
            url: "http://old/".into(),
            timeout: Some("2s".into()),
            expect_status: Some("204".into()),
            ..ProbeFileEntry::default()
        }];
        let t = resolve(&args(&["edge=http://new/", "other=http://o/"]), &file).unwrap();
        assert_eq!(t[0].url.as_str(), "http://new/");
        assert_eq!(t[0].timeout, Duration::from_secs(2));
        assert!(t[0].expect.contains(204) && !t[0].expect.contains(200));
        assert_eq!(t[1].name, "other");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = |a: ProbeArgs| resolve(&a, &[]).unwrap_err().to_string();
        assert!(e(args(&["nourl"])).contains("--probe.target"));
        assert!(e(args(&["a=ftp://x/"])).contains("probe URL"));
        assert!(e(args(&["a b=http://x/"])).contains("probe name"));
        assert!(e(args(&["a=http://x/", "a=http://y/"])).contains("twice"));
        let mut a = args(&["a=http://x/"]);
        a.method = Some("POST".into());
        assert!(e(a).contains("--probe.method"));
        let mut a = args(&["a=http://x/"]);
        a.expect_status = Some("200-600".into());
        assert!(e(a).contains("--probe.expect-status"));
        let mut a = args(&["a=http://x/"]);
        a.timeout = Some("20s".into());
        assert!(e(a).contains("--probe.timeout"));
        let mut a = args(&["a=http://x/"]);
        a.interval = Some("1s".into());
        assert_eq!(resolve(&a, &[]).unwrap()[0].timeout, Duration::from_secs(1), "capped by the interval");
    }
}

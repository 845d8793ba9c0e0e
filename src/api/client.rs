//! Command-line side of the API: `reprocess` (a client of POST /api/v1/reprocess) and
//! `hash-token` (what to configure for a token).

use std::io::Read;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::json;

use super::filter::format_time;

/// Flags of `webhook-health-exporter reprocess`. The token comes from WHE_API_TOKEN only, so that
/// it never shows in a process listing or a shell history.
#[derive(Debug, Clone, Args)]
pub struct ReprocessArgs {
    /// Base URL of an exporter serving the API
    #[arg(long, env = "WHE_API_URL", default_value = "http://127.0.0.1:9877")]
    pub url: String,
    /// Event ids to reprocess (repeatable); or select by --org and --since
    #[arg(long = "event-id")]
    pub event_ids: Vec<String>,
    /// Organizations to reprocess (repeatable)
    #[arg(long = "org")]
    pub orgs: Vec<String>,
    /// Start of the time range: a duration ago (2h, 30m) or an RFC 3339 time
    #[arg(long)]
    pub since: Option<String>,
    /// End of the time range: a duration ago or an RFC 3339 time [default: now]
    #[arg(long)]
    pub until: Option<String>,
    /// Only rejected or only failed events
    #[arg(long)]
    pub outcome: Option<String>,
    /// Rejection reasons (repeatable)
    #[arg(long = "reason")]
    pub reasons: Vec<String>,
    /// Only events answered with this HTTP status code
    #[arg(long = "status-code")]
    pub status_code: Option<u16>,
    /// Only events refused by the webhook (webhook) or whose portal sync was given up (sync)
    #[arg(long)]
    pub stage: Option<String>,
    /// Only sync failures of this error class (repeatable), e.g. portal_unavailable
    #[arg(long = "sync-error-class")]
    pub sync_error_classes: Vec<String>,
    /// Say what would be enqueued, enqueue nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Idempotency-Key to send [default: a new random key, printed]
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Print the whole JSON response
    #[arg(long)]
    pub json: bool,
}

/// A duration ago, or an RFC 3339 time.
fn parse_when(flag: &str, text: &str, now: DateTime<Utc>) -> anyhow::Result<String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(format_time(t.with_timezone(&Utc)));
    }
    let d = humantime::parse_duration(text)
        .with_context(|| format!("{flag} {text:?}: expected a duration such as 2h or an RFC 3339 time"))?;
    Ok(format_time(now - chrono::Duration::from_std(d).context(format!("{flag} is too long"))?))
}

pub fn request_body(a: &ReprocessArgs, now: DateTime<Utc>) -> anyhow::Result<serde_json::Value> {
    if !a.event_ids.is_empty() {
        let filtered = !a.reasons.is_empty() || a.outcome.is_some() || a.stage.is_some();
        if !a.orgs.is_empty() || a.since.is_some() || filtered || !a.sync_error_classes.is_empty() {
            bail!("give either --event-id or a filter (--org, --since, --reason, ...), not both");
        }
        return Ok(json!({ "event_ids": a.event_ids, "dry_run": a.dry_run }));
    }
    if a.orgs.is_empty() {
        bail!("select events with --event-id, or with --org and --since");
    }
    let since = a.since.as_deref().context("--since is required with --org (e.g. --since 2h)")?;
    let mut filter = json!({ "orgs": a.orgs, "since": parse_when("--since", since, now)? });
    if let Some(until) = &a.until {
        filter["until"] = parse_when("--until", until, now)?.into();
    }
    if let Some(outcome) = &a.outcome {
        filter["outcome"] = outcome.clone().into();
    }
    if !a.reasons.is_empty() {
        filter["reasons"] = a.reasons.clone().into();
    }
    if let Some(code) = a.status_code {
        filter["status_code"] = code.into();
    }
    if let Some(stage) = &a.stage {
        filter["stage"] = stage.clone().into();
    }
    if !a.sync_error_classes.is_empty() {
        filter["sync_error_classes"] = a.sync_error_classes.clone().into();
    }
    Ok(json!({ "filter": filter, "dry_run": a.dry_run }))
}

pub async fn reprocess(a: ReprocessArgs) -> anyhow::Result<()> {
    let token = std::env::var("WHE_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .context("set WHE_API_TOKEN to an API token (or a JWT) of a global admin")?;
    let body = request_body(&a, Utc::now())?;
    let key = a.idempotency_key.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let url = format!("{}/api/v1/reprocess", a.url.trim_end_matches('/'));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let response = client
        .post(&url)
        .bearer_auth(token.trim())
        .header("Idempotency-Key", &key)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("calling {url}"))?;
    let status = response.status();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let text = response.text().await.context("reading the response")?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if !status.is_success() {
        let message =
            value["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
        bail!("{status}: {message}");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let t = &value["totals"];
    let n = |k: &str| t[k].as_i64().unwrap_or(0);
    println!(
        "{}request {} (Idempotency-Key {key}{}): requested {}, {} {}, already pending {}, not found {}, not eligible {}",
        if a.dry_run { "dry run: " } else { "" },
        value["request_id"].as_str().unwrap_or("?"),
        if replayed { ", replayed" } else { "" },
        n("requested"),
        if a.dry_run { "would enqueue" } else { "enqueued" },
        if a.dry_run { n("would_enqueue") } else { n("enqueued") },
        n("already_pending"),
        n("not_found"),
        n("not_eligible"),
    );
    Ok(())
}

/// Reads a token on stdin and prints its sha256, as `--api.token-sha256` wants it.
pub fn hash_token(mut input: impl Read) -> anyhow::Result<String> {
    let mut text = String::new();
    input.read_to_string(&mut text).context("reading the token from stdin")?;
    let token = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    if token.is_empty() {
        bail!("no token on stdin (e.g. `printf %s \"$TOKEN\" | webhook-health-exporter hash-token`)");
    }
    Ok(hex::encode(crate::access::auth::token_sha256(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_ignore_one_trailing_newline() {
        let a = hash_token("test\n".as_bytes()).unwrap();
        assert_eq!(a, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        assert_eq!(hash_token("test".as_bytes()).unwrap(), a);
        assert!(hash_token("".as_bytes()).is_err());
    }

    #[test]
    fn filters_turn_durations_into_times() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().with_timezone(&Utc);
        let a = ReprocessArgs {
            url: String::new(),
            event_ids: vec![],
            orgs: vec!["contoso".into()],
            since: Some("2h".into()),
            until: None,
            outcome: None,
            reasons: vec!["invalid_auth".into()],
            status_code: Some(401),
            stage: Some("sync".into()),
            sync_error_classes: vec!["timeout".into()],
            dry_run: true,
            idempotency_key: None,
            json: false,
        };
        let body = request_body(&a, now).unwrap();
        assert_eq!(body["filter"]["since"], "2024-05-01T10:00:00.000000Z");
        assert_eq!(body["filter"]["status_code"], 401);
        assert_eq!(
            (&body["filter"]["stage"], &body["filter"]["sync_error_classes"][0]),
            (&json!("sync"), &json!("timeout"))
        );
        assert_eq!(body["dry_run"], true);
    }
}

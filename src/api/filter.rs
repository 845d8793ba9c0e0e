//! Validation of what callers select: org ids, outcomes, reasons, status codes, times, event ids.
//! Everything is checked against a pattern before it reaches SQL (where it is a bind parameter in
//! any case), and each refusal names the field.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::access::ApiError;
use crate::domain::sync::SyncErrorClass;
use crate::domain::Outcome;
use crate::store::reprocess::{EventFilter, Stage};

/// Most orgs and reasons one filter may list.
pub const MAX_ORGS: usize = 100;
pub const MAX_REASONS: usize = 20;

/// The org id pattern of the log store's `organizations.org_id`.
pub fn valid_org(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// Rejection reasons are snake_case words (see the vocabulary in docs/metrics.md).
pub fn valid_reason(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

pub fn parse_orgs(field: &str, orgs: &[String]) -> Result<Vec<String>, ApiError> {
    if orgs.len() > MAX_ORGS {
        return Err(ApiError::unprocessable(
            "too_many_values",
            format!("{field} lists {} orgs; at most {MAX_ORGS} per request", orgs.len()),
        ));
    }
    for o in orgs {
        if !valid_org(o) {
            return Err(ApiError::unprocessable(
                "invalid_org",
                format!("{field}: an org id is 1 to 63 characters of a-z, 0-9, _ and -, starting with a letter or digit"),
            ));
        }
    }
    Ok(dedup(orgs))
}

pub fn parse_reasons(field: &str, reasons: &[String]) -> Result<Vec<String>, ApiError> {
    if reasons.len() > MAX_REASONS {
        return Err(ApiError::unprocessable(
            "too_many_values",
            format!("{field} lists {} reasons; at most {MAX_REASONS} per request", reasons.len()),
        ));
    }
    if reasons.iter().any(|r| !valid_reason(r)) {
        return Err(ApiError::unprocessable(
            "invalid_reason",
            format!("{field}: a rejection reason is 1 to 64 characters of a-z, 0-9 and _"),
        ));
    }
    Ok(dedup(reasons))
}

/// The outcomes an error event can have: every outcome of the vocabulary but `accepted`.
pub fn error_outcomes() -> impl Iterator<Item = Outcome> {
    Outcome::ALL.into_iter().filter(|o| *o != Outcome::Accepted)
}

pub fn parse_outcome(field: &str, outcome: &str) -> Result<String, ApiError> {
    match error_outcomes().find(|o| o.as_str() == outcome) {
        Some(o) => Ok(o.as_str().to_string()),
        None => Err(ApiError::unprocessable(
            "invalid_outcome",
            format!("{field} must be rejected or failed (only error events are listed and reprocessed)"),
        )),
    }
}

pub fn parse_stage(field: &str, stage: &str) -> Result<Stage, ApiError> {
    Stage::parse(stage).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_stage",
            format!(
                "{field} must be webhook (refused by the webhook), sync (given up by the portal sync) \
                 or unaccounted (accepted, and nothing became of it)"
            ),
        )
    })
}

pub fn parse_sync_error_classes(field: &str, classes: &[String]) -> Result<Vec<String>, ApiError> {
    let all = SyncErrorClass::ALL;
    if classes.len() > all.len() {
        return Err(ApiError::unprocessable(
            "too_many_values",
            format!("{field} lists {} classes; there are {}", classes.len(), all.len()),
        ));
    }
    if let Some(bad) = classes.iter().find(|c| !all.iter().any(|k| k.as_str() == c.as_str())) {
        let shown: String = bad.chars().take(40).collect();
        let names: Vec<&str> = all.iter().map(|k| k.as_str()).collect();
        return Err(ApiError::unprocessable(
            "invalid_sync_error_class",
            format!("{field}: {shown:?} is not a sync error class; expected one of {}", names.join(", ")),
        ));
    }
    Ok(dedup(classes))
}

pub fn parse_status(field: &str, code: i64) -> Result<i32, ApiError> {
    if (100..=599).contains(&code) {
        Ok(code as i32)
    } else {
        Err(ApiError::unprocessable(
            "invalid_status_code",
            format!("{field} must be an HTTP status code, 100 to 599"),
        ))
    }
}

pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        ApiError::unprocessable(
            "invalid_time",
            format!("{field} must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z"),
        )
    })
}

/// Event ids in the canonical hyphenated form only, so that one event has one spelling.
pub fn parse_event_id(field: &str, text: &str) -> Result<Uuid, ApiError> {
    match Uuid::try_parse(text) {
        Ok(id) if text.len() == 36 => Ok(id),
        _ => Err(ApiError::unprocessable(
            "invalid_event_id",
            format!("{field} must be a UUID such as 5f0c3c3e-6c2b-4d2a-9a59-8f1f0c6f1a11"),
        )),
    }
}

/// Times as the API writes them.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

/// A field that may be left out but not given as null (the schema says so, and callers who send
/// null usually meant something else).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The filter of a reprocess request, as sent.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilterInput {
    pub orgs: Vec<String>,
    pub since: String,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub sync_error_classes: Option<Vec<String>>,
}

impl FilterInput {
    /// A reprocess filter must name the orgs and the start of the time range, so that a request
    /// cannot select everything by leaving the filter empty.
    pub fn validate(&self) -> Result<EventFilter, ApiError> {
        if self.orgs.is_empty() {
            return Err(ApiError::unprocessable("invalid_filter", "filter.orgs must name at least one org"));
        }
        Ok(EventFilter {
            orgs: parse_orgs("filter.orgs", &self.orgs)?,
            outcome: self.outcome.as_deref().map(|o| parse_outcome("filter.outcome", o)).transpose()?,
            reasons: parse_reasons("filter.reasons", self.reasons.as_deref().unwrap_or_default())?,
            status_code: self.status_code.map(|c| parse_status("filter.status_code", c)).transpose()?,
            since: Some(parse_time("filter.since", &self.since)?),
            until: self.until.as_deref().map(|u| parse_time("filter.until", u)).transpose()?,
            stage: self.stage.as_deref().map(|s| parse_stage("filter.stage", s)).transpose()?,
            sync_error_classes: parse_sync_error_classes(
                "filter.sync_error_classes",
                self.sync_error_classes.as_deref().unwrap_or_default(),
            )?,
            unaccounted: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_hold() {
        assert!(valid_org("contoso") && valid_org("org-0010") && valid_org("a_b"));
        assert!(!valid_org("") && !valid_org("-x") && !valid_org("Contoso") && !valid_org("x' OR '1'='1"));
        assert!(!valid_org(&"a".repeat(64)));
        assert!(valid_reason("invalid_auth") && !valid_reason("x;drop table"));
        assert!(parse_event_id("id", "5f0c3c3e-6c2b-4d2a-9a59-8f1f0c6f1a11").is_ok());
        assert!(parse_event_id("id", "5f0c3c3e6c2b4d2a9a598f1f0c6f1a11").is_err());
        assert!(parse_event_id("id", "{5f0c3c3e-6c2b-4d2a-9a59-8f1f0c6f1a11}").is_err());
        assert_eq!(parse_stage("stage", "sync").unwrap(), Stage::Sync);
        assert_eq!(parse_stage("stage", "portal").unwrap_err().code, "invalid_stage");
        let classes = ["timeout".to_string(), "timeout".to_string()];
        assert_eq!(parse_sync_error_classes("c", &classes).unwrap(), ["timeout"]);
        let e = parse_sync_error_classes("c", &["Timeout".to_string()]).unwrap_err();
        assert!(e.message.contains("portal_unavailable"), "{}", e.message);
    }
}

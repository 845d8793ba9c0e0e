//! Refused callers, logged and counted in one place: the API's guard and the ingestion endpoints'
//! extractor both call [`refuse`], so a refusal reads the same in the log and in
//! `webhook_api_refused_requests_total` whichever route it happened on.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath};
use axum::http::request::Parts;

use super::auth::Principal;
use crate::reprocess_counters::{Refusal, ReprocessCounters};

/// Logs and counts a caller refused for its credential; returns the route pattern it was
/// counted under.
pub fn refuse<'p>(
    counters: &ReprocessCounters,
    parts: &'p Parts,
    principal: Option<&Principal>,
    refusal: Refusal,
) -> &'p str {
    // The route pattern, not the path: a label value must come from a bounded set.
    let route = parts.extensions.get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    let remote_addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string());
    let remote_addr = remote_addr.as_deref().unwrap_or("-");
    match principal {
        None => tracing::warn!(route, remote_addr, "API request refused: not authenticated"),
        Some(p) => tracing::warn!(route, remote_addr, principal = %p.name,
            "API request refused: not a global admin"),
    }
    counters.record_refusal(route, refusal);
    route
}

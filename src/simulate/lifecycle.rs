//! The simulator's Edge Function lifecycle events take the platform's path: posted, shaped as a
//! self-hosted edge runtime's event worker forwards them, to an exporter's ingestion endpoint
//! (`POST /api/v1/lifecycle/edge-runtime`), never inserted directly.

use std::fmt;
use std::time::Duration;

use chrono::SecondsFormat;
use serde_json::{json, Value};

use crate::ingest::EDGE_RUNTIME_ROUTE;
use crate::store::NewLifecycleEvent;

/// Events per request: the endpoint takes at most 500.
const BATCH: usize = 500;
/// How long a batch is retried (connection refused while the exporter starts, a 5xx).
const RETRY_FOR: Duration = Duration::from_secs(30);

/// Where lifecycle events go: an exporter's base URL and an ingestion token.
#[derive(Clone)]
pub struct IngestTarget {
    pub url: String,
    pub token: String,
}

impl fmt::Debug for IngestTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestTarget").field("url", &self.url).field("token", &"***").finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("posting lifecycle events to {endpoint} failed: {reason}")]
pub struct SendError {
    endpoint: String,
    reason: String,
}

pub struct LifecycleSender {
    client: reqwest::Client,
    endpoint: String,
    token: String,
}

impl LifecycleSender {
    pub fn new(target: &IngestTarget) -> LifecycleSender {
        LifecycleSender {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
            endpoint: format!("{}{EDGE_RUNTIME_ROUTE}", target.url.trim_end_matches('/')),
            token: target.token.clone(),
        }
    }

    /// Posts the events in batches; a batch that fails is sent again, with the same ids, so the
    /// endpoint never counts an event twice.
    pub async fn send(&self, events: &[NewLifecycleEvent]) -> Result<(), SendError> {
        for chunk in events.chunks(BATCH) {
            let body = json!({ "events": chunk.iter().map(runtime_event).collect::<Vec<_>>() });
            self.post(&body).await?;
        }
        Ok(())
    }

    async fn post(&self, body: &Value) -> Result<(), SendError> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let sent = self.client.post(&self.endpoint).bearer_auth(&self.token).json(body).send().await;
            let retry = match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().is_server_error() => format!("answered {}", r.status()),
                Ok(r) => {
                    let status = r.status();
                    return Err(
                        self.error(format!("answered {status}: {}", r.text().await.unwrap_or_default()))
                    );
                }
                Err(e) => e.to_string(),
            };
            if started.elapsed() > RETRY_FOR {
                return Err(self.error(retry));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    fn error(&self, reason: String) -> SendError {
        SendError { endpoint: self.endpoint.clone(), reason }
    }
}

/// One event as the runtime's `EventManager` yields it, with the id an event worker assigns.
pub fn runtime_event(e: &NewLifecycleEvent) -> Value {
    let detail = e.detail.clone().unwrap_or_default();
    let event = match e.event_type {
        "Boot" => json!({ "boot_time": 27 }),
        "BootFailure" => json!({ "msg": detail }),
        "UncaughtException" => json!({ "exception": detail, "cpu_time_used": 4 }),
        "Shutdown" => json!({
            "reason": e.shutdown_reason.unwrap_or("EventLoopCompleted"),
            "cpu_time_used": 18,
            "memory_used": { "total": 21_495_808, "heap": 16_252_928, "external": 5_242_880,
                             "mem_check_captured": { "exceeded": e.shutdown_reason == Some("Memory") } },
        }),
        _ => json!({ "msg": detail, "level": "Info" }),
    };
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": e.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "event_type": e.event_type,
        "event": event,
        "metadata": {
            "service_path": format!("/home/deno/functions/{}", e.function_name),
            "execution_id": uuid::Uuid::new_v4().to_string(),
            "otel_attributes": {},
        },
    })
}

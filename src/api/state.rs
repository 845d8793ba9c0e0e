//! What every API handler is given, and the routes the guard counts refusals under.

use std::sync::Arc;

use futures::future::BoxFuture;
use uuid::Uuid;

use crate::access::auth::Authenticator;
use crate::failure_counters::FailureCounters;
use crate::reprocess_counters::ReprocessCounters;
use crate::store::reprocess::{EventFilter, Stage};
use crate::store::Store;

use super::config::Limits;

pub const OPENAPI_ROUTE: &str = "/api/v1/openapi.json";
pub const EVENTS_ROUTE: &str = "/api/v1/events";
pub const REPROCESS_ROUTE: &str = "/api/v1/reprocess";

#[derive(Clone)]
pub struct ApiState {
    pub(super) store: Store,
    pub(super) auth: Arc<Authenticator>,
    pub(super) limits: Limits,
    pub(super) counters: Arc<ReprocessCounters>,
    /// Where the handlers' store failures are logged and counted.
    pub(super) failures: Arc<FailureCounters>,
    pub(super) openapi: Arc<String>,
    pub(super) unaccounted: UnaccountedEvents,
}

/// The events the collector counts as unaccounted for, as of a refresh made for the request.
pub type UnaccountedEvents = Arc<dyn Fn() -> BoxFuture<'static, Vec<Uuid>> + Send + Sync>;

impl ApiState {
    /// Gives a filter of the stage `unaccounted` its candidates: finding them in SQL would read
    /// every accepted event of the window at each request.
    pub(super) async fn find_unaccounted(&self, filter: &mut EventFilter) {
        if filter.stage == Some(Stage::Unaccounted) {
            filter.unaccounted = (self.unaccounted)().await;
        }
    }
}

//! What every API handler is given, and the routes the guard counts refusals under.

use std::sync::Arc;

use crate::access::auth::Authenticator;
use crate::failure_counters::FailureCounters;
use crate::reprocess_counters::ReprocessCounters;
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
}

//! What every API handler is given, and the routes the guard counts refusals under.

use std::sync::Arc;

use crate::access::auth::Authenticator;
use crate::reprocess_counters::ReprocessCounters;
use crate::store::Store;

use super::config::Limits;

pub(super) const EVENTS_ROUTE: &str = "/api/v1/events";
pub(super) const REPROCESS_ROUTE: &str = "/api/v1/reprocess";

#[derive(Clone)]
pub struct ApiState {
    pub(super) store: Store,
    pub(super) auth: Arc<Authenticator>,
    pub(super) limits: Limits,
    pub(super) counters: Arc<ReprocessCounters>,
    pub(super) openapi: Arc<String>,
}

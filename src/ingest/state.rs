//! What the ingestion handler is given: the store, the ingestion credential, the limits and
//! the counters it reports into.

use std::sync::Arc;

use super::config::IngestLimits;
use crate::access::auth::Authenticator;
use crate::failure_counters::FailureCounters;
use crate::lifecycle_counters::LifecycleCounters;
use crate::reprocess_counters::ReprocessCounters;
use crate::store::Store;

#[derive(Clone)]
pub struct IngestState {
    pub(super) store: Store,
    pub(super) auth: Arc<Authenticator>,
    pub(super) limits: IngestLimits,
    /// Refusals for the credential, counted with the API's (`webhook_api_refused_requests_total`).
    pub(super) refusals: Arc<ReprocessCounters>,
    pub(super) counters: Arc<LifecycleCounters>,
    /// Where the store's failures to write a batch are logged and counted.
    pub(super) failures: Arc<FailureCounters>,
}

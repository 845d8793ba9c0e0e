//! Sync failures on a pgmq queue, through the store: a message whose reader vanished (in flight
//! past its visibility timeout) is listed abandoned; a logged give-up (the message archived) is
//! listed given up, reprocessed once (flagged pending while its reprocess waits or retries), and
//! leaves the listing when the reprocess succeeds.

use std::time::Duration;

use chrono::Utc;
use webhook_health_exporter::domain::sync::{SyncErrorClass, SyncOutcome};
use webhook_health_exporter::store::reprocess::{
    Disposition, EventFilter, ReprocessOutcome, Stage, StoredResponse, SyncState,
};
use webhook_health_exporter::store::sync::{Claim, Finish};
use webhook_health_exporter::store::Store;

use crate::api_support::reprocess_by_ids;
use crate::support::{pgmq, receive_accepted};

async fn sync_failures(store: &Store) -> Vec<(uuid::Uuid, SyncState, bool)> {
    let filter = EventFilter { stage: Some(Stage::Sync), ..EventFilter::default() };
    let listed = store.error_events(&filter, None, 100).await.unwrap();
    listed.iter().map(|e| (e.event_id, e.sync_failure.as_ref().unwrap().state, e.reprocess_pending)).collect()
}

fn claim(worker: &str, lease_ms: u64) -> Claim<'_> {
    Claim { worker, limit: 1, lease: Duration::from_millis(lease_ms), max_attempts: 5 }
}

async fn reprocess(store: &Store, key: &str, event: uuid::Uuid) -> Disposition {
    let render = |_: &_| StoredResponse { http_status: 200, body: "{}".into() };
    match store.reprocess(reprocess_by_ids("ops", "token", key, key, vec![event]), render).await.unwrap() {
        ReprocessOutcome::Completed { resolution, .. } => resolution.events[0].1,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgmq_sync_failures_are_listed_reprocessed_and_resolved() {
    let (_url, store) = pgmq::fresh_pgmq().await;
    let [lost, failed] = receive_accepted(&store, "contoso", 2, Utc::now(), true).await[..] else {
        unreachable!()
    };

    // The first message's reader vanishes: in flight past its visibility timeout.
    let held = store.sync_claim(&claim("vanished", 0)).await.unwrap();
    assert_eq!(held[0].event_id, lost);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(sync_failures(&store).await, [(lost, SyncState::Abandoned, false)]);
    // Not enqueued again: the next read hands it out by itself.
    assert_eq!(reprocess(&store, "k0", lost).await, Disposition::AlreadyPending);

    // The next reads: the lost attempt logged abandoned, then both end; the second given up.
    let again = store.sync_claim(&claim("w1", 60_000)).await.unwrap();
    assert_eq!((again[0].event_id, again[0].attempt), (lost, 2));
    assert!(store.sync_finish(again[0].item_id, 2, &Finish::succeeded()).await.unwrap());
    let next = store.sync_claim(&claim("w1", 60_000)).await.unwrap();
    assert_eq!(next[0].event_id, failed);
    let give_up = Finish::failed(SyncOutcome::GaveUp, SyncErrorClass::PortalRejected, Some(400), "no");
    assert!(store.sync_finish(next[0].item_id, 1, &give_up).await.unwrap());
    let filter = EventFilter { stage: Some(Stage::Sync), ..EventFilter::default() };
    let listed = store.error_events(&filter, None, 100).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let f = listed[0].sync_failure.as_ref().unwrap();
    assert_eq!(
        (
            listed[0].event_id,
            f.state,
            f.error_class.as_deref(),
            f.http_status,
            f.attempts,
            f.worker.as_deref()
        ),
        (failed, SyncState::GivenUp, Some("portal_rejected"), Some(400), 1, Some("w1"))
    );
    assert!(f.given_up_at.is_some());

    // Reprocessed once; listed pending while the reprocess retries; gone once it succeeds.
    assert_eq!(reprocess(&store, "k1", failed).await, Disposition::Enqueued);
    assert_eq!(reprocess(&store, "k2", failed).await, Disposition::AlreadyPending);
    assert_eq!(sync_failures(&store).await, [(failed, SyncState::GivenUp, true)]);
    let item = store.sync_claim(&claim("w2", 60_000)).await.unwrap().remove(0);
    assert!(item.reprocess);
    let mut retry = Finish::failed(SyncOutcome::Retrying, SyncErrorClass::Timeout, None, "slow");
    retry.retry_in = Duration::ZERO;
    assert!(store.sync_finish(item.item_id, item.attempt, &retry).await.unwrap());
    assert_eq!(sync_failures(&store).await, [(failed, SyncState::GivenUp, true)]);
    let item = store.sync_claim(&claim("w2", 60_000)).await.unwrap().remove(0);
    assert!(store.sync_finish(item.item_id, item.attempt, &Finish::succeeded()).await.unwrap());
    assert_eq!(sync_failures(&store).await, []);
}

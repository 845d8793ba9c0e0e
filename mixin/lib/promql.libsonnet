// The exporter's metrics as PromQL, written once for the rules and the dashboard alike.
//
// Metric names, their labels and the replica de-duplication live here and nowhere else: a change
// to the per-org metric set (docs/metrics.md) is a change to this file. Every selector is built by
// `sel`, which puts _config.selector first, so no rule or panel names the scrape job itself.
// The rejection reasons that mean "the shared webhook key is missing or wrong" (docs/metrics.md).
local authReasons = ['missing_auth', 'invalid_auth'];

{
  authReasons:: authReasons,

  new(config):: {
    local c = config,
    local sel(metric, matchers) = metric + '{' + std.join(', ', [c.selector] + matchers) + '}',

    // metric{<_config.selector>, <matchers>}
    sel(metric, matchers=[]):: sel(metric, matchers),

    // Replicas of one job read the same log store and report the same figures: keep one of them
    // (max), never add them up. Different jobs stay apart. `by` lists what else to keep.
    dedup(expr, by=[]):: 'max by (%s) (%s)' % [std.join(', ', ['job'] + by), expr],
    perOrg(expr, by=[]):: self.dedup(expr, ['org'] + by),

    window(name):: 'window="%s"' % name,
    notUnknown:: 'org!="%s"' % c.unknownOrg,

    // ---- exact window gauges, per exporter instance (label `window`)
    // Payloads that reached the endpoint in the window.
    received(matchers):: sel('webhook_window_payloads_received', matchers),
    // Payloads rejected in the window, every reason together (0 included).
    rejected(matchers):: sel('webhook_window_payloads_rejected', matchers),
    // ... by `reason` and `code`: only the pairs that occurred in the window have a series.
    rejectedByReason(matchers):: sel('webhook_window_payloads_rejected_by_reason', matchers),
    // ... for the auth reasons only (no series when there were none).
    rejectedAuth(matchers)::
      'sum without (reason, code) (%s)' % self.rejectedByReason(matchers + ['reason=~"%s"' % std.join('|', authReasons)]),
    // Accepted, then failed in processing (a series only while above 0).
    failed(matchers):: sel('webhook_window_payloads_failed', matchers),
    // 0 where the selection has organizations, nothing where it has none: `sum(sparse) or
    // this` shows 0 for "none pending / no failures" without inventing data for a missing job.
    zeroIfAny(matchers):: '0 * sum(%s)' % self.perOrg(self.received(matchers)),
    // `expr` per org, 0 for the orgs it has no series for (sparse series in a per-org table).
    orZero(expr, matchers):: '%s or on (job, org) (0 * %s)' % [expr, self.perOrg(self.received(matchers))],

    // ---- counters, as rates (per org: received only; reasons, codes and failures are counted
    // over all orgs, and told apart per org in the windows: docs/metrics.md, "The series budget")
    receivedRate(matchers, range):: 'rate(%s[%s])' % [sel('webhook_payloads_received_total', matchers), range],

    // ---- the portal sync service (docs/metrics.md, "The sync service")
    // Items synced (succeeded attempts finished) in the window, per org: dense, 0 included.
    synced(matchers):: sel('webhook_sync_window_items_synced', matchers),
    // Items given up in the window: a series only while above 0.
    givenUp(matchers):: sel('webhook_sync_window_items_given_up', matchers),
    // Accepted payloads of the window neither synced, waiting, in flight nor given up: a series
    // only while above 0 (0 on a healthy pipeline).
    unaccounted(matchers):: sel('webhook_sync_window_events_unaccounted', matchers),
    // Last successful sync of the org (absent until its first).
    lastSyncSuccess(matchers):: sel('webhook_sync_last_success_timestamp_seconds', matchers),
    // Queue items: waiting (pending, sparse), in flight (processing, sparse), in flight past
    // their lease (sparse), and the oldest waiting item's age (only while some wait).
    waiting(matchers):: sel('webhook_queue_depth', matchers),
    inFlight(matchers):: sel('webhook_queue_in_flight', matchers),
    leaseExpired(matchers):: sel('webhook_queue_lease_expired', matchers),
    oldestWaiting(matchers):: sel('webhook_queue_oldest_age_seconds', matchers),
    // Over all orgs: attempts by outcome, error_class and code; the end-to-end lag histogram.
    syncAttemptsRate(matchers, range):: 'rate(%s[%s])' % [sel('webhook_sync_attempts_total', matchers), range],
    // The `quantile` of the lag (received -> synced) over `range`, one replica per job.
    syncLagQuantile(quantile, matchers, range, by=[])::
      'histogram_quantile(%s, %s)' % [
        quantile,
        self.dedup('rate(%s[%s])' % [sel('webhook_sync_lag_seconds_bucket', matchers), range], by + ['le']),
      ],

    // ---- recording rules (rules.libsonnet), named level:metric:operations
    // (https://prometheus.io/docs/practices/rules/; alerting-rules/README.md explains them).
    local hour = '_' + c.windows.hour,
    local day = '_' + c.windows.day,
    recorded:: {
      received: 'job_org:webhook_window_payloads_received%s:max' % hour,
      rejected: 'job_org:webhook_window_payloads_rejected%s:max' % hour,
      rejectedAuth: 'job_org:webhook_window_payloads_rejected_auth%s:max' % hour,
      rejectedRatio: 'job_org:webhook_window_payloads_rejected_per_received%s:ratio' % hour,
      rejectedAuthRatio: 'job_org:webhook_window_payloads_rejected_auth_per_received%s:ratio' % hour,
      synced: 'job_org:webhook_sync_window_items_synced%s:max' % hour,
      givenUp: 'job_org:webhook_sync_window_items_given_up%s:max' % hour,
      // synced + given up: the items the sync service finished with in the hour.
      finished: 'job_org:webhook_sync_window_items_finished%s:max' % hour,
      givenUpRatio: 'job_org:webhook_sync_window_items_given_up_per_finished%s:ratio' % hour,
      receivedDayBaseline:
        'job_org:webhook_window_payloads_received%s:max_over_time%s' % [day, c.alerts.silenceBaselineStep],
    },
  },
}

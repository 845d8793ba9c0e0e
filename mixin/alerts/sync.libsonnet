// The alerts about the portal sync service, which works off the queue of accepted payloads into
// the portal: items given up, processing stalled (one org, or the whole service), end-to-end lag,
// payloads that vanished between the endpoint and the portal, and leases left to expire. Per-org
// alerts carry `job` and `org` and join on both, as the traffic alerts do; the reasons behind
// each threshold are in docs/runbook.md, the values in config.libsonnet.
local alert = import '../lib/alert.libsonnet';
local fmt = import '../lib/format.libsonnet';
local promql = import '../lib/promql.libsonnet';

function(c) {
  local m = promql.new(c),
  local r = m.recorded,
  local a = c.alerts,
  local byOrg = '$labels.job $labels.org',
  local count = 'value | printf "%.0f"',
  local hour = fmt.last(fmt.seconds(c.windows.hour)),
  local day = fmt.last(fmt.seconds(c.windows.day)),
  local stall = fmt.num(a.syncStalledSeconds),
  local oldest = m.perOrg(m.oldestWaiting([])),
  local lastSuccess = m.lastSyncSuccess([]),

  rules: [
    alert.new(
      c,
      'WebhookSyncGiveUps',
      'warning',
      // Given up / (synced + given up) over the rolling hour, from the exact window gauges via
      // the recording rules (which supply the 0 of orgs without give-ups). STRICTLY above the
      // ratio, and only with enough finished items that one give-up alone cannot page.
      |||
        %(ratio)s > %(threshold)s
        and on (job, org)
        %(finished)s >= %(min)s
      ||| % {
        ratio: r.givenUpRatio,
        threshold: fmt.num(a.syncGiveUpRatio),
        finished: r.finished,
        min: fmt.num(a.syncGiveUpMinFinished),
      },
      'The portal sync service gave up on more than %s of an organization\'s items in %s.' % [
        fmt.percent(a.syncGiveUpRatio),
        hour,
      ],
      |||
        Org {{ $labels.org }}: the portal sync service gave up on {{ $value | humanizePercentage }}
        of the items it finished in %s
        (%s
        of %s;
        threshold %s). Those payloads were accepted but never reached the portal; they wait in
        state failed for a fix and a reprocess.
      ||| % [
        hour,
        alert.lookup(r.givenUp + '{job=%q,org=%q}', byOrg, count),
        alert.lookup(r.finished + '{job=%q,org=%q}', byOrg, count),
        fmt.percent(a.syncGiveUpRatio),
      ],
      holdFor=a.syncGiveUpFor,
    ),

    alert.new(
      c,
      'WebhookSyncStalled',
      'warning',
      // The value is the oldest waiting item's age. It has waited longer than the threshold and
      // no sync of the org succeeded in that time; an org that never synced has no last-success
      // series, so `unless` keeps it firing. No `for`: the threshold already is a duration.
      |||
        (
          %(oldest)s > %(stall)s
          and on (job, org)
          %(waiting)s > 0
        )
        unless on (job, org)
        (time() - %(success)s <= %(stall)s)
      ||| % {
        oldest: oldest,
        waiting: m.perOrg(m.waiting([])),
        success: m.perOrg(lastSuccess),
        stall: stall,
      },
      "The portal sync service has synced nothing for an organization whose items are waiting.",
      |||
        Org {{ $labels.org }}'s oldest waiting item has waited {{ $value | humanizeDuration }}
        (%s
        waiting) and no sync of the org succeeded in %s (last success:
        %s).
        Its payloads are not reaching the portal.
      ||| % [
        alert.lookup('max(webhook_queue_depth{job=%q,org=%q})', byOrg, count),
        fmt.last(a.syncStalledSeconds),
        alert.lookup(
          'max(webhook_sync_last_success_timestamp_seconds{job=%q,org=%q})',
          byOrg,
          'value | humanizeTimestamp',
          'never',
        ),
      ],
    ),

    alert.new(
      c,
      'WebhookSyncServiceDown',
      'critical',
      // The value is the number of stalled orgs: items waiting longer than the threshold in at
      // least syncServiceDownMinOrgs orgs, and no sync of ANY org of the job succeeded in that
      // time (absent when the job never synced at all: `unless` keeps it firing then too).
      |||
        count by (job) (%(oldest)s > %(stall)s) >= %(minOrgs)s
        unless on (job)
        (time() - max by (job) (%(success)s) <= %(stall)s)
      ||| % {
        oldest: oldest,
        success: lastSuccess,
        stall: stall,
        minOrgs: fmt.num(a.syncServiceDownMinOrgs),
      },
      'The portal sync service has synced nothing for any organization while items wait.',
      |||
        Items of {{ $value | printf "%%.0f" }} organizations (job {{ $labels.job }}) have waited
        more than %s and no sync of any organization succeeded in that time (last success:
        %s).
        The portal sync service is down, cannot claim items, or cannot reach the portal at all.
      ||| % [
        fmt.words(a.syncStalledSeconds),
        alert.lookup(
          'max(webhook_sync_last_success_timestamp_seconds{job=%q})',
          '$labels.job',
          'value | humanizeTimestamp',
          'never',
        ),
      ],
    ),

    alert.new(
      c,
      'WebhookSyncLagHigh',
      'warning',
      // Over all orgs (the histogram has no org label). NaN, so no alert, while nothing synced
      // in the range: WebhookSyncStalled covers that.
      '%s > %s\n' % [
        m.syncLagQuantile(fmt.num(a.syncLagQuantile), [], a.syncLagRange),
        fmt.num(a.syncLagSeconds),
      ],
      'Payloads take more than %s from the endpoint to the portal.' % fmt.words(a.syncLagSeconds),
      |||
        The %s end-to-end lag (payload received -> synced to the portal) of job {{ $labels.job }}
        over %s is {{ $value | humanizeDuration }} (threshold %s): more than %s of the syncs
        took longer than that.
      ||| % [
        'p' + fmt.num(a.syncLagQuantile * 100),
        fmt.last(fmt.seconds(a.syncLagRange)),
        fmt.words(a.syncLagSeconds),
        fmt.percent(1 - a.syncLagQuantile),
      ],
      holdFor=a.syncLagFor,
    ),

    alert.new(
      c,
      'WebhookSyncEventsUnaccounted',
      'critical',
      // Exact, and 0 on a healthy pipeline: any accepted payload of the day window that is
      // neither synced, waiting, in flight nor given up vanished between the endpoint and the
      // portal without an error anywhere. The day window keeps it firing until it is repaired
      // or a day has passed.
      '%s > 0\n' % m.perOrg(m.unaccounted([m.window(c.windows.day)])),
      'Accepted webhook payloads vanished before the portal sync without any error.',
      |||
        Org {{ $labels.org }} has {{ $value | printf "%%.0f" }} payload(s) accepted in %s that
        are neither synced to the portal, nor waiting, nor in flight, nor given up: lost between
        the Edge Function and the sync service without an error anywhere (no queue item, or an
        item marked done without a logged sync).
      ||| % day,
      holdFor=a.syncUnaccountedFor,
    ),

    alert.new(
      c,
      'WebhookSyncLeaseExpired',
      'warning',
      '%s > 0\n' % m.perOrg(m.leaseExpired([])),
      'Items in flight to the portal have outlived their lease: sync workers are dying.',
      |||
        Org {{ $labels.org }} has had {{ $value | printf "%%.0f" }} item(s) in flight past their
        lease for over %s: the sync worker that claimed them ended without a result, and no
        worker has claimed since to take them back. Workers are crashing or hanging.
      ||| % fmt.words(fmt.seconds(a.syncLeaseExpiredFor)),
      holdFor=a.syncLeaseExpiredFor,
    ),
  ],
}

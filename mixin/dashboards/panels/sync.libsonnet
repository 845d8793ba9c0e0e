// The "Portal sync service" row: what became of the accepted payloads (synced, given up, or
// unaccounted for), the queue's waiting / in-flight / lease-expired items, attempts by outcome and
// error, the end-to-end lag, and the recent give-ups from the log store.
local fmt = import '../../lib/format.libsonnet';
local lib = import '../lib.libsonnet';

function(c) {
  local q = lib.queries(c),
  local a = c.alerts,
  local w = q.window('$window'),
  local hour = q.window(c.windows.hour),
  local top = 54,
  local giveUpRatio = fmt.percent(a.syncGiveUpRatio),
  local ratioSteps = [['green', null], ['orange', a.syncGiveUpRatio / 2], ['red', a.syncGiveUpRatio]],
  // Sums over the selected orgs, one replica per job; sparse series give 0 where the selection
  // has organizations.
  local total(expr, base) = '(sum(%s) or %s)' % [q.perOrg(expr), q.zeroIfAny(base)],
  local givenUp = total(q.givenUp(w), w),
  local synced = 'sum(%s)' % q.perOrg(q.synced(w)),
  local stat(id, title, description, x, unit, steps, expr, legend, extra={}) =
    lib.panel(id, 'stat', title, description, [x, top + 1, 6, 5], lib.defaults(unit, steps, extra),
              [lib.prom('A', expr, legend)], options=lib.statOptions()),
  local series(id, title, description, grid, unit, targets, steps=[['green', null]], thresholdsStyle='off') =
    lib.panel(id, 'timeseries', title, description, grid,
              lib.timeseriesDefaults(unit, steps, fill=0, thresholdsStyle=thresholdsStyle),
              targets, options=lib.timeseriesOptions),
  // Attempts per second, one replica per job, summed over what `by` keeps.
  local attempts(by, matchers=[]) =
    'sum by (%s) (%s)' % [
      std.join(', ', by),
      q.dedup(q.syncAttemptsRate(q.global + matchers, '$__rate_interval'), ['outcome', 'error_class', 'code']),
    ],
  local lag(quantile) =
    lib.prom(quantile[0], q.syncLagQuantile(quantile[1], q.global, '$__rate_interval'), quantile[2], instant=false),

  panels: [
    lib.row(31, 'Portal sync service', top),

    stat(
      32,
      'Payloads unaccounted for ($window)',
      'Accepted payloads received in the last $window that are neither synced to the portal, nor waiting, nor in flight, nor given up (webhook_sync_window_events_unaccounted), over the selected organizations. Exact, and 0 on a healthy pipeline: anything above 0 vanished between the Edge Function and the portal without an error anywhere (WebhookSyncEventsUnaccounted, critical).',
      0,
      'short',
      [['green', null], ['red', 1]],
      total(q.unaccounted(w), w),
      'Unaccounted',
      {
        links: [{
          title: 'List them in the exporter admin page, to re-enqueue them',
          url: '${exporter_url}/admin?stage=unaccounted',
          targetBlank: true,
        }],
      },
    ),
    stat(
      33,
      'Items synced ($window)',
      'Queue items the portal sync service synced (a successful attempt finished) in the last $window, over the selected organizations (webhook_sync_window_items_synced).',
      6,
      'short',
      [['green', null]],
      synced,
      'Synced',
    ),
    stat(
      34,
      'Items given up ($window)',
      'Queue items the portal sync service gave up on in the last $window, over the selected organizations (webhook_sync_window_items_given_up): accepted payloads that never reached the portal. They are listed in "Recent sync give-ups" below and can be re-enqueued from the exporter admin page.',
      12,
      'short',
      [['green', null], ['orange', 1]],
      givenUp,
      'Given up',
    ),
    stat(
      35,
      'Give-up ratio ($window)',
      'Given up / (synced + given up) over the last $window for the selected organizations. WebhookSyncGiveUps fires above %s over the rolling hour for an organization with at least %s finished items; orange from %s, red from %s.' % [
        giveUpRatio,
        fmt.num(a.syncGiveUpMinFinished),
        fmt.percent(a.syncGiveUpRatio / 2),
        giveUpRatio,
      ],
      18,
      'percentunit',
      ratioSteps,
      '%s / clamp_min(%s + %s, 1)' % [givenUp, synced, givenUp],
      'Give-up ratio',
      { min: 0, max: 1, decimals: 1 },
    ),

    lib.panel(
      36,
      'table',
      'Sync per organization',
      "Per organization: items synced and given up and payloads unaccounted for in the last $window (exact window gauges), the sync queue now (waiting = pending, in flight = claimed by a worker, lease expired = in flight past the worker's lease), and how long ago the organization's last successful sync finished ('never' before its first).",
      [0, top + 6, 24, 8],
      lib.defaults('short', [['green', null]], lib.tableCustom()),
      [
        lib.promTable('A', q.perOrg(q.synced(w))),
        lib.promTable('B', q.orZero(q.perOrg(q.givenUp(w)), w)),
        lib.promTable('C', q.orZero(q.perOrg(q.unaccounted(w)), w)),
        lib.promTable('D', q.orZero(q.perOrg(q.waiting(q.org)), hour)),
        lib.promTable('E', q.orZero(q.perOrg(q.inFlight(q.org)), hour)),
        lib.promTable('F', q.orZero(q.perOrg(q.leaseExpired(q.org)), hour)),
        lib.promTable('G', 'time() - %s' % q.perOrg(q.lastSyncSuccess(q.org))),
      ],
      [
        lib.byName('Given up', [lib.colorCell, ['thresholds', lib.steps([['green', null], ['orange', 1]])]]),
        lib.byName('Unaccounted', [lib.colorCell, ['thresholds', lib.steps([['green', null], ['red', 1]])]]),
        lib.byName('Lease expired', [lib.colorCell, ['thresholds', lib.steps([['green', null], ['orange', 1]])]]),
        lib.byName('Since last successful sync', [['unit', 'dtdurations'], ['noValue', 'never']]),
      ],
      lib.tableOptions('Unaccounted', desc=true),
    ) + {
      transformations: lib.organize(
        [
          ['org', 'Organization'],
          ['job', 'Job'],
          ['Value #A', 'Synced'],
          ['Value #B', 'Given up'],
          ['Value #C', 'Unaccounted'],
          ['Value #D', 'Waiting'],
          ['Value #E', 'In flight'],
          ['Value #F', 'Lease expired'],
          ['Value #G', 'Since last successful sync'],
        ],
        ['Time'],
      ),
    },

    series(
      37,
      'Sync queue: waiting, in flight, lease expired',
      'Sync-queue items of the selected organizations over time: waiting (state pending, webhook_queue_depth), in flight (claimed by a worker, webhook_queue_in_flight) and in flight past their lease (webhook_queue_lease_expired: the worker died or hangs; WebhookSyncLeaseExpired). Waiting that grows while in flight stays at 0 is a stopped service.',
      [0, top + 14, 12, 8],
      'short',
      [
        lib.prom('A', total(q.waiting(q.org), hour), 'Waiting', instant=false),
        lib.prom('B', total(q.inFlight(q.org), hour), 'In flight', instant=false),
        lib.prom('C', total(q.leaseExpired(q.org), hour), 'Lease expired', instant=false),
      ],
    ),
    series(
      38,
      'Sync attempts per second by outcome',
      'Processing attempts of the portal sync service by outcome over all organizations (rate of webhook_sync_attempts_total over $__rate_interval): succeeded, retrying (failed, will be retried), gave_up (failed for good), abandoned (the worker lost its lease).',
      [12, top + 14, 12, 8],
      'ops',
      [lib.prom('A', attempts(['outcome']), '{{outcome}}', instant=false)],
    ),
    series(
      39,
      'Failed sync attempts per second by error class and HTTP status',
      "Attempts that did not succeed, over all organizations, by error class (portal_unavailable, portal_auth, portal_rejected, conflict, invalid_data, timeout, worker_lost, internal, other) and the portal's HTTP status (none when it gave none), from webhook_sync_attempts_total.",
      [0, top + 22, 12, 8],
      'ops',
      [lib.prom('A', attempts(['error_class', 'code'], ['outcome!="succeeded"']), '{{error_class}} {{code}}', instant=false)],
    ),
    series(
      40,
      'End-to-end sync lag (received -> synced)',
      'Quantiles of the time from a payload reaching the endpoint to its successful sync to the portal, over all organizations (webhook_sync_lag_seconds histogram, rate over $__rate_interval; empty while nothing syncs). The dashed line is the WebhookSyncLagHigh threshold (p%s above %s over %s).' % [
        fmt.num(a.syncLagQuantile * 100),
        fmt.words(a.syncLagSeconds),
        fmt.words(fmt.seconds(a.syncLagRange)),
      ],
      [12, top + 22, 12, 8],
      's',
      [lag(['A', '0.5', 'p50']), lag(['B', '0.95', 'p95']), lag(['C', '0.99', 'p99'])],
      steps=[['green', null], ['red', a.syncLagSeconds]],
      thresholdsStyle='dashed',
    ),

    lib.panel(
      41,
      'table',
      'Recent sync give-ups',
      'The newest 200 attempts the portal sync service gave up on (gave_up) or lost to an expired lease (abandoned) in the dashboard time range, for the selected organizations, read directly from the log store (sync_attempts, read-only role): the attempt number, the error class, the portal\'s HTTP status and the error. Click a row to open the event in the exporter admin page, where it can be re-enqueued.',
      [0, top + 30, 24, 10],
      lib.defaults('none', [['green', null]], lib.tableCustom({ inspect: true, filterable: true }) + {
        noValue: 'No sync give-ups in this time range',
        links: [lib.adminEventLink],
      }),
      [
        // `${org:regex}`: see docs/dashboard.md ("$org in SQL").
        lib.sql(c, 'A', |||
          SELECT
            a.finished_at AS "time",
            a.org_id AS org,
            a.event_id::text AS event_id,
            a.attempt,
            a.outcome,
            COALESCE(a.error_class, '') AS error_class,
            a.http_status,
            LEFT(COALESCE(a.error_detail, ''), 300) AS error_detail
          FROM sync_attempts AS a
          WHERE a.outcome IN ('gave_up', 'abandoned')
            AND $__timeFilter(a.finished_at)
            AND a.org_id ~ '^(${org:regex})$'
          ORDER BY a.finished_at DESC
          LIMIT 200
        |||),
      ],
      lib.eventColumns + [
        lib.byName('outcome', [
          lib.colorCell,
          ['mappings', [lib.valueMap([['gave_up', 'gave up', 'red'], ['abandoned', 'abandoned', 'orange']])]],
        ]),
        lib.byName('error_detail', [['custom.cellOptions', { type: 'auto', wrapText: false }]]),
      ],
      lib.tableOptions('time', desc=true),
    ) + { datasource: lib.sqlDs(c) },
  ],
}

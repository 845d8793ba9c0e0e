// "Traffic over time" (the received rate, and the rolling-hour gauges) and "Recent error events" (SQL on the log store).
local lib = import '../lib.libsonnet';

function(c) {
  local q = lib.queries(c),
  local rate(expr) = expr(q.org, '$__rate_interval'),
  local series(id, title, description, grid, targets, stacking='none', unit='reqps') =
    lib.panel(id, 'timeseries', title, description, grid,
              lib.timeseriesDefaults(unit, [['green', null]], stacking=stacking),
              targets, options=lib.timeseriesOptions),
  // The exact rolling-hour gauges: per org and per reason without a per-org counter for each.
  local hour = q.window(c.windows.hour),
  local byReason = q.perOrg(q.rejectedByReason(hour), ['reason', 'code']),

  panels: [
    lib.row(24, 'Traffic over time', 94),

    series(
      25,
      'Payloads received per second, per organization',
      'Rate of payloads reaching the endpoint per organization (rate of webhook_payloads_received_total over $__rate_interval). A drop to zero for an organization that normally sends is a silent failure.',
      [0, 95, 12, 8],
      [lib.prom('A', q.perOrg(rate(q.receivedRate)), '{{org}}', instant=false)],
    ),
    series(
      26,
      'Payloads rejected and failed in the rolling hour, per organization',
      'Rejected payloads (webhook_window_payloads_rejected) and payloads that failed in processing (webhook_window_payloads_failed) per organization in the hour before each point: exact counts, not rates.',
      [12, 95, 12, 8],
      [
        lib.prom('A', q.perOrg(q.rejected(hour)), '{{org}} rejected', instant=false),
        lib.prom('B', q.orZero(q.perOrg(q.failed(hour)), hour), '{{org}} failed', instant=false),
      ],
      unit='short',
    ),
    series(
      27,
      'Rejections in the rolling hour by reason',
      'Rejected payloads by rejection reason over the selected organizations in the hour before each point (webhook_window_payloads_rejected_by_reason). Shows when a reason started.',
      [0, 103, 12, 8],
      [lib.prom('A', 'sum by (reason) (%s)' % byReason, '{{reason}}', instant=false)],
      stacking='normal',
      unit='short',
    ),
    series(
      28,
      'Rejections in the rolling hour by HTTP status',
      'Rejected payloads by the HTTP status the endpoint answered, over the selected organizations, in the hour before each point (webhook_window_payloads_rejected_by_reason). A wall of 401 is an unmirrored secret rotation.',
      [12, 103, 12, 8],
      [lib.prom('A', 'sum by (code) (%s)' % byReason, '{{code}}', instant=false)],
      stacking='normal',
      unit='short',
    ),

    lib.row(29, 'Recent error events', 111),

    lib.panel(
      30,
      'table',
      'Recent error events',
      'The newest 200 rejected or failed payloads in the dashboard time range for the selected organizations, read directly from the log store (webhook_events, read-only role). Click a row to open it in the exporter admin page, where failed events can be re-enqueued for the portal sync service with the reprocessing flag.',
      [0, 112, 24, 12],
      lib.defaults('none', [['green', null]], lib.tableCustom({ inspect: true, filterable: true }) + {
        noValue: 'No rejected or failed payloads in this time range',
        links: [lib.adminEventLink],
      }),
      [
        // `${org:regex}`: see docs/dashboard.md ("$org in SQL").
        lib.sql(c, 'A', |||
          SELECT
            e.received_at AS "time",
            e.org_id AS org,
            e.event_id::text AS event_id,
            e.outcome,
            e.http_status,
            COALESCE(e.rejection_reason, '') AS reason,
            LEFT(COALESCE(e.error_detail, ''), 300) AS detail
          FROM webhook_events AS e
          WHERE e.outcome <> 'accepted'
            AND $__timeFilter(e.received_at)
            AND e.org_id ~ '^(${org:regex})$'
          ORDER BY e.received_at DESC
          LIMIT 200
        |||),
      ],
      lib.eventColumns + [
        lib.byName('outcome', [
          lib.colorCell,
          ['mappings', [lib.valueMap([['rejected', 'rejected', 'orange'], ['failed', 'failed', 'red']])]],
        ]),
        lib.byName('detail', [['custom.cellOptions', { type: 'auto', wrapText: false }]]),
      ],
      lib.tableOptions('time', desc=true),
    ) + { datasource: lib.sqlDs(c) },
  ],
}

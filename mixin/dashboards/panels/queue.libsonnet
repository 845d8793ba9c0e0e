// The "Portal sync queue" row: pending items, the oldest one's age, reprocessing items.
local fmt = import '../../lib/format.libsonnet';
local lib = import '../lib.libsonnet';

function(c) {
  local q = lib.queries(c),
  local a = c.alerts,
  // Orgs with an empty queue have no queue series: 0 for every org the selection has.
  local hour = q.window(c.windows.hour),
  // Orange a while before WebhookQueueBacklog's thresholds, red at them.
  local depthSteps = [['green', null], ['orange', 100], ['red', a.queueDepth]],
  local ageSteps = [['green', null], ['orange', 300], ['red', a.queueOldestSeconds]],
  local depth = q.perOrg(q.sel('webhook_queue_depth', q.org)),
  local age = q.sel('webhook_queue_oldest_age_seconds', q.org),
  local stat(id, title, description, x, unit, steps, expr, legend) =
    lib.panel(id, 'stat', title, description, [x, 42, 8, 4], lib.defaults(unit, steps),
              [lib.prom('A', expr, legend)], options=lib.statOptions()),
  local series(id, title, description, x, unit, steps, expr, fill, thresholdsStyle) =
    lib.panel(id, 'timeseries', title, description, [x, 46, 12, 8],
              lib.timeseriesDefaults(unit, steps, fill=fill, thresholdsStyle=thresholdsStyle),
              [lib.prom('A', expr, '{{org}}', instant=false)], options=lib.timeseriesOptions),

  panels: [
    lib.row(18, 'Portal sync queue', 41),

    stat(
      19,
      'Queue depth now',
      'Sync-queue items in state pending for the selected organizations (webhook_queue_depth). Red from %s items per the WebhookQueueBacklog threshold (which applies per organization).' % fmt.num(a.queueDepth),
      0,
      'short',
      depthSteps,
      'sum(%s) or %s' % [depth, q.zeroIfAny(hour)],
      'Pending',
    ),
    stat(
      20,
      'Oldest pending item now',
      'Age of the oldest pending sync-queue item over the selected organizations (webhook_queue_oldest_age_seconds, which only orgs with pending items have; 0 when the queue is empty). Orange from 5 minutes, red from %s (the WebhookQueueBacklog threshold): the portal sync service is not keeping up or is stopped.' % fmt.words(a.queueOldestSeconds),
      8,
      's',
      ageSteps,
      'max(%s) or %s' % [age, q.zeroIfAny(hour)],
      'Oldest',
    ),
    stat(
      21,
      'Reprocessing items pending',
      'Pending sync-queue items that carry the reprocessing flag (re-enqueued from the exporter admin page), over the selected organizations (webhook_queue_reprocess_depth).',
      16,
      'short',
      [['green', null], ['blue', 1]],
      'sum(%s) or %s' % [q.perOrg(q.sel('webhook_queue_reprocess_depth', q.org)), q.zeroIfAny(hour)],
      'Reprocess pending',
    ),

    series(
      22,
      'Queue depth per organization',
      'Pending sync-queue items per organization over time (webhook_queue_depth; an organization with none pending has no series, shown as 0).',
      0,
      'short',
      depthSteps,
      q.orZero(depth, hour),
      10,
      'off',
    ),
    series(
      23,
      'Oldest pending item age per organization',
      'Age of the oldest pending sync-queue item per organization over time (webhook_queue_oldest_age_seconds). Dashed lines at 5 and %d minutes.' % (a.queueOldestSeconds / 60),
      12,
      's',
      ageSteps,
      q.orZero(q.perOrg(age), hour),
      0,
      'dashed',
    ),
  ],
}

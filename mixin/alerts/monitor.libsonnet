// The alerts about the webhook infrastructure and about the monitor itself. They keep the
// exporter's `job` and `instance` (and `component`): each exporter probes and reads on its own.
// Without the monitor alerts, a dead exporter or log store would look exactly like a healthy
// integration (no rejections, no outage).
local alert = import '../lib/alert.libsonnet';
local fmt = import '../lib/format.libsonnet';
local promql = import '../lib/promql.libsonnet';

function(c) {
  local m = promql.new(c),
  local a = c.alerts,
  local down = '(%s == 0)' % m.sel('webhook_infrastructure_up'),
  local unreadable = 'Until it is back no other webhook alert can fire: silence is not health.',

  rules: [
    alert.new(
      c,
      'WebhookInfrastructureOutage',
      'critical',
      // The value is the component's last-known healthy time. The `or` branch keeps the alert
      // firing (with value 0, shown as "never recorded") for a component never seen healthy.
      |||
        (
          %s
          and on (job, instance, component)
          %s
        )
        or on (job, instance, component)
        %s
      ||| % [m.sel('webhook_last_healthy_timestamp_seconds'), down, down],
      'The webhook endpoint is unreachable or the Edge Function has error-exited.',
      |||
        {{ $labels.component }} is down (endpoint probe failing or Edge Function error-exited).
        Last known healthy:
        {{ if gt $value 0.0 }}{{ $value | humanizeTimestamp }}{{ else }}never recorded{{ end }}.
        Dynamics retries a failed delivery once at most (only on 502/503/504); payloads sent
        during the outage are lost at the source.
      |||,
      // Absorbs a single failed probe; Dynamics gives up on a delivery after one retry.
      holdFor=a.outageFor,
    ),

    alert.new(
      c,
      'WebhookExporterDown',
      'critical',
      '%s == 0' % m.sel('up'),
      'Prometheus cannot scrape webhook-health-exporter; every webhook alert is blind.',
      |||
        Scrapes of {{ $labels.instance }} (job {{ $labels.job }}) have failed for %s.
        %s
      ||| % [fmt.words(fmt.seconds(a.exporterDownFor)), unreadable],
      holdFor=a.exporterDownFor,
    ),

    alert.new(
      c,
      'WebhookExporterAbsent',
      'critical',
      // absent() returns the selector's equality matchers as labels: `job` names the lost job.
      'absent(%s)' % m.sel('up'),
      'Prometheus has no webhook-health-exporter target at all; every webhook alert is blind.',
      |||
        No target of job {{ $labels.job }} has been scraped for %s (the scrape
        configuration or service discovery lost it). %s
      ||| % [fmt.words(fmt.seconds(a.exporterAbsentFor)), unreadable],
      holdFor=a.exporterAbsentFor,
    ),

    alert.new(
      c,
      'WebhookLogStoreDown',
      'critical',
      '%s == 0' % m.sel('webhook_store_up'),
      'webhook-health-exporter cannot read the webhook log store.',
      |||
        {{ $labels.instance }} has failed to read the log store for %s (last successful
        collection:
        %s).
        The traffic, queue and health metrics are not current, and the Edge Function may be
        unable to log payloads too.
      ||| % [
        fmt.words(fmt.seconds(a.storeDownFor)),
        alert.lookup(
          'webhook_exporter_last_collect_success_timestamp_seconds{job=%q,instance=%q}',
          '$labels.job $labels.instance',
          'value | humanizeTimestamp',
          'never',
        ),
      ],
      // The store's outage probably stops the Edge Function from logging too: sooner than scrapes.
      holdFor=a.storeDownFor,
    ),

    alert.new(
      c,
      'WebhookLogStoreReadHeldBack',
      'warning',
      // The exporter reads PostgreSQL rows only below the oldest open write transaction of the
      // cluster (exactly once, never missed); a transaction left open holds every newer row
      // back. The value is already a duration, so no `for:`.
      '%s > %s' % [
        m.dedup(m.sel('webhook_exporter_read_held_back_seconds'), ['instance']),
        fmt.num(a.heldBackSeconds),
      ],
      'A transaction that wrote webhook log rows has been open for over %s.' % fmt.words(a.heldBackSeconds),
      |||
        On {{ $labels.instance }}'s log store a transaction that wrote to webhook_events or
        edge_function_events has been open for {{ $value | humanizeDuration }}. Its own rows are
        not counted until it commits (nothing is lost); every other writer's rows are.
      |||,
    ),
  ],
}

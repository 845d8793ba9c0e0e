// The "Alerts" row: banners driven by the ALERTS series, so that the dashboard and Alertmanager
// never disagree (the rule's `for:` applies to both), and the monitoring pipeline's own health.
local fmt = import '../../lib/format.libsonnet';
local lib = import '../lib.libsonnet';

function(c) {
  local q = lib.queries(c),
  local hour = q.window(c.windows.hour),
  local threshold = fmt.percent(c.alerts.rejectionRatio),
  local firing(name, extra=[]) = ['alertname="%s"' % name, 'alertstate="firing"'] + extra,
  local rejectionAlert = q.alerts(firing('WebhookHighRejectionRate', ['org=~"$org"'])),
  local outageAlert = q.instanceAlerts(firing('WebhookInfrastructureOutage')),
  local healthy = 'max by (job, component) (%s > 0)' % q.sel('webhook_last_healthy_timestamp_seconds', q.global),
  local noData = 'No data: is the exporter scraped? (see Monitoring pipeline)',
  // The "OK" query of a banner: 0 while the exporter is scraped and nothing fires, mapped to a
  // green text; nothing at all while the alert fires or nothing is scraped.
  local okWhenQuiet(series, alert) = 'count(%s) * 0 unless on () %s' % [series, alert],
  local okMapping(text) = ['mappings', [lib.valueMap([['0', text, 'green']])]],

  panels: [
    lib.row(1, 'Alerts', 0),

    lib.panel(
      2,
      'stat',
      'High rejection rate',
      "Organizations for which the WebhookHighRejectionRate alert is FIRING in Prometheus (more than %s of payloads rejected over the rolling hour), with each organization's current rolling-hour rejection rate. Driven by the ALERTS series so the banner and Alertmanager never disagree. Green 'OK' means no selected organization is alerting." % threshold,
      [0, 1, 12, 6],
      lib.defaults('percentunit', [['green', null], ['red', c.alerts.rejectionRatio]], { noValue: noData }),
      [
        lib.prom(
          'A',
          '(%s / clamp_min(%s, 1)) and on (job, org) %s' % [
            q.perOrg(q.rejected(hour)),
            q.perOrg(q.received(hour)),
            rejectionAlert,
          ],
          '{{org}}',
        ),
        lib.prom('B', okWhenQuiet(q.received(hour), rejectionAlert), 'All selected organizations'),
      ],
      [
        lib.byRefId('A', [lib.fixedColor('red')]),
        lib.byRefId('B', [
          lib.fixedColor('green'),
          okMapping('OK: no organization above %s rejections' % threshold),
        ]),
      ],
      lib.statOptions('value_and_name'),
    ),

    lib.panel(
      3,
      'stat',
      'Infrastructure outage',
      "Components (edge_function, endpoint:NAME) for which the WebhookInfrastructureOutage alert is FIRING: the endpoint is unreachable or the Edge Function error-exited. Shows the last-known healthy time (webhook_last_healthy_timestamp_seconds, persisted in the log store) and how long the component has been down since. Green 'OK' means no outage.",
      [12, 1, 12, 6],
      lib.defaults('dateTimeAsIso', [['red', null]], { noValue: noData }),
      [
        lib.prom(
          'A',
          '1000 * (%s and on (job, component) %s) or on (job, component) 0 * max by (job, component) (%s)' % [
            healthy,
            outageAlert,
            outageAlert,
          ],
          '{{component}} last healthy',
        ),
        lib.prom('B', 'time() - (%s and on (job, component) %s)' % [healthy, outageAlert], '{{component}} down for'),
        lib.prom('C', okWhenQuiet(q.sel('webhook_infrastructure_up', q.global), outageAlert), 'All components'),
      ],
      [
        lib.byRefId('A', [
          lib.fixedColor('red'),
          ['mappings', [lib.valueMap([['0', 'never recorded', 'red']])]],
        ]),
        lib.byRefId('B', [lib.fixedColor('red'), ['unit', 'dtdurations']]),
        lib.byRefId('C', [lib.fixedColor('green'), ['unit', 'none'], okMapping('OK: all components healthy')]),
      ],
      lib.statOptions('value_and_name'),
    ),

    lib.panel(
      4,
      'stat',
      'Monitoring pipeline',
      "Whether Prometheus can scrape the exporter (up of %s) and whether the exporter's last read of the log store succeeded (webhook_store_up). When either is DOWN the other panels are stale or empty, and a green banner above cannot be trusted." % c.selector,
      [0, 7, 6, 4],
      lib.defaults('none', [['red', null], ['green', 1]], {
        mappings: [lib.valueMap([['0', 'DOWN', 'red'], ['1', 'UP', 'green']])],
        noValue: 'DOWN: no data from Prometheus',
      }),
      [
        lib.prom('A', 'min(%s)' % q.sel('up', q.global), 'Exporter scraped'),
        lib.prom('B', 'min(%s)' % q.sel('webhook_store_up', q.global), 'Log store readable'),
      ],
      options=lib.statOptions('value_and_name'),
    ),

    lib.panel(
      5,
      'table',
      'Other webhook alerts firing',
      'Every other Webhook* alert currently FIRING in Prometheus (log store or exporter down, silent organization, auth rejection spike, endpoint URL changed, queue backlog). Alerts without an org label are always listed; org-scoped ones follow the Organization filter.',
      [6, 7, 18, 4],
      lib.defaults('none', [['green', null]], lib.tableCustom() + { noValue: 'No other webhook alerts firing' }),
      [
        lib.promTable('A', 'max by (alertname, severity, org, component) (%s)' % q.alerts([
          'alertname=~"Webhook.+"',
          'alertname!~"WebhookHighRejectionRate|WebhookInfrastructureOutage"',
          'alertstate="firing"',
          'org=~"$org|"',
        ])),
      ],
      [
        lib.byName('severity', [
          lib.colorCell,
          ['mappings', [lib.valueMap([
            ['critical', 'critical', 'red'],
            ['warning', 'warning', 'orange'],
            ['info', 'info', 'blue'],
          ])]],
        ]),
      ],
      lib.tableOptions(),
    ) + {
      transformations: lib.organize(
        [['alertname', 'Alert'], ['severity', 'Severity'], ['org', 'Organization'], ['component', 'Component']],
        ['Time', 'Value'],
        merge=false,
      ),
    },
  ],
}

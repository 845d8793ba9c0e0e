// The "Webhook health" dashboard: its variables, annotation and links; the panels come in groups
// from panels/*.libsonnet. docs/dashboard.md describes every panel and the choices behind them.
local lib = import 'lib.libsonnet';

function(c) {
  local d = c.dashboard,
  local ds = c.datasources,
  local q = lib.queries(c),

  local dsVariable(name, label, type, default) = {
    name: name,
    label: label,
    type: 'datasource',
    query: type,
    current: { selected: false, text: default.name, value: default.uid },
    hide: 0,
    includeAll: false,
    multi: false,
    options: [],
    refresh: 1,
    regex: '',
    skipUrlSync: false,
  },

  // A Prometheus label_values() variable, all values selected by default, reloaded when the time
  // range changes (dashboard-linter's template rules).
  local labelVariable(name, label, metric, matchers, allValue) = {
    local query = 'label_values(%s, %s)' % [q.sel(metric, matchers), name],
    name: name,
    label: label,
    type: 'query',
    datasource: lib.promDs,
    query: query,
    refresh: 2,
    multi: true,
    includeAll: true,
    allValue: allValue,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    regex: '',
    sort: 1,
    hide: 0,
    skipUrlSync: false,
  },

  uid: d.uid,
  title: d.title,
  description: 'Health of the Dynamics portal -> Edge Function webhook integration per organization: alerts, active endpoint, received/rejected payloads, rejection reasons, sync-queue depth, the portal sync service (synced, given up and unaccounted payloads, lag, recent give-ups) and recent error events. Data from webhook-health-exporter (Prometheus) and its log store (PostgreSQL).',
  tags: d.tags,
  editable: false,
  graphTooltip: 1,
  liveNow: false,
  fiscalYearStartMonth: 0,
  refresh: d.refresh,
  schemaVersion: 39,
  version: 1,
  timezone: 'browser',
  weekStart: '',
  time: { from: 'now-24h', to: 'now' },
  timepicker: { refresh_intervals: ['30s', '1m', '5m', '15m'] },
  links: [{
    title: 'Exporter admin page',
    type: 'link',
    icon: 'external link',
    url: '${exporter_url}/admin',
    targetBlank: true,
    tooltip: 'Replay and reprocess events',
    asDropdown: false,
    includeVars: false,
    keepTime: false,
    tags: [],
  }],

  annotations: {
    list: [
      {
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      },
      {
        datasource: lib.sqlDs(c),
        enable: true,
        hide: false,
        iconColor: 'orange',
        name: 'Endpoint URL changes',
        target: lib.sql(c, 'Anno', |||
          SELECT
            o.endpoint_url_changed_at AS "time",
            'Endpoint URL of ' || o.org_id || ' changed to ' || o.endpoint_url AS text,
            o.org_id AS tags
          FROM organizations AS o
          WHERE $__timeFilter(o.endpoint_url_changed_at)
            AND o.org_id ~ '^(${org:regex})$'
        |||),
      },
    ],
  },

  templating: {
    list: [
      // The Prometheus variable comes first: dashboard-linter applies its PromQL rules when the
      // first data source variable is a Prometheus one.
      dsVariable(lib.promVar, 'Prometheus data source', 'prometheus', ds.prometheus),
      dsVariable(lib.sqlVar, 'Postgres data source', ds.logstore.type, ds.logstore),
      labelVariable('job', 'Job', 'webhook_exporter_build_info', [], '.+'),
      labelVariable('instance', 'Instance', 'webhook_exporter_build_info', ['job=~"$job"'], '.+'),
      // `.*`, not `.+`: the SQL filter `^(${org:regex})$` and the `org=~"$org|"` of the alert list
      // rely on it (docs/dashboard.md).
      labelVariable('org', 'Organization', 'webhook_endpoint_info', q.global, '.*'),
      {
        name: 'window',
        label: 'Window',
        type: 'custom',
        query: std.join(',', d.windowChoices),
        current: { selected: true, text: d.defaultWindow, value: d.defaultWindow },
        options: [
          { selected: w == d.defaultWindow, text: w, value: w }
          for w in d.windowChoices
        ],
        multi: false,
        includeAll: false,
        hide: 0,
        skipUrlSync: false,
      },
      {
        name: 'exporter_url',
        label: 'Exporter admin URL',
        type: 'textbox',
        query: d.exporterUrl,
        current: { selected: false, text: d.exporterUrl, value: d.exporterUrl },
        options: [{ selected: true, text: d.exporterUrl, value: d.exporterUrl }],
        hide: 0,
        skipUrlSync: false,
      },
    ],
  },

  panels:
    (import 'panels/alerts.libsonnet')(c).panels
    + (import 'panels/traffic.libsonnet')(c).panels
    + (import 'panels/queue.libsonnet')(c).panels
    + (import 'panels/sync.libsonnet')(c).panels
    + (import 'panels/history.libsonnet')(c).panels,
}

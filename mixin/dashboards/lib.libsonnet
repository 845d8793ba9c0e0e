// Building blocks of the dashboard's panels: the parts every panel of a kind shares, so that the
// panel files only say what is particular to each panel. Plain jsonnet (no grafonnet): the
// output is the JSON Grafana stores, checked against @grafana/schema by mixin/schema-check.
local promql = import '../lib/promql.libsonnet';

// Data source references through the dashboard's data source variables (dashboard-linter's
// panel-datasource rule): the names of these variables are part of the dashboard's URL interface.
local promVar = 'prometheus_datasource';
local sqlVar = 'postgres_datasource';

{
  promVar:: promVar,
  sqlVar:: sqlVar,
  promDs:: { type: 'prometheus', uid: '${%s}' % promVar },
  sqlDs(c):: { type: c.datasources.logstore.type, uid: '${%s}' % sqlVar },

  // PromQL for panels: the exporter's metrics (lib/promql.libsonnet) narrowed by the dashboard's
  // variables. Every selector carries `job=~"$job"` and `instance=~"$instance"`
  // (dashboard-linter's target-job/target-instance rules) after _config.selector; `org` adds
  // the organization filter for per-org metrics.
  queries(c):: promql.new(c) {
    local vars = ['job=~"$job"', 'instance=~"$instance"'],
    global:: vars,
    org:: vars + ['org=~"$org"'],
    window(w):: self.org + ['window="%s"' % w],
    // ALERTS of org-scoped alerts carry no `instance` (they aggregate over the replicas), so
    // the instance filter also lets an empty instance through (see mixin/.lint).
    alerts(matchers):: 'ALERTS{%s}' % std.join(', ', ['job=~"$job"', 'instance=~"$instance|"'] + matchers),
    instanceAlerts(matchers):: 'ALERTS{%s}' % std.join(', ', vars + matchers),
  },

  // ---- field configuration
  // Threshold steps from [color, value] pairs; the first value is null (the base).
  steps(pairs):: { mode: 'absolute', steps: [{ color: p[0], value: p[1] } for p in pairs] },

  defaults(unit, steps, extra={}):: {
    unit: unit,
    thresholds: $.steps(steps),
    color: { mode: 'thresholds' },
    mappings: [],
  } + extra,

  // A value mapping {value: [text, color]}, numbered in order.
  valueMap(pairs):: {
    type: 'value',
    options: {
      [pairs[i][0]]: { text: pairs[i][1], color: pairs[i][2], index: i }
      for i in std.range(0, std.length(pairs) - 1)
    },
  },

  override(matcherId, name, properties):: {
    matcher: { id: matcherId, options: name },
    properties: [{ id: p[0], value: p[1] } for p in properties],
  },
  byName(name, properties):: $.override('byName', name, properties),
  byRefId(refId, properties):: $.override('byFrameRefID', refId, properties),
  fixedColor(color):: ['color', { mode: 'fixed', fixedColor: color }],
  colorCell:: ['custom.cellOptions', { type: 'color-background', mode: 'basic' }],

  // A table row's event opened in the exporter's admin page (columns `org` and `event_id`), where
  // failed events can be re-enqueued for the portal sync service.
  adminEventLink:: {
    title: 'Open event ${__data.fields.event_id} in the exporter admin page',
    url: '${exporter_url}/admin?org=${__data.fields.org}&event=${__data.fields.event_id}',
    targetBlank: true,
  },

  // The columns an event table shares (time, org, event_id, http_status), with
  // `adminEventLink` as the table's data link.
  eventColumns:: [
    $.byName('http_status', [
      $.colorCell,
      ['displayName', 'HTTP status'],
      ['thresholds', $.steps([['green', null], ['orange', 400], ['red', 500]])],
    ]),
    $.byName('time', [['custom.width', 190]]),
    $.byName('event_id', [['displayName', 'Event id'], ['custom.width', 300]]),
    $.byName('org', [['displayName', 'Organization']]),
  ],

  // A SQL target on the log store, as a table.
  sql(c, refId, rawSql):: {
    datasource: $.sqlDs(c),
    editorMode: 'code',
    format: 'table',
    rawQuery: true,
    rawSql: std.rstripChars(rawSql, '\n'),
    refId: refId,
  },

  // ---- targets
  prom(refId, expr, legend, instant=true, format=null):: {
    datasource: $.promDs,
    editorMode: 'code',
    expr: expr,
    legendFormat: legend,
    refId: refId,
    range: !instant,
    instant: instant,
  } + (if format == null then {} else { format: format }),
  // Table panels merge their queries' frames by label.
  promTable(refId, expr):: $.prom(refId, expr, '__auto', format='table'),

  // ---- panels
  panel(id, type, title, description, grid, defaults, targets, overrides=[], options={}):: {
    id: id,
    type: type,
    title: title,
    description: description,
    datasource: $.promDs,
    gridPos: { x: grid[0], y: grid[1], w: grid[2], h: grid[3] },
    fieldConfig: { defaults: defaults, overrides: overrides },
    options: options,
    targets: targets,
  },

  row(id, title, y):: {
    id: id,
    type: 'row',
    title: title,
    collapsed: false,
    gridPos: { x: 0, y: y, w: 24, h: 1 },
    panels: [],
  },

  statOptions(textMode='auto'):: {
    reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    orientation: 'auto',
    textMode: textMode,
    colorMode: 'background',
    graphMode: 'none',
    justifyMode: 'center',
    wideLayout: true,
    showPercentChange: false,
  },

  tableCustom(extra={}):: { custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false } + extra },

  // No `footer`: every table hides it, which is Grafana 11's default, and Grafana 12 moved the
  // footer into each field's config (`options.footer` is unknown to the 13.x schema).
  tableOptions(sortBy=null, desc=false):: {
    showHeader: true,
    cellHeight: 'sm',
  } + (if sortBy == null then {} else { sortBy: [{ displayName: sortBy, desc: desc }] }),

  // Table transformations: merge the frames, then hide, order and rename the columns.
  organize(columns, hide, merge=true):: (if merge then [{ id: 'merge', options: {} }] else []) + [{
    id: 'organize',
    options: {
      excludeByName: { [h]: true for h in hide },
      indexByName: { [columns[i][0]]: i for i in std.range(0, std.length(columns) - 1) },
      renameByName: { [col[0]]: col[1] for col in columns },
    },
  }],

  timeseriesDefaults(unit, steps, fill=10, stacking='none', thresholdsStyle='off', custom={}):: {
    unit: unit,
    thresholds: $.steps(steps),
    color: { mode: 'palette-classic' },
    mappings: [],
    custom: {
      drawStyle: 'line',
      lineWidth: 2,
      fillOpacity: fill,
      showPoints: 'never',
      spanNulls: false,
      axisSoftMin: 0,
      stacking: { mode: stacking, group: 'A' },
      thresholdsStyle: { mode: thresholdsStyle },
    } + custom,
    min: 0,
  },

  timeseriesOptions:: {
    legend: { displayMode: 'table', placement: 'right', showLegend: true, calcs: ['lastNotNull', 'max'] },
    tooltip: { mode: 'multi', sort: 'desc' },
  },

  bargaugeOptions:: {
    reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    orientation: 'horizontal',
    displayMode: 'gradient',
    valueMode: 'color',
    showUnfilled: true,
    namePlacement: 'left',
    minVizHeight: 16,
    maxVizHeight: 30,
    sizing: 'auto',
  },
}

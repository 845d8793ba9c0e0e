// The files this repository ships, rendered from the mixin: a map from path (relative to the
// repository root) to content, for `jsonnet -S -m <dir>` (mixin/generate.sh). `config` overrides
// _config, e.g. --tla-code 'config={selector: "job=\"my-webhooks\""}'.
local json = import 'lib/json.libsonnet';
local markdown = import 'dashboards/markdown.libsonnet';

function(config={})
  local mixin = (import 'mixin.libsonnet') + { _config+:: config };
  // Each document is evaluated once, into plain data, and each dashboard written once: the C++
  // jsonnet of Debian evaluates an object's field again on every access (locals and array
  // elements it keeps), and several files below read the same rules and dashboards.
  local evaluated(doc) = std.parseJson(std.toString(doc));
  local recording = evaluated(mixin.prometheusRules);
  local alerting = evaluated(mixin.prometheusAlerts);
  local dashboards = evaluated(mixin.grafanaDashboards);
  local dashboardTexts = [[name, json.manifest(dashboards[name])] for name in std.objectFields(dashboards)];
  // Block scalars for every expression, so the YAML shows PromQL as written.
  local blockExprs(doc) = doc {
    groups: [
      g { rules: [r { expr: std.rstripChars(r.expr, '\n') + '\n' } for r in g.rules] }
      for g in doc.groups
    ],
  };
  local yaml(what, doc) =
    |||
      # Generated from mixin/ by mixin/generate.sh: edit mixin/, not this file.
      # %s of webhook-health-exporter; see alerting-rules/README.md.
    ||| % what
    + std.manifestYamlDoc(blockExprs(doc), indent_array_in_object=true, quote_keys=false) + '\n';
  {
    'alerting-rules/rules/webhook-recording.yaml': yaml('Recording rules', recording),
    'alerting-rules/alerts/webhook-alerts.yaml': yaml('Alerting rules (they read the recording rules)', alerting),
    'grafana/dashboards/.lint':
      '# Generated from mixin/dashboards/lint.libsonnet by mixin/generate.sh: edit there.\n'
      + std.manifestYamlDoc(import 'dashboards/lint.libsonnet', indent_array_in_object=true, quote_keys=false)
      + '\n',
  } + {
    ['grafana/dashboards/' + d[0]]: d[1]
    for d in dashboardTexts
  } + {
    'docs/dashboard-panels.md': markdown(dashboards['webhook-health.json'], 'grafana/dashboards/webhook-health.json'),
  }
  + (import 'kubernetes.libsonnet')(recording.groups + alerting.groups, dashboardTexts, blockExprs)

// The files this repository ships, rendered from the mixin: a map from path (relative to the
// repository root) to content, for `jsonnet -S -m <dir>` (mixin/generate.sh). `config` overrides
// _config, e.g. --tla-code 'config={selector: "job=\"my-webhooks\""}'.
local json = import 'lib/json.libsonnet';
local markdown = import 'dashboards/markdown.libsonnet';

function(config={})
  local mixin = (import 'mixin.libsonnet') + { _config+:: config };
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
    'alerting-rules/rules/webhook-recording.yaml': yaml('Recording rules', mixin.prometheusRules),
    'alerting-rules/alerts/webhook-alerts.yaml': yaml('Alerting rules (they read the recording rules)', mixin.prometheusAlerts),
    'grafana/dashboards/.lint':
      '# Generated from mixin/dashboards/lint.libsonnet by mixin/generate.sh: edit there.\n'
      + std.manifestYamlDoc(import 'dashboards/lint.libsonnet', indent_array_in_object=true, quote_keys=false)
      + '\n',
  } + {
    ['grafana/dashboards/' + name]: json.manifest(mixin.grafanaDashboards[name])
    for name in std.objectFields(mixin.grafanaDashboards)
  } + {
    'docs/dashboard-panels.md': markdown(mixin.grafanaDashboards['webhook-health.json'], 'grafana/dashboards/webhook-health.json'),
  }
  + (import 'kubernetes.libsonnet')(mixin, blockExprs)

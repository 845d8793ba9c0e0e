// The Grafana dashboards of the mixin, by file name.
{
  grafanaDashboards+:: {
    'webhook-health.json': (import 'webhook-health.libsonnet')($._config),
  },
}

// The alerting rules, rendered to alerting-rules/alerts/webhook-alerts.yaml. They read the
// recording rules of rules.libsonnet, so Prometheus must load both files.
{
  prometheusAlerts+:: {
    groups+: [
      {
        name: 'webhook-alerts',
        rules:
          (import 'alerts/traffic.libsonnet')($._config).rules
          + (import 'alerts/sync.libsonnet')($._config).rules
          + (import 'alerts/monitor.libsonnet')($._config).rules,
      },
    ],
  },
}

// webhook-health-exporter's monitoring mixin, laid out like those of
// https://monitoring.mixins.dev: `prometheusAlerts`, `prometheusRules` and `grafanaDashboards`,
// configured through `_config` (config.libsonnet). Use it from your own jsonnet:
//
//   (import 'mixin/mixin.libsonnet') + { _config+:: { selector: 'job="my-webhooks"' } }
//
// mixin/generate.sh renders it to the files this repository ships.
(import 'config.libsonnet')
+ (import 'rules.libsonnet')
+ (import 'alerts.libsonnet')
+ (import 'dashboards/dashboards.libsonnet')

// The Prometheus Operator's and Grafana sidecar's view of the mixin, for the kustomize base in
// deploy/kubernetes/base/: one PrometheusRule with every recording and alerting group, and one
// ConfigMap with every dashboard, labelled for the sidecar of kube-prometheus-stack's Grafana.
// Built from whatever the mixin renders, so a new group, alert or dashboard flows in with the next
// mixin/generate.sh. `groups` are the recording and alerting rule groups, `dashboards` the
// [file name, JSON text] of each dashboard, `rules` formats a rule document as render.jsonnet does
// for alerting-rules/.
function(groups, dashboards, rules)
  local base = 'deploy/kubernetes/base/';
  local labels = {
    'app.kubernetes.io/name': 'webhook-health-exporter',
    'app.kubernetes.io/component': 'monitoring-mixin',
  };
  local yaml(what, doc) =
    |||
      # Generated from mixin/ by mixin/generate.sh: edit mixin/, not this file.
      # %s
    ||| % what
    + std.manifestYamlDoc(doc, indent_array_in_object=true, quote_keys=false) + '\n';
  {
    [base + 'prometheusrule.yaml']: yaml(
      'The recording and alerting rules of alerting-rules/, for the Prometheus Operator.',
      {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: { name: 'webhook-health-exporter', labels: labels },
        spec: rules({ groups: groups }),
      }
    ),
    [base + 'dashboards-configmap.yaml']: yaml(
      "The dashboards of grafana/dashboards/, for the Grafana sidecar (label grafana_dashboard).",
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'webhook-health-exporter-dashboards',
          // kube-prometheus-stack's sidecar loads ConfigMaps with this label (its default
          // sidecar.dashboards.label), into the folder the annotation names when it is told to
          // read one (sidecar.dashboards.folderAnnotation).
          labels: labels { grafana_dashboard: '1' },
          annotations: { grafana_folder: 'Webhooks' },
        },
        data: { [d[0]]: d[1] for d in dashboards },
      }
    ),
  }

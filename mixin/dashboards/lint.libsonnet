// grafana/dashboard-linter's configuration for the dashboards, rendered to
// grafana/dashboards/.lint (the linter reads the .lint next to a dashboard:
// `dashboard-linter lint grafana/dashboards/webhook-health.json`). Every other rule of the
// linter holds; tests/it/dashboard_static/linter.rs checks them, and that these exceptions are
// exactly the ones the dashboard needs.
{
  exclusions: {
    'template-datasource-rule': {
      reason: "With two data source variables the rule wants each named '<plugin id>_datasource'. The PostgreSQL plugin's id is grafana-postgresql-datasource, and a variable name with hyphens cannot be interpolated (${...} takes word characters only), so the variable is postgres_datasource (the plugin's alias) and lists the plugin's canonical id, which every Grafana since the rename matches.",
    },
    'target-instance-rule': {
      reason: "Org-scoped alerts, and the job-wide sync alerts (WebhookSyncServiceDown, WebhookSyncLagHigh), aggregate over the exporter replicas of a job, so their ALERTS series carry no instance label; these panels' ALERTS selectors use instance=~\"$instance|\" (an empty instance passes), like org=~\"$org|\" for alerts without an org.",
      entries: [
        { panel: 'High rejection rate' },
        { panel: 'Other webhook alerts firing' },
      ],
    },
  },
}

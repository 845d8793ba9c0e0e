// Every knob of the alert rules, recording rules and dashboard, in one place. Override any of it
// in your own jsonnet (`(import 'mixin/mixin.libsonnet') + { _config+:: { selector: ... } }`) or
// with `mixin/generate.sh --config '{...}'`; alerting-rules/README.md explains each value.
{
  _config+:: {
    // Label matchers that select the exporter's scrape targets. Every selector of every rule and
    // panel starts with it, so a job named otherwise only needs this line. WebhookExporterAbsent
    // fires when nothing matches it, so a mismatch does not go unseen.
    selector: 'job="webhook-health-exporter"',

    // Payloads that name no configured organization are counted under this org; they are no
    // org's integration, so the per-org alerts leave them out.
    unknownOrg: '_unknown',

    // Values of the exporter's `window` label the rules read: the rolling hour of the rejection
    // alerts, and the day whose busiest value says whether an org usually sends (WebhookOrgSilent).
    // The exporter must compute both (its default `--window 1h,24h` does).
    windows: {
      hour: '1h',
      day: '24h',
    },

    // runbook_url = runbookBase + '#' + the lower-cased alert name (a section of docs/runbook.md).
    runbookBase: 'https://github.com/webhook-health-exporter/webhook-health-exporter/blob/main/docs/runbook.md',

    // Thresholds and `for:` durations. Durations are Prometheus durations; `*Seconds` are numbers.
    alerts: {
      // WebhookHighRejectionRate: rejected / received in the rolling hour ABOVE this ratio, for
      // an org that received at least minReceived payloads in that hour.
      rejectionRatio: 0.10,
      rejectionMinReceived: 1,
      rejectionFor: '5m',

      // WebhookAuthRejectionSpike: missing_auth + invalid_auth ABOVE this share of the hour's
      // payloads, and at least minRejected of them.
      authRatio: 0.5,
      authMinRejected: 5,
      authFor: '5m',

      // WebhookOrgSilent: no payload for MORE than silenceSeconds, from an org whose busiest
      // day-window in the last silenceLookback held at least silenceBaseline payloads.
      silenceSeconds: 3600,
      silenceBaseline: 240,
      silenceLookback: '7d',
      // The day-window gauge is sampled into a recording rule at this step, so that the alert
      // reads silenceLookback of that coarse series instead of raw samples (issue #11).
      silenceBaselineStep: '15m',

      // WebhookEndpointUrlChanged: shown for this long after the change.
      urlChangedSeconds: 3600,

      // WebhookQueueBacklog: MORE than queueDepth pending items, or the oldest pending item
      // waiting MORE than queueOldestSeconds.
      queueDepth: 1000,
      queueOldestSeconds: 900,
      queueFor: '5m',

      // WebhookSyncGiveUps: items the portal sync service gave up on, ABOVE this share of the
      // items it finished (synced + given up) in the rolling hour, for an org whose hour held at
      // least syncGiveUpMinFinished finished items. 20 = 1 / 5%: a single give-up never pages on
      // its own (it is over 5% only of fewer than 20 items); two in a quiet hour do.
      syncGiveUpRatio: 0.05,
      syncGiveUpMinFinished: 20,
      syncGiveUpFor: '5m',

      // WebhookSyncStalled (per org) and WebhookSyncServiceDown (every org of a job): the oldest
      // waiting item has waited MORE than syncStalledSeconds and no sync succeeded in that time.
      syncStalledSeconds: 600,
      // WebhookSyncServiceDown needs this many stalled orgs: with one, nothing tells a stopped
      // service from that org's portal refusing every item (WebhookSyncStalled covers it).
      syncServiceDownMinOrgs: 2,

      // WebhookSyncLagHigh: the syncLagQuantile of the end-to-end lag (payload received -> synced)
      // over syncLagRange ABOVE syncLagSeconds. Keep syncLagSeconds a bucket bound of
      // webhook_sync_lag_seconds (..., 300, 600, 1800, ...): the alert is then exact ("more than
      // 5% of the syncs took longer than 10 minutes"), not an interpolation inside a bucket.
      syncLagQuantile: 0.95,
      syncLagSeconds: 600,
      syncLagRange: '15m',
      syncLagFor: '10m',

      // WebhookSyncEventsUnaccounted: accepted payloads of the day window that are neither
      // synced, nor waiting, nor in flight, nor given up; held this long (a sync service that
      // enqueues in a second transaction may show one for an instant).
      syncUnaccountedFor: '5m',

      // WebhookSyncLeaseExpired: items in flight whose lease ran out, for this long.
      syncLeaseExpiredFor: '10m',

      // WebhookInfrastructureOutage
      outageFor: '1m',
      // WebhookExporterDown, WebhookExporterAbsent, WebhookLogStoreDown
      exporterDownFor: '5m',
      exporterAbsentFor: '5m',
      storeDownFor: '2m',
      // WebhookLogStoreReadHeldBack: an open write transaction older than this.
      heldBackSeconds: 600,
    },

    dashboard: {
      uid: 'webhook-health',
      title: 'Webhook health',
      refresh: '1m',
      tags: ['webhook', 'webhook-health-exporter'],
      // The `window` variable: the exporter must compute each of these (`--window`).
      windowChoices: ['1h', '24h', '7d'],
      defaultWindow: '24h',
      // Base URL of the exporter's admin page, for the error-event data links.
      exporterUrl: 'http://localhost:9877',
    },

    // Default values of the dashboard's data source variables: the uids of
    // grafana/provisioning/datasources/datasources.yaml.
    datasources: {
      prometheus: { uid: 'prometheus', name: 'Prometheus' },
      logstore: { uid: 'webhook-logstore', name: 'Webhook log store', type: 'grafana-postgresql-datasource' },
    },
  },
}

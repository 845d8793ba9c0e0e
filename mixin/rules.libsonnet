// Recording rules: per-org rolling-hour counts and ratios, and the coarse day-window baseline of
// WebhookOrgSilent. Rendered to alerting-rules/rules/webhook-recording.yaml.
//
// Every rule keeps `job` and `org` (`max by (job, org)`): replicas of one job read the same log
// store and report identical values, so they collapse into one series per org instead of being
// double counted, while two jobs (two deployments) stay apart. Rejected counts are first summed
// over `reason` per exporter instance, then de-duplicated the same way, so one org's rejections
// only ever land on that org's series.
//
// The inputs are the exporter's EXACT window gauges (`count(*) WHERE received_at > now - 1h` at
// scrape time), not increase() over counters, which extrapolates.
local promql = import 'lib/promql.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local m = promql.new(c),
    local r = m.recorded,
    local hour = [m.window(c.windows.hour)],

    groups+: [
      {
        name: 'webhook-recording',
        rules: [
          {
            // Payloads that reached the endpoint in the rolling hour (accepted, rejected or failed).
            record: r.received,
            expr: m.perOrg(m.received(hour)),
          },
          {
            // Payloads rejected in the rolling hour, all reasons together.
            record: r.rejected,
            expr: m.perOrg(m.rejected(hour)),
          },
          {
            // Payloads rejected in the rolling hour because the shared key was missing or wrong.
            record: r.rejectedAuth,
            expr: m.perOrg(m.rejectedAuth(hour)),
          },
          {
            // Share (0..1) of the hour's payloads that were rejected. An org with no payload in
            // the hour gives 0/0 = NaN, which compares false against any threshold: no alert.
            record: r.rejectedRatio,
            expr: '%s / %s' % [r.rejected, r.received],
          },
          {
            // Share (0..1) of the hour's payloads rejected for missing or invalid auth.
            record: r.rejectedAuthRatio,
            expr: '%s / %s' % [r.rejectedAuth, r.received],
          },
          {
            // Queue items the portal sync service synced in the rolling hour (dense: 0 included).
            record: r.synced,
            expr: m.perOrg(m.synced(hour)),
          },
          {
            // Queue items it gave up on in the rolling hour. The exporter serves this only while
            // above 0: the synced series supplies the 0, so that the ratio exists for every org.
            record: r.givenUp,
            expr: '%s\nor on (job, org)\n0 * %s' % [m.perOrg(m.givenUp(hour)), r.synced],
          },
          {
            // Items finished either way in the rolling hour: the give-up ratio's denominator.
            record: r.finished,
            expr: '%s + %s' % [r.synced, r.givenUp],
          },
          {
            // Share (0..1) of the hour's finished items that were given up. An org that finished
            // nothing in the hour gives 0/0 = NaN, which compares false: no alert.
            record: r.givenUpRatio,
            expr: '%s / %s' % [r.givenUp, r.finished],
          },
        ],
      },
      {
        // "Does this org usually send?" looks a week back at the day-window gauge. Reading a week
        // of raw samples per org at every evaluation (40k samples a series at a 15 s scrape) is
        // what issue #11 rules out; instead this group samples the busiest value of each step
        // into a series with one point per step, and WebhookOrgSilent reads a week of that
        // (672 points at 15m). Each evaluation reads one step of raw samples, and consecutive
        // ranges cover the whole timeline, so no peak is missed.
        name: 'webhook-recording-baseline',
        interval: c.alerts.silenceBaselineStep,
        rules: [
          {
            record: r.receivedDayBaseline,
            expr: m.perOrg('max_over_time(%s[%s])' % [
              m.received([m.window(c.windows.day)]),
              c.alerts.silenceBaselineStep,
            ]),
          },
        ],
      },
    ],
  },
}

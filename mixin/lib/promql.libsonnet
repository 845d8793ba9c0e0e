// The exporter's metrics as PromQL, written once for the rules and the dashboard alike.
//
// Metric names, their labels and the replica de-duplication live here and nowhere else: a change
// to the per-org metric set (docs/metrics.md) is a change to this file. Every selector is built by
// `sel`, which puts _config.selector first, so no rule or panel names the scrape job itself.
// The rejection reasons that mean "the shared webhook key is missing or wrong" (docs/metrics.md).
local authReasons = ['missing_auth', 'invalid_auth'];

{
  authReasons:: authReasons,

  new(config):: {
    local c = config,
    local sel(metric, matchers) = metric + '{' + std.join(', ', [c.selector] + matchers) + '}',

    // metric{<_config.selector>, <matchers>}
    sel(metric, matchers=[]):: sel(metric, matchers),

    // Replicas of one job read the same log store and report the same figures: keep one of them
    // (max), never add them up. Different jobs stay apart. `by` lists what else to keep.
    dedup(expr, by=[]):: 'max by (%s) (%s)' % [std.join(', ', ['job'] + by), expr],
    perOrg(expr, by=[]):: self.dedup(expr, ['org'] + by),

    window(name):: 'window="%s"' % name,
    notUnknown:: 'org!="%s"' % c.unknownOrg,

    // ---- exact window gauges, per exporter instance (label `window`)
    // Payloads that reached the endpoint in the window.
    received(matchers):: sel('webhook_window_payloads_received', matchers),
    // Payloads rejected in the window, every reason together.
    rejected(matchers):: 'sum without (reason) (%s)' % sel('webhook_window_payloads_rejected', matchers),
    // ... for the auth reasons only.
    rejectedAuth(matchers)::
      self.rejected(matchers + ['reason=~"%s"' % std.join('|', authReasons)]),
    // ... keeping `reason`.
    rejectedByReason(matchers):: sel('webhook_window_payloads_rejected', matchers),
    // ... by HTTP status (`code`).
    rejectedByCode(matchers):: sel('webhook_window_payloads_rejected_by_code', matchers),
    // Accepted, then failed in processing.
    failed(matchers):: sel('webhook_window_payloads_failed', matchers),

    // ---- counters, as rates (labels: received: -, rejected: reason and code, failed: code)
    receivedRate(matchers, range):: 'rate(%s[%s])' % [sel('webhook_payloads_received_total', matchers), range],
    rejectedRate(matchers, range):: 'rate(%s[%s])' % [sel('webhook_payloads_rejected_total', matchers), range],
    failedRate(matchers, range):: 'rate(%s[%s])' % [sel('webhook_payloads_failed_total', matchers), range],

    // ---- recording rules (rules.libsonnet), named level:metric:operations
    // (https://prometheus.io/docs/practices/rules/; alerting-rules/README.md explains them).
    local hour = '_' + c.windows.hour,
    local day = '_' + c.windows.day,
    recorded:: {
      received: 'job_org:webhook_window_payloads_received%s:max' % hour,
      rejected: 'job_org:webhook_window_payloads_rejected%s:max' % hour,
      rejectedAuth: 'job_org:webhook_window_payloads_rejected_auth%s:max' % hour,
      rejectedRatio: 'job_org:webhook_window_payloads_rejected_per_received%s:ratio' % hour,
      rejectedAuthRatio: 'job_org:webhook_window_payloads_rejected_auth_per_received%s:ratio' % hour,
      receivedDayBaseline:
        'job_org:webhook_window_payloads_received%s:max_over_time%s' % [day, c.alerts.silenceBaselineStep],
    },
  },
}

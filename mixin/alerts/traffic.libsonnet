// The per-organization alerts: rejections, silence, endpoint URL, sync queue. Each carries
// `job` and `org` (and `severity`); they join on (job, org), never on org alone, so two
// deployments with the same org names never answer for each other. The reasons behind each
// threshold and `for:` are in alerting-rules/README.md; the values in config.libsonnet.
local alert = import '../lib/alert.libsonnet';
local fmt = import '../lib/format.libsonnet';
local promql = import '../lib/promql.libsonnet';

function(c) {
  local m = promql.new(c),
  local r = m.recorded,
  local a = c.alerts,
  // The org an alert is about, as the description's look-ups select it.
  local byOrg = '$labels.job $labels.org',
  local count = 'value | printf "%.0f"',
  local hour = fmt.last(fmt.seconds(c.windows.hour)),

  rules: [
    alert.new(
      c,
      'WebhookHighRejectionRate',
      'critical',
      // Rejected / received over the rolling hour, per org, from the exact window gauges.
      // STRICTLY above the ratio: exactly the threshold does not fire. The unknown org (payloads
      // naming no configured org) is not an org's integration and is left out. The second clause
      // is the minimum-volume guard: 1 keeps "any volume counts"; raise it so that one rejected
      // payload out of a handful does not page.
      |||
        %(ratio)s{%(known)s} > %(threshold)s
        and on (job, org)
        %(received)s >= %(min)s
      ||| % {
        ratio: r.rejectedRatio,
        known: m.notUnknown,
        threshold: fmt.num(a.rejectionRatio),
        received: r.received,
        min: fmt.num(a.rejectionMinReceived),
      },
      'More than %s of an organization\'s webhook payloads were rejected in %s.' % [
        fmt.percent(a.rejectionRatio),
        hour,
      ],
      |||
        Org {{ $labels.org }} had {{ $value | humanizePercentage }} of its webhook payloads
        rejected in %s
        (%s
        of %s;
        threshold %s). Rejected payloads are not retried by Dynamics and are lost unless replayed.
      ||| % [
        hour,
        alert.lookup(r.rejected + '{job=%q,org=%q}', byOrg, count),
        alert.lookup(r.received + '{job=%q,org=%q}', byOrg, count),
        fmt.percent(a.rejectionRatio),
      ],
      // The hour window already smooths; this only stops a ratio hovering at the line from flapping.
      holdFor=a.rejectionFor,
    ),

    alert.new(
      c,
      'WebhookAuthRejectionSpike',
      'warning',
      // Auth rejections are MORE than the share of the org's payloads in the rolling hour: the
      // static key was rotated on one side only. The second clause needs a minimum number of
      // them, so one stray unauthenticated request does not fire it (WebhookHighRejectionRate
      // still covers low-volume orgs).
      |||
        %(ratio)s{%(known)s} > %(threshold)s
        and on (job, org)
        %(rejected)s >= %(min)s
      ||| % {
        ratio: r.rejectedAuthRatio,
        known: m.notUnknown,
        threshold: fmt.num(a.authRatio),
        rejected: r.rejectedAuth,
        min: fmt.num(a.authMinRejected),
      },
      "Most of an organization's webhook payloads are rejected for missing or invalid authentication.",
      |||
        Org {{ $labels.org }}: {{ $value | humanizePercentage }} of the payloads received in
        %s were rejected as %s
        (%s
        payloads). The webhook key configured in Dynamics and the one the Edge Function expects
        most likely differ (secret rotated on one side only).
      ||| % [
        hour,
        std.join(' or ', promql.authReasons),
        alert.lookup(r.rejectedAuth + '{job=%q,org=%q}', byOrg, count),
      ],
      holdFor=a.authFor,
    ),

    alert.new(
      c,
      'WebhookOrgSilent',
      'warning',
      // The value is the silence in seconds: no payload for MORE than silenceSeconds ...
      // ... from an org whose busiest day-window of the look-back held at least the baseline
      // (read from the coarse recording rule, see rules.libsonnet). Taking the look-back's
      // maximum keeps this true for that long after the silence started, so the alert does not
      // resolve itself when the silence outlives the day window. No `for`: the threshold in the
      // expression already is the duration.
      |||
        (
          time()
          - %(last)s
        ) > %(silence)s
        and on (job, org)
        max_over_time(%(baseline)s[%(lookback)s]) >= %(min)s
      ||| % {
        last: m.perOrg(m.sel('webhook_last_received_timestamp_seconds', [m.notUnknown])),
        silence: fmt.num(a.silenceSeconds),
        baseline: r.receivedDayBaseline,
        lookback: a.silenceLookback,
        min: fmt.num(a.silenceBaseline),
      },
      'An organization that usually sends webhooks has sent none for over %s.' % fmt.words(a.silenceSeconds),
      |||
        Org {{ $labels.org }} has sent no webhook payload for {{ $value | humanizeDuration }}
        (last one at
        %s),
        although it usually sends at least %s %s. The Dynamics portal may target another URL,
        or its webhook registration may be disabled.
      ||| % [
        alert.lookup('max(webhook_last_received_timestamp_seconds{job=%q,org=%q})', byOrg, 'value | humanizeTimestamp'),
        fmt.num(a.silenceBaseline),
        fmt.words(fmt.seconds(c.windows.day)),
      ],
    ),

    alert.new(
      c,
      'WebhookEndpointUrlChanged',
      'info',
      // The value is the time of the change; shown for urlChangedSeconds after it.
      '%s > time() - %s\n' % [
        m.perOrg(m.sel('webhook_endpoint_url_changed_timestamp_seconds')),
        fmt.num(a.urlChangedSeconds),
      ],
      "The endpoint URL an organization's portal targets changed in %s." % fmt.last(a.urlChangedSeconds),
      |||
        Org {{ $labels.org }}'s active webhook endpoint URL changed at
        {{ $value | humanizeTimestamp }}; it is now
        %s.
        Check that the Dynamics webhook registration was updated to match.
      ||| % alert.lookup('webhook_endpoint_info{job=%q,org=%q}', byOrg, 'label "url"'),
    ),

    alert.new(
      c,
      'WebhookQueueBacklog',
      'warning',
      // The value is whichever of the two crossed (the depth when both did).
      |||
        %s > %s
        or
        %s > %s
      ||| % [
        m.perOrg(m.sel('webhook_queue_depth')),
        fmt.num(a.queueDepth),
        m.perOrg(m.sel('webhook_queue_oldest_age_seconds')),
        fmt.num(a.queueOldestSeconds),
      ],
      "An organization's portal sync queue is backing up.",
      |||
        Org {{ $labels.org }}'s sync queue holds
        %s
        pending items and the oldest has waited
        %s
        (thresholds: %s items, %s). The portal sync service is slow or stopped.
      ||| % [
        alert.lookup('max(webhook_queue_depth{job=%q,org=%q})', byOrg, count),
        alert.lookup('max(webhook_queue_oldest_age_seconds{job=%q,org=%q})', byOrg, 'value | humanizeDuration'),
        fmt.num(a.queueDepth),
        fmt.short(a.queueOldestSeconds),
      ],
      holdFor=a.queueFor,
    ),
  ],
}

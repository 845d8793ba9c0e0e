// The endpoint table and the exact window counts: "Endpoint configuration", "Payloads in the
// selected window" and "Rejections in the selected window". Per-org figures take one replica per
// job (`max by (job, org)`) before any sum over organizations.
local fmt = import '../../lib/format.libsonnet';
local lib = import '../lib.libsonnet';

function(c) {
  local q = lib.queries(c),
  local a = c.alerts,
  local w = q.window('$window'),
  local hour = q.window(c.windows.hour),
  local threshold = fmt.percent(a.rejectionRatio),
  // The rejection ratio's colours: orange from half the alert threshold, red from it.
  local ratioSteps = [['green', null], ['orange', a.rejectionRatio / 2], ['red', a.rejectionRatio]],
  local ratio(rejected, received) = '%s / clamp_min(%s, 1)' % [rejected, received],
  local stat(id, title, description, x, unit, steps, expr, legend, extra={}) =
    lib.panel(id, 'stat', title, description, [x, 19, 4, 5], lib.defaults(unit, steps, extra),
              [lib.prom('A', expr, legend)], options=lib.statOptions()),
  local bars(id, title, description, x, expr, legend, extra={}) =
    lib.panel(id, 'bargauge', title, description, [x, 33, 12, 8],
              lib.defaults('short', [['green', null], ['orange', 1], ['red', 100]], extra + { min: 0 }),
              [lib.prom('A', expr, legend)], options=lib.bargaugeOptions),

  panels: [
    lib.row(6, 'Endpoint configuration', 11),

    lib.panel(
      7,
      'table',
      'Active webhook endpoint per organization',
      "The endpoint URL each organization's Dynamics portal is configured to target (webhook_endpoint_info), when it last changed, and how long ago the last payload arrived. A recent URL change followed by silence is the classic silent failure: the portal sends elsewhere and the receiver sees nothing. Red: URL changed within %s / no payload for over %s." % [
        fmt.last(a.urlChangedSeconds),
        fmt.words(a.silenceSeconds),
      ],
      [0, 12, 24, 6],
      lib.defaults('none', [['green', null]], lib.tableCustom() + {
        noValue: 'No endpoint configured for the selected organizations',
      }),
      [
        lib.promTable('A', q.perOrg(q.sel('webhook_endpoint_info', q.org), ['url'])),
        lib.promTable('B', '1000 * %s' % q.perOrg(q.sel('webhook_endpoint_url_changed_timestamp_seconds', q.org))),
        lib.promTable('C', 'time() - %s' % q.perOrg(q.sel('webhook_endpoint_url_changed_timestamp_seconds', q.org))),
        lib.promTable('D', 'time() - %s' % q.perOrg(q.sel('webhook_last_received_timestamp_seconds', q.org))),
      ],
      [
        lib.byName('URL changed at', [['unit', 'dateTimeAsIso']]),
        lib.byName('Since URL change', [
          ['unit', 'dtdurations'],
          lib.colorCell,
          ['thresholds', lib.steps([['red', null], ['orange', a.urlChangedSeconds], ['green', 86400]])],
        ]),
        lib.byName('Since last payload', [
          ['unit', 'dtdurations'],
          lib.colorCell,
          ['thresholds', lib.steps([['green', null], ['orange', a.silenceSeconds / 2], ['red', a.silenceSeconds]])],
          ['noValue', 'never'],
        ]),
      ],
      lib.tableOptions('Organization'),
    ) + {
      transformations: lib.organize(
        [
          ['org', 'Organization'],
          ['job', 'Job'],
          ['url', 'Active endpoint URL'],
          ['Value #B', 'URL changed at'],
          ['Value #C', 'Since URL change'],
          ['Value #D', 'Since last payload'],
        ],
        ['Time', 'Value #A'],
      ),
    },

    lib.row(8, 'Payloads in the selected window', 18),

    stat(
      9,
      'Payloads received ($window)',
      'Exact number of payloads that reached the endpoint (accepted, rejected or failed) in the last $window, summed over the selected organizations (webhook_window_payloads_received). Red when nothing arrived: silence is a failure mode (changed portal URL).',
      0,
      'short',
      [['red', null], ['green', 1]],
      'sum(%s)' % q.perOrg(q.received(w)),
      'Received',
    ),
    stat(
      10,
      'Payloads rejected ($window)',
      'Exact number of payloads the endpoint rejected in the last $window over the selected organizations (sum of webhook_window_payloads_rejected over all reasons).',
      4,
      'short',
      [['green', null], ['orange', 1]],
      'sum(%s)' % q.perOrg(q.rejected(w)),
      'Rejected',
    ),
    stat(
      11,
      'Payloads failed in processing ($window)',
      'Payloads accepted by the endpoint that then failed in processing in the last $window (webhook_window_payloads_failed). Candidates for reprocessing from the exporter admin page.',
      8,
      'short',
      [['green', null], ['red', 1]],
      'sum(%s) or %s' % [q.perOrg(q.failed(w)), q.zeroIfAny(w)],
      'Failed',
    ),
    stat(
      12,
      'Rejection ratio ($window)',
      'Rejected / received over the last $window for the selected organizations. The alert threshold is %s over the rolling hour; orange from %s, red from %s.' % [
        threshold,
        fmt.percent(a.rejectionRatio / 2),
        threshold,
      ],
      12,
      'percentunit',
      ratioSteps,
      ratio('sum(%s)' % q.perOrg(q.rejected(w)), 'sum(%s)' % q.perOrg(q.received(w))),
      'Rejection ratio',
      { min: 0, max: 1, decimals: 1 },
    ),

    lib.panel(
      13,
      'table',
      'Per organization ($window)',
      "Received, rejected and failed payloads and the rejection ratio per organization over the last $window, from the exporter's exact window gauges.",
      [16, 19, 8, 13],
      lib.defaults('short', [['green', null]], lib.tableCustom()),
      [
        lib.promTable('A', q.perOrg(q.received(w))),
        lib.promTable('B', q.perOrg(q.rejected(w))),
        lib.promTable('C', q.orZero(q.perOrg(q.failed(w)), w)),
        lib.promTable('D', ratio(q.perOrg(q.rejected(w)), q.perOrg(q.received(w)))),
      ],
      [
        lib.byName('Rejection ratio', [
          ['unit', 'percentunit'],
          ['decimals', 1],
          lib.colorCell,
          ['thresholds', lib.steps(ratioSteps)],
        ]),
        lib.byName('Failed', [lib.colorCell, ['thresholds', lib.steps([['green', null], ['red', 1]])]]),
        lib.byName('Received', [lib.colorCell, ['thresholds', lib.steps([['red', null], ['green', 1]])]]),
      ],
      lib.tableOptions('Rejection ratio', desc=true),
    ) + {
      transformations: lib.organize(
        [
          ['org', 'Organization'],
          ['job', 'Job'],
          ['Value #A', 'Received'],
          ['Value #B', 'Rejected'],
          ['Value #C', 'Failed'],
          ['Value #D', 'Rejection ratio'],
        ],
        ['Time'],
      ),
    },

    lib.panel(
      14,
      'timeseries',
      'Rejection rate, rolling hour (alert threshold %s)' % threshold,
      "Per organization: payloads rejected in the last hour divided by payloads received in the last hour, from the exporter's exact 1h window gauges (the same window the WebhookHighRejectionRate alert uses). The dashed red line is the %s alert threshold." % threshold,
      [0, 24, 16, 8],
      lib.timeseriesDefaults(
        'percentunit',
        [['green', null], ['red', a.rejectionRatio]],
        fill=0,
        thresholdsStyle='dashed',
        custom={ axisSoftMax: 2 * a.rejectionRatio },
      ),
      [lib.prom('A', ratio(q.perOrg(q.rejected(hour)), q.perOrg(q.received(hour))), '{{org}}', instant=false)],
      options=lib.timeseriesOptions,
    ),

    lib.row(15, 'Rejections in the selected window', 32),

    bars(
      16,
      'Rejection reasons ($window)',
      'Rejected payloads in the last $window by rejection reason (webhook_window_payloads_rejected_by_reason), over the selected organizations. A jump in invalid_auth / missing_auth usually means a secret rotation not mirrored on the receiver; unknown_organization means a portal targets the wrong URL.',
      0,
      'sum by (reason) (%s)' % q.perOrg(q.rejectedByReason(w), ['reason', 'code']),
      '{{reason}}',
    ),
    bars(
      17,
      'HTTP status codes of rejections ($window)',
      'Rejected payloads in the last $window by the HTTP status the endpoint answered (the code label of webhook_window_payloads_rejected_by_reason). Dynamics retries only 502/503/504 once; every other non-2xx answer is lost at the source.',
      12,
      'sum by (code) (%s)' % q.perOrg(q.rejectedByReason(w), ['reason', 'code']),
      '{{code}}',
      { noValue: 'No rejections' },
    ),
  ],
}

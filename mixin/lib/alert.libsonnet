// What every alerting rule of this mixin has: a `severity` label, a static `summary`, a templated
// one-paragraph `description` and a `runbook_url` to its section of docs/runbook.md
// (tests/it/alert_rules.rs checks all four).
local fmt = import 'format.libsonnet';

{
  new(config, name, severity, expr, summary, description, holdFor=null)::
    {
      alert: name,
      expr: expr,
      labels: { severity: severity },
      annotations: {
        summary: summary,
        description: fmt.oneLine(description),
        runbook_url: config.runbookBase + '#' + std.asciiLower(name),
      },
    } + (if holdFor == null then {} else { 'for': holdFor }),

  // A value looked up while the description renders: `query` is a printf pattern filled with
  // `args` (e.g. '$labels.job $labels.org'), `render` formats the first result's value, and
  // `otherwise` is shown when the query returns nothing.
  lookup(query, args, render, otherwise=null)::
    '{{ with printf `%s` %s | query }}{{ . | first | %s }}%s{{ end }}' % [
      query,
      args,
      render,
      if otherwise == null then '' else '{{ else }}' + otherwise,
    ],
}

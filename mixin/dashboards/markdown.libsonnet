// A dashboard's panels and queries as Markdown (docs/dashboard-panels.md), so that the document
// listing every query is rendered from the same source as the dashboard and cannot go stale.
local fence(lang, text) =
  '  ```%s\n%s\n  ```' % [lang, std.join('\n', ['  ' + l for l in std.split(text, '\n')])];

local target(t) =
  if std.objectHas(t, 'rawSql') then
    '- `%s`:\n%s' % [t.refId, fence('sql', t.rawSql)]
  else
    '- `%s` %s%s:\n%s' % [
      t.refId,
      if t.instant then 'instant' else 'range',
      if t.legendFormat == '__auto' then '' else ', legend `%s`' % t.legendFormat,
      fence('promql', t.expr),
    ];

local panel(number, p) =
  '**%d. %s** (%s, unit `%s`)  \n%s\n\n%s\n' % [
    number,
    p.title,
    p.type,
    p.fieldConfig.defaults.unit,
    p.description,
    std.join('\n', [target(t) for t in p.targets]),
  ];

function(d, source)
  local panels = d.panels;
  // Panels are numbered in order, rows not.
  local numbers = std.foldl(
    function(acc, p) acc + [(if std.length(acc) == 0 then 0 else acc[std.length(acc) - 1]) + (if p.type == 'row' then 0 else 1)],
    panels,
    [],
  );
  local body = [
    if panels[i].type == 'row' then '\n### %s\n' % panels[i].title else panel(numbers[i], panels[i])
    for i in std.range(0, std.length(panels) - 1)
  ];
  local annotations = [
    '**%s** (annotation)\n\n%s\n' % [a.name, target(a.target)]
    for a in d.annotations.list
    if std.objectHas(a, 'target')
  ];
  |||
    <!-- Generated from mixin/ by mixin/generate.sh: edit mixin/dashboards/, not this file. -->
    # %s: panels and their queries

    Every panel of `%s` with its description and queries, in the
    order of the dashboard (rows as headings). Instant queries show the current value; range
    queries draw over the time range. The variables, data sources and design choices are in
    [dashboard.md](dashboard.md).
  ||| % [d.title, source]
  + std.join('\n', body)
  + '\n### Annotations\n\n'
  + std.join('\n', annotations)

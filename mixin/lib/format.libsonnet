// Text helpers: thresholds and durations of _config are written into PromQL, alert texts and
// panel descriptions through these, so that a changed value changes every sentence naming it.
local units = [
  { seconds: 86400, short: 'd', one: 'a day', many: 'days', alone: 'day' },
  { seconds: 3600, short: 'h', one: 'an hour', many: 'hours', alone: 'hour' },
  { seconds: 60, short: 'm', one: 'a minute', many: 'minutes', alone: 'minute' },
  { seconds: 1, short: 's', one: 'a second', many: 'seconds', alone: 'second' },
];

// The largest unit that divides `s` evenly, and how many of it.
local split(s) =
  local u = std.filter(function(u) s % u.seconds == 0, units)[0];
  { unit: u, count: s / u.seconds };

{
  // A number as a person writes it (jsonnet's own formatting prints 0.1 as 0.10000000000000001).
  num(x):: if x == std.floor(x) then '%d' % x else '%.15g' % x,

  // 0.1 -> "10%"
  percent(ratio):: self.num(std.floor(ratio * 100000 + 0.5) / 1000) + '%',

  // A Prometheus duration ("90s", "5m", "24h", "7d", "1w") in seconds.
  seconds(duration)::
    local n = std.length(duration);
    local per = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    assert std.objectHas(per, duration[n - 1]) : 'not a simple Prometheus duration: ' + duration;
    std.parseInt(std.substr(duration, 0, n - 1)) * per[duration[n - 1]],

  // 300 -> "5 minutes", 3600 -> "an hour", 86400 -> "a day"
  words(s)::
    local p = split(s);
    if p.count == 1 then p.unit.one else '%d %s' % [p.count, p.unit.many],

  // 3600 -> "the last hour", 7200 -> "the last 2 hours"
  last(s)::
    local p = split(s);
    'the last ' + (if p.count == 1 then p.unit.alone else '%d %s' % [p.count, p.unit.many]),

  // 900 -> "15m", as Prometheus prints a duration
  short(s)::
    local p = split(s);
    '%d%s' % [p.count, p.unit.short],

  // A text block (|||) as one line: the alert descriptions are single paragraphs.
  oneLine(text):: std.strReplace(std.rstripChars(text, '\n'), '\n', ' '),
}

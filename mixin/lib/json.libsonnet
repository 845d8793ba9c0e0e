// JSON text with two-space indentation and keys in order, like std.manifestJsonEx, but with
// numbers written as people write them: the jsonnet in Debian (0.18, C++) prints 0.1 as
// 0.10000000000000001, which is the same double but noise in a dashboard file.
local fmt = import 'format.libsonnet';

local manifest(v, indent) =
  local inner = indent + '  ';
  local t = std.type(v);
  if t == 'object' then
    local keys = std.objectFields(v);
    if keys == [] then '{}'
    else '{\n' + std.join(',\n', [
      inner + std.escapeStringJson(k) + ': ' + manifest(v[k], inner)
      for k in keys
    ]) + '\n' + indent + '}'
  else if t == 'array' then
    if v == [] then '[]'
    else '[\n' + std.join(',\n', [inner + manifest(e, inner) for e in v]) + '\n' + indent + ']'
  else if t == 'string' then std.escapeStringJson(v)
  else if t == 'number' then fmt.num(v)
  else if t == 'boolean' then (if v then 'true' else 'false')
  else if t == 'null' then 'null'
  else error 'cannot write a %s as JSON' % t;

{
  // The document, ending with a newline.
  manifest(value):: manifest(value, '') + '\n',
}

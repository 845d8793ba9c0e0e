// Checks Grafana dashboard JSON files against Grafana's published schema (schema.ts), with the
// TypeScript compiler: each file is embedded as `<json> satisfies CheckedDashboard` in a module
// that only exists in memory, and type-checked. Exit 0 when every file passes, 1 when one does
// not (the compiler's messages, with line numbers of the JSON file), 2 on bad usage or a missing
// installation.
//
//   node mixin/schema-check/check.mjs grafana/dashboards/*.json
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

let ts;
try {
  ts = (await import('typescript')).default;
} catch {
  console.error(
    'schema-check: its node_modules are missing: run scripts/install-test-deps.sh ' +
      '(npm ci --prefix mixin/schema-check)',
  );
  process.exit(2);
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node mixin/schema-check/check.mjs DASHBOARD.json...');
  process.exit(2);
}

const options = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.Node16,
  moduleResolution: ts.ModuleResolutionKind.Node16,
  skipLibCheck: true,
};
// The in-memory module sits next to schema.ts, so that its imports resolve as a file here would.
const checked = join(here, '__dashboard__.ts');
const prefix = "import type { CheckedDashboard } from './schema.js';\nexport const dashboard = ";

function check(file) {
  const text = readFileSync(file, 'utf8');
  try {
    JSON.parse(text);
  } catch (e) {
    return [`${file}: not JSON: ${e.message}`];
  }
  const source = `${prefix}${text.trimEnd()} satisfies CheckedDashboard;\n`;
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, version, ...rest) =>
    resolve(name) === checked
      ? ts.createSourceFile(name, source, version)
      : getSourceFile.call(host, name, version, ...rest);
  host.fileExists = (name) => resolve(name) === checked || fileExists.call(host, name);
  host.readFile = (name) => (resolve(name) === checked ? source : readFile.call(host, name));
  const program = ts.createProgram([checked], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
    if (!d.file) return `${file}: ${message}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    if (resolve(d.file.fileName) !== checked) return `${d.file.fileName}:${line + 1}: ${message}`;
    // The JSON starts on the module's second line.
    return `${file}:${line}:${character + 1}: ${message}`;
  });
}

let failed = false;
for (const file of files) {
  const problems = check(file);
  if (problems.length > 0) {
    failed = true;
    console.error(problems.join('\n'));
  } else {
    console.log(`${file}: matches @grafana/schema`);
  }
}
process.exit(failed ? 1 : 0);

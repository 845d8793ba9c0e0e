// Checks Grafana dashboard JSON files against Grafana's published schema (schema.ts), with the
// TypeScript compiler: each file is embedded as `<json> satisfies CheckedDashboard` in a module
// that only exists in memory, and type-checked. Exit 0 when every file passes, 1 when one does
// not (the compiler's messages, with line numbers of the JSON file), 2 on bad usage or a missing
// installation.
//
// Every Grafana version whose schema package.json installs (as the alias
// `grafana-schema-VERSION` of @grafana/schema) is checked, or only those named by --grafana.
// schema.ts imports `@grafana/schema`; that name is mapped to one version's package at a time
// (the packages' own files import it by that name too).
//
//   node mixin/schema-check/check.mjs grafana/dashboards/*.json
//   node mixin/schema-check/check.mjs --grafana 13.2.3 grafana/dashboards/*.json
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

const ALIAS = 'grafana-schema-';
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const installed = Object.keys(pkg.devDependencies)
  .filter((name) => name.startsWith(ALIAS))
  .map((name) => name.slice(ALIAS.length));

const usage = 'usage: node mixin/schema-check/check.mjs [--grafana VERSION]... DASHBOARD.json...';
const files = [];
const wanted = [];
for (let args = process.argv.slice(2); args.length > 0; ) {
  const arg = args.shift();
  if (arg === '--grafana') {
    const version = args.shift();
    if (!installed.includes(version)) {
      console.error(`schema-check: no schema of Grafana ${version} here (package.json has ${installed.join(', ')})`);
      process.exit(2);
    }
    wanted.push(version);
  } else {
    files.push(arg);
  }
}
if (files.length === 0) {
  console.error(usage);
  process.exit(2);
}
const versions = wanted.length > 0 ? wanted : installed;

// The compiler options that make `@grafana/schema` (and its deep imports) mean one version.
function optionsFor(version) {
  const dir = join(here, 'node_modules', ALIAS + version);
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  } catch {
    console.error(`schema-check: ${dir} is missing: run scripts/install-test-deps.sh (npm ci --prefix mixin/schema-check)`);
    process.exit(2);
  }
  if (manifest.version !== version) {
    console.error(`schema-check: ${dir} holds @grafana/schema ${manifest.version}, not ${version}: run scripts/install-test-deps.sh`);
    process.exit(2);
  }
  // 11.x names its typings at the top level, 13.x only in its exports map.
  const types = manifest.exports?.['.']?.types ?? manifest.types;
  return {
    ...options,
    baseUrl: here,
    paths: {
      '@grafana/schema': [join(dir, types)],
      '@grafana/schema/*': [join(dir, '*')],
    },
  };
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

function check(file, options) {
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
for (const version of versions) {
  const versionOptions = optionsFor(version);
  for (const file of files) {
    const problems = check(file, versionOptions);
    if (problems.length > 0) {
      failed = true;
      console.error(`${file}: does not match @grafana/schema ${version}:`);
      console.error(problems.join('\n'));
    } else {
      console.log(`${file}: matches @grafana/schema ${version}`);
    }
  }
}
process.exit(failed ? 1 : 0);

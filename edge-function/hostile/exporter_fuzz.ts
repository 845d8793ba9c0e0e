// The hostile-bytes generator of the function's property, against every HTTP route of the
// exporter (API, lifecycle ingestion, telemetry, probes, admin page): never a 5xx, a refused
// request (4xx) writes nothing to the log store but, for an authorized reprocess request, its own
// `rejected` audit row (docs/api.md, "Audit trail"), and two Authorization headers are refused on
// the authenticated routes. Run by tests/it (exporter_hostile.rs):
//
//   EXPORTER_PORT=9877 WHE_DATABASE_URL=postgres://... API_TOKEN=... INGEST_TOKEN=... \
//   HOSTILE_RUNS=1000 HOSTILE_SEED=42 deno run --frozen --allow-net --allow-env hostile/exporter_fuzz.ts

import fc from "fast-check";
import postgres from "postgres";
import {
  concat,
  encode,
  forbiddenByte,
  headerValueBytes,
  hostileBytes,
  hostileText,
  percentEncode,
  send,
  utf8,
  type WireRequest,
} from "./wire.ts";

const env = (name: string): string => {
  const v = Deno.env.get(name);
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const port = Number(env("EXPORTER_PORT"));
const apiToken = env("API_TOKEN");
const ingestToken = env("INGEST_TOKEN");
const runs = Number(Deno.env.get("HOSTILE_RUNS") ?? "1000");
const seed = Number(Deno.env.get("HOSTILE_SEED") ?? "20261202");
const sql = postgres(env("WHE_DATABASE_URL"), { prepare: false, max: 1, onnotice: () => {} });

interface Route {
  method: string;
  path: string;
  /** The credential the route takes, if any. */
  token: "api" | "ingest" | null;
}

const ROUTES: Route[] = [
  { method: "POST", path: "/api/v1/lifecycle/edge-runtime", token: "ingest" },
  { method: "POST", path: "/api/v1/lifecycle/log-drain", token: "ingest" },
  { method: "GET", path: "/api/v1/events", token: "api" },
  { method: "POST", path: "/api/v1/reprocess", token: "api" },
  { method: "GET", path: "/api/v1/openapi.json", token: null },
  { method: "GET", path: "/metrics", token: null },
  { method: "GET", path: "/", token: null },
  { method: "GET", path: "/healthz", token: null },
  { method: "GET", path: "/readyz", token: null },
  { method: "GET", path: "/admin", token: null },
];

type Auth = "none" | "right" | "other" | "hostile" | "good+bad" | "bad+good" | "good+good";

/** JSON shaped like each route's body, its strings hostile (\u0000, lone surrogates, controls). */
const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({
    events: fc.array(
      fc.record({
        timestamp: fc.oneof(fc.integer(), hostileText),
        event_type: fc.constantFrom("Boot", "BootFailure", "UncaughtException", "Shutdown", "Log"),
        event: fc.dictionary(
          fc.constantFrom("Shutdown", "UncaughtException", "BootFailure"),
          fc.dictionary(hostileText, hostileText, { maxKeys: 3 }),
        ),
        metadata: fc.record({ service_path: hostileText, execution_id: hostileText }),
        id: hostileText,
      }),
      { maxLength: 4 },
    ),
  }),
  fc.array(
    fc.record({
      id: hostileText,
      timestamp: fc.oneof(fc.integer(), hostileText),
      event_message: hostileText,
      metadata: fc.record({
        event_type: fc.constantFrom("Boot", "uncaughtException", "Shutdown", "log"),
        level: hostileText,
        function_id: hostileText,
        reason: hostileText,
      }),
    }),
    { maxLength: 4 },
  ),
  fc.record({
    event_ids: fc.array(fc.oneof(fc.uuid(), hostileText), { maxLength: 3 }),
    dry_run: fc.boolean(),
  }),
  fc.record({
    filter: fc.record({ orgs: fc.array(hostileText, { maxLength: 2 }), since: hostileText }),
    dry_run: fc.boolean(),
  }),
);

const exporterCase = fc.record({
  route: fc.constantFrom(...ROUTES),
  otherMethod: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, {
    weight: 1,
    arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
  }),
  pathSuffix: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, {
    weight: 1,
    arbitrary: hostileBytes,
  }),
  query: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, {
    weight: 1,
    arbitrary: fc.array(
      fc.tuple(
        fc.constantFrom("org", "since", "limit", "cursor", "reason", "outcome", "x"),
        hostileBytes,
      ),
      { maxLength: 3 },
    ),
  }),
  auth: fc.constantFrom<Auth>(
    "none",
    "right",
    "right",
    "right",
    "other",
    "hostile",
    "good+bad",
    "bad+good",
    "good+good",
  ),
  hostileAuth: headerValueBytes,
  headers: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom(
        "content-type",
        "content-encoding",
        "idempotency-key",
        "accept",
        "x-hostile",
      ),
      value: headerValueBytes,
    }),
    { maxLength: 3, selector: (h) => h.name },
  ),
  body: fc.oneof(
    { weight: 3, arbitrary: hostileJson.map((j) => utf8(JSON.stringify(j))) },
    { weight: 1, arbitrary: hostileBytes },
  ),
  poison: fc.oneof({ weight: 15, arbitrary: fc.constant(null) }, {
    weight: 1,
    arbitrary: forbiddenByte,
  }),
});
type ExporterCase = typeof exporterCase extends fc.Arbitrary<infer T> ? T : never;

function wire(c: ExporterCase): WireRequest {
  let target = utf8(c.route.path);
  if (c.pathSuffix !== null) target = concat(target, percentEncode(c.pathSuffix));
  if (c.query !== null && c.query.length > 0) {
    const pairs = c.query.map(([k, v]) => concat(utf8(`${k}=`), percentEncode(v)));
    target = concat(target, utf8("?"), ...pairs.flatMap((p, i) => i ? [utf8("&"), p] : [p]));
  }
  if (c.poison !== null) target = concat(target, Uint8Array.of(c.poison));
  const right = c.route.token === "ingest" ? ingestToken : apiToken;
  const other = c.route.token === "ingest" ? apiToken : ingestToken;
  const bearer = (t: string) => utf8(`Bearer ${t}`);
  const auth: Uint8Array[] = {
    none: [],
    right: [bearer(right)],
    other: [bearer(other)],
    hostile: [concat(utf8("Bearer "), c.hostileAuth)],
    "good+bad": [bearer(right), bearer("bad")],
    "bad+good": [bearer("bad"), bearer(right)],
    "good+good": [bearer(right), bearer(right)],
  }[c.auth];
  const headers: [string, Uint8Array][] = auth.map((a) => ["Authorization", a]);
  for (const h of c.headers) headers.push([h.name, h.value]);
  if (!c.headers.some((h) => h.name === "content-type")) {
    headers.push(["Content-Type", utf8("application/json")]);
  }
  return { method: c.otherMethod ?? c.route.method, target, headers, body: c.body };
}

/** The data rows (events, queue, lifecycle) as one figure, and the audit rows by status. */
async function written(): Promise<{ data: string; audits: string[] }> {
  const [r] = await sql`
    SELECT (SELECT count(*) FROM webhook_events) || '/' || (SELECT count(*) FROM sync_queue) || '/' ||
           (SELECT count(*) FROM edge_function_events) AS data,
           (SELECT coalesce(json_agg(status || ' ' || http_status ORDER BY id), '[]')
              FROM reprocess_requests) AS audits`;
  return { data: r.data as string, audits: r.audits as string[] };
}

const statuses = new Map<number, number>();

async function property(c: ExporterCase): Promise<void> {
  const before = await written();
  const res = await send(port, encode(wire(c)));
  const after = await written();
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  const say = (what: string) =>
    `${what}: ${c.otherMethod ?? c.route.method} ${c.route.path} (auth ${c.auth}) answered ` +
    `${res.status} ${res.body.slice(0, 300)}; rows ${JSON.stringify(before)} -> ${
      JSON.stringify(after)
    }`;
  if (!(res.status >= 100 && res.status < 500)) {
    throw new Error(say("a server error (or no answer)"));
  }
  if (res.status >= 400) {
    if (after.data !== before.data) throw new Error(say("a refused request wrote"));
    // An authorized reprocess request is audited even when refused: its own row, nothing else.
    const audited = after.audits.slice(before.audits.length);
    if (
      audited.length > 0 && JSON.stringify(audited) !== JSON.stringify([`rejected ${res.status}`])
    ) {
      throw new Error(say("a refused request wrote an audit row other than its own"));
    }
  }
  const twoHeaders = c.auth.includes("+");
  const reachesAuth = c.route.token !== null && c.poison === null && c.otherMethod === null &&
    c.pathSuffix === null;
  if (twoHeaders && reachesAuth && res.status !== 401) {
    throw new Error(say("two Authorization headers"));
  }
}

try {
  await fc.assert(fc.asyncProperty(exporterCase, property), { numRuns: runs, seed });
  const seen = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s} ${n}`).join(
    ", ",
  );
  console.log(
    `hostile requests to the exporter: ${runs} requests, seed ${seed}: no 5xx, nothing but its own ` +
      `audit row written by a refused request [${seen}]`,
  );
} finally {
  await sql.end();
}
Deno.exit(0);

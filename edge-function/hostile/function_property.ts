// Property: whatever the bytes of a request, the dynamics-webhook function writes exactly one
// webhook_events row per POST that reaches it, answers the documented status for the reason, keeps
// the body as received where it keeps one, and writes nothing else (a sync_queue item for an
// accepted payload only, no lifecycle row). Run against real PostgreSQL by tests/it
// (edge_function_hostile.rs):
//
//   WEBHOOK_DATABASE_URL=postgres://... HOSTILE_RUNS=1000 HOSTILE_SEED=42 \
//     deno run --frozen --allow-net --allow-env hostile/function_property.ts
//
// The database must be migrated, with organizations contoso (active) and retired (inactive).

import fc from "fast-check";
import postgres from "postgres";
import type { Config } from "../dynamics-webhook/config.ts";
import { handle } from "../dynamics-webhook/handler.ts";
import { RateLimiter } from "../dynamics-webhook/limiter.ts";
import { OrgResolver } from "../dynamics-webhook/org.ts";
import { connect, PgStore } from "../dynamics-webhook/store.ts";
import {
  bodyBytes,
  type Case,
  expected,
  headerText,
  hostileCase,
  KEY,
  MAX_BODY_BYTES,
  PREVIOUS_KEY,
  wire,
} from "./function_model.ts";
import { encode, send } from "./wire.ts";

const databaseUrl = Deno.env.get("WEBHOOK_DATABASE_URL");
if (!databaseUrl) throw new Error("WEBHOOK_DATABASE_URL is not set");
const runs = Number(Deno.env.get("HOSTILE_RUNS") ?? "1000");
const seed = Number(Deno.env.get("HOSTILE_SEED") ?? "20261202");

const config: Config = {
  databaseUrl,
  keys: [KEY, PREVIOUS_KEY],
  keyHeader: "x-webhook-key",
  keyQueryParam: "code",
  maxBodyBytes: MAX_BODY_BYTES,
  messages: new Set(["create", "update", "delete"]),
  entities: new Set(),
  rateLimitPerMinute: 0,
  functionName: "dynamics-webhook",
  recordLifecycle: false,
  pgmqQueue: null,
};
const store = new PgStore(connect(databaseUrl));
const deps = {
  config,
  sink: store,
  orgs: new OrgResolver(store.findOrg),
  limiter: new RateLimiter(0),
};
let handled = 0;
const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
  handled += 1;
  return handle(req, deps);
});
const check = postgres(databaseUrl, { prepare: false, max: 1, onnotice: () => {} });

interface Row {
  event_id: string;
  org_id: string;
  outcome: string;
  http_status: number;
  rejection_reason: string | null;
  correlation_id: string | null;
  entity_name: string | null;
  message_name: string | null;
  has_json: boolean;
  raw_is_body: boolean;
  body_dropped: boolean;
}

/** Kept exactly: the body's bytes, or jsonb equal to the body read as JSON by PostgreSQL itself. */
async function keptExactly(row: Row, body: Uint8Array): Promise<boolean> {
  if (!row.has_json) return row.raw_is_body;
  // Only now: a cast of a body that is not JSON fails even inside a CASE (it is folded early).
  const [r] = await check`
    SELECT payload_raw IS NULL AND payload = convert_from(${body}::bytea, 'UTF8')::jsonb AS same
      FROM webhook_events WHERE event_id = ${row.event_id}`;
  return r.same === true;
}

async function written(since: bigint, queueSince: bigint, body: Uint8Array) {
  const [r] = await check`
    SELECT coalesce((SELECT max(id) FROM webhook_events), 0)::text AS last,
           coalesce((SELECT max(id) FROM sync_queue), 0)::text AS last_queue,
           (SELECT count(*) FROM edge_function_events)::int AS lifecycle,
           (SELECT coalesce(json_agg(q.event_id), '[]') FROM sync_queue q WHERE q.id > ${queueSince.toString()}::bigint) AS queued,
           (SELECT coalesce(json_agg(json_build_object(
               'event_id', e.event_id, 'org_id', e.org_id, 'outcome', e.outcome,
               'http_status', e.http_status, 'rejection_reason', e.rejection_reason,
               'correlation_id', e.correlation_id, 'entity_name', e.entity_name,
               'message_name', e.message_name,
               'has_json', e.payload IS NOT NULL,
               'raw_is_body', e.payload_raw IS NOT DISTINCT FROM ${body}::bytea,
               'body_dropped', e.payload IS NULL AND e.payload_raw IS NULL)), '[]')
              FROM webhook_events e WHERE e.id > ${since.toString()}::bigint) AS rows`;
  return {
    last: BigInt(r.last),
    lastQueue: BigInt(r.last_queue),
    lifecycle: r.lifecycle as number,
    queued: r.queued as string[],
    rows: r.rows as Row[],
  };
}

const tally = new Map<string, number>();
let lastId = 0n;
let lastQueue = 0n;
const baseline = await written(0n, 0n, new Uint8Array());
lastId = baseline.last;
lastQueue = baseline.lastQueue;

async function property(c: Case): Promise<void> {
  const body = bodyBytes(c);
  const want = expected(c, body);
  const before = handled;
  const res = await send(server.addr.port, encode(wire(c, body)));
  const got = await written(lastId, lastQueue, body);
  lastId = got.last;
  lastQueue = got.lastQueue;
  const label = want.reaches
    ? want.reason ?? `${want.status} without a row`
    : "refused by the HTTP parser";
  tally.set(label, (tally.get(label) ?? 0) + 1);
  const say = (what: string) =>
    `${what}; expected ${JSON.stringify(want)}, answered ${res.status} ${
      res.body.slice(0, 300)
    }, wrote ${JSON.stringify(got.rows)}`;

  if (res.status !== want.status) throw new Error(say("status"));
  if ((handled > before) !== want.reaches) throw new Error(say("reached the function"));
  if (got.lifecycle !== baseline.lifecycle) throw new Error(say("a lifecycle row was written"));
  if (want.reason === null) {
    if (got.rows.length !== 0 || got.queued.length !== 0) {
      throw new Error(say("wrote without a POST"));
    }
    return;
  }
  const answer = JSON.parse(res.body);
  const answered = answer.reason ?? answer.outcome;
  if (answered !== want.reason) throw new Error(say("answered reason"));
  if (got.rows.length !== 1) throw new Error(say("not exactly one row"));
  const row = got.rows[0];
  const accepted = want.reason === "accepted";
  if (row.org_id !== want.orgId) throw new Error(say("org_id"));
  if (row.outcome !== (accepted ? "accepted" : "rejected")) throw new Error(say("outcome"));
  if (row.http_status !== want.status) throw new Error(say("http_status"));
  if (row.rejection_reason !== (accepted ? null : want.reason)) throw new Error(say("reason"));
  const keptRight = want.keepsBody ? await keptExactly(row, body) : row.body_dropped;
  if (!keptRight) throw new Error(say("payload columns"));
  const queued = accepted ? [row.event_id] : [];
  if (JSON.stringify(got.queued) !== JSON.stringify(queued)) throw new Error(say("sync_queue"));
  const correlation = c.headers.find((h) => h.name === "x-ms-correlation-request-id");
  if (correlation !== undefined) {
    const sent = headerText(correlation.value);
    if (sent !== "" && row.correlation_id !== sent) throw new Error(say("correlation_id"));
  }
}

try {
  await fc.assert(fc.asyncProperty(hostileCase, property), {
    numRuns: runs,
    seed,
    endOnFailure: false,
  });
  const classes = [...tally.entries()].sort().map(([k, n]) => `${k} ${n}`).join(", ");
  console.log(
    `hostile requests to the function: ${runs} requests, seed ${seed}: one row per POST ` +
      `that reached it, status as documented, nothing else written [${classes}]`,
  );
} finally {
  await server.shutdown();
  await check.end();
}
Deno.exit(0);

// The request pipeline with an in-memory sink: every reason of docs/log-store.md answered with its
// status and written as one row; accepted payloads queued; nothing counted for a probe.

import assert from "node:assert/strict";
import type { Config } from "./config.ts";
import { type Deps, handle } from "./handler.ts";
import { RateLimiter } from "./limiter.ts";
import { OrgResolver } from "./org.ts";
import { REJECTION_STATUS } from "./reasons.ts";
import { config, context, MemorySink } from "./test_support.ts";

const ORGS: Record<string, boolean> = { contoso: true, fabrikam: true, retired: false };

function deps(overrides: Partial<Config> = {}): Deps & { sink: MemorySink } {
  const c = config(overrides);
  return {
    config: c,
    sink: new MemorySink(),
    orgs: new OrgResolver((id) => Promise.resolve(id in ORGS ? { active: ORGS[id] } : null)),
    limiter: new RateLimiter(c.rateLimitPerMinute),
  };
}

interface Send {
  path?: string;
  key?: string | null;
  body?: string | Record<string, unknown>;
  headers?: Record<string, string>;
  method?: string;
}

async function send(
  d: Deps,
  s: Send = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": "application/json", ...s.headers };
  if (s.key !== null) headers["x-webhook-key"] = s.key ?? "current-key";
  const body = typeof s.body === "string" ? s.body : JSON.stringify(s.body ?? context());
  const req = new Request(`http://function.local${s.path ?? "/dynamics-webhook/contoso"}`, {
    method: s.method ?? "POST",
    headers,
    body: s.method === "GET" ? undefined : body,
  });
  const res = await handle(req, d);
  return { status: res.status, json: await res.json() };
}

Deno.test("an accepted payload is written once and queued under the payload's id", async () => {
  const d = deps();
  const res = await send(d, {
    headers: {
      "x-ms-correlation-request-id": "corr-1",
      "x-ms-dynamics-entity-name": "account",
      "x-ms-dynamics-request-name": "Create",
    },
  });
  assert.equal(res.status, 202);
  assert.equal(d.sink.rows.length, 1);
  const row = d.sink.rows[0];
  assert.equal(row.outcome, "accepted");
  assert.equal(row.httpStatus, 202);
  assert.equal(row.rejectionReason, null);
  assert.equal(row.orgId, "contoso");
  assert.equal(row.correlationId, "corr-1");
  assert.equal(row.messageName, "Create");
  assert.deepEqual(row.payload, context());
  assert.deepEqual(d.sink.queue, [{ orgId: "contoso", eventId: row.eventId }]);
  assert.equal(res.json.event_id, row.eventId);
});

Deno.test("every rejection reason is answered with its documented status and logged", async () => {
  const d = deps({ rateLimitPerMinute: 2, maxBodyBytes: 2048 });
  const cases: [string, Send][] = [
    ["missing_auth", { key: null }],
    ["invalid_auth", { key: "rotated-away" }],
    ["unknown_organization", { path: "/dynamics-webhook/nobody" }],
    ["payload_too_large", { body: context({ Big: "x".repeat(4096) }) }],
    ["invalid_payload", { body: "{not json" }],
    ["unsupported_event", { body: context({ MessageName: "Assign" }) }],
    ["rate_limited", {
      path: "/dynamics-webhook/fabrikam",
      body: context({ RequestId: crypto.randomUUID() }),
    }],
    ["duplicate", {}],
  ];
  // fabrikam spends its two tokens; contoso's first delivery makes the last case a duplicate.
  for (let i = 0; i < 2; i++) {
    await send(d, {
      path: "/dynamics-webhook/fabrikam",
      body: context({ RequestId: crypto.randomUUID() }),
    });
  }
  await send(d);
  const before = d.sink.rows.length;
  for (const [reason, s] of cases) {
    const res = await send(d, s);
    assert.equal(res.status, REJECTION_STATUS[reason as keyof typeof REJECTION_STATUS], reason);
    assert.equal(res.json.reason, reason);
    const row = d.sink.rows.at(-1)!;
    assert.equal(row.outcome, "rejected", reason);
    assert.equal(row.rejectionReason, reason);
    assert.equal(row.httpStatus, res.status);
  }
  const rows = d.sink.rows.slice(before);
  assert.equal(rows.length, cases.length);
  // Refused payloads keep the body for reprocessing when it is JSON worth keeping.
  const unsupported = rows.find((r) => r.rejectionReason === "unsupported_event")!;
  assert.equal((unsupported.payload as Record<string, unknown>).MessageName, "Assign");
  const invalid = rows.find((r) => r.rejectionReason === "invalid_payload")!;
  assert.equal(invalid.payload, null);
  // Every row has an id of its own (event_id is unique), duplicates included.
  assert.equal(new Set(d.sink.rows.map((r) => r.eventId)).size, d.sink.rows.length);
  assert.match(d.sink.rows.at(-1)!.errorDetail!, /^duplicate of event /);
});

Deno.test("the key: a header, Dataverse's code parameter, or the previous key during a rotation", async () => {
  const d = deps();
  const ctx = () => context({ RequestId: crypto.randomUUID() });
  assert.equal((await send(d, { body: ctx() })).status, 202);
  assert.equal((await send(d, { key: "previous-key", body: ctx() })).status, 202);
  const code = await send(d, {
    key: null,
    path: "/dynamics-webhook/contoso?code=current-key",
    body: ctx(),
  });
  assert.equal(code.status, 202);
  const wrongCode = await send(d, {
    key: null,
    path: "/dynamics-webhook/contoso?code=nope",
    body: ctx(),
  });
  assert.equal(wrongCode.json.reason, "invalid_auth");
  const custom = deps({ keyHeader: "authorization-key", keyQueryParam: "apikey" });
  const viaHeader = await send(custom, {
    key: null,
    headers: { "Authorization-Key": "current-key" },
  });
  assert.equal(viaHeader.status, 202);
  const viaQuery = await send(custom, {
    key: null,
    path: "/dynamics-webhook/contoso?apikey=previous-key",
    body: ctx(),
  });
  assert.equal(viaQuery.status, 202);
});

Deno.test("the org comes from the path, then ?org=, then x-ms-dynamics-organization", async () => {
  const d = deps();
  const viaQuery = await send(d, { path: "/dynamics-webhook?org=fabrikam" });
  assert.equal(viaQuery.status, 202);
  const viaHeader = await send(d, {
    path: "/dynamics-webhook",
    body: context({ RequestId: crypto.randomUUID() }),
    headers: { "x-ms-dynamics-organization": "Contoso.crm4.dynamics.com" },
  });
  assert.equal(viaHeader.status, 202);
  assert.deepEqual(d.sink.rows.map((r) => r.orgId), ["fabrikam", "contoso"]);
  const none = await send(d, { path: "/dynamics-webhook" });
  assert.equal(none.json.reason, "unknown_organization");
  assert.equal(d.sink.rows.at(-1)!.orgId, "_unknown");
  const inactive = await send(d, { path: "/dynamics-webhook/retired" });
  assert.equal(inactive.status, 404);
  assert.match(d.sink.rows.at(-1)!.errorDetail!, /switched off/);
});

Deno.test("a size-exceeded header is payload_too_large, keeping what Dataverse did send", async () => {
  const d = deps();
  const stripped = context({
    InputParameters: null,
    PreEntityImages: null,
    PostEntityImages: null,
  });
  const res = await send(d, {
    body: stripped,
    headers: { "x-ms-dynamics-msg-size-exceeded": "true" },
  });
  assert.equal(res.status, 413);
  assert.equal(res.json.reason, "payload_too_large");
  assert.deepEqual(d.sink.rows[0].payload, stripped);
  assert.equal(d.sink.queue.length, 0);
});

Deno.test("a payload that cannot be queued is a failed row, and a redelivery is then accepted", async () => {
  const d = deps();
  d.sink.failAccept = true;
  const res = await send(d);
  assert.equal(res.status, 500);
  assert.equal(d.sink.rows[0].outcome, "failed");
  assert.equal(d.sink.rows[0].rejectionReason, null);
  d.sink.failAccept = false;
  assert.equal((await send(d)).status, 202);
});

Deno.test("a failure before deciding is internal_error 500, without the cause in the answer", async () => {
  const d = deps();
  d.orgs = new OrgResolver(() =>
    Promise.reject(new Error('relation "organizations" does not exist'))
  );
  const res = await send(d);
  assert.equal(res.status, 500);
  assert.equal(res.json.reason, "internal_error");
  assert.equal(res.json.error, "internal error");
  assert.match(d.sink.rows[0].errorDetail!, /organizations/);
});

Deno.test("a probe (GET) is answered 405 and is not a payload", async () => {
  const d = deps();
  const res = await send(d, { method: "GET" });
  assert.equal(res.status, 405);
  assert.equal(d.sink.rows.length, 0);
});

Deno.test("a row that cannot be written is answered 503, a status Dataverse delivers again", async () => {
  const d = deps();
  d.sink.record = () => Promise.reject(new Error("database down"));
  const res = await send(d, { key: "wrong" });
  assert.equal(res.status, 503);
  assert.equal(res.json.outcome, "not_recorded");
  // Neither the queue nor the failed row: the payload is nowhere, so it must come again.
  d.sink.failAccept = true;
  assert.equal((await send(d)).status, 503);
});

Deno.test("a claim that cannot be an org id is stored as _unknown, its text in the detail", async () => {
  const d = deps();
  for (
    const path of [
      "/dynamics-webhook/contoso%00",
      "/dynamics-webhook/con%FFtoso",
      "/dynamics-webhook/a.b",
    ]
  ) {
    assert.equal((await send(d, { path })).status, 404, path);
    const row = d.sink.rows.at(-1)!;
    assert.equal(row.orgId, "_unknown", path);
    assert.match(row.errorDetail!, /is not an organization id/);
  }
  // With a wrong key as well: invalid_auth, counted under _unknown (a key guess is seen).
  await send(d, { path: "/dynamics-webhook/contoso%00", key: "guess" });
  assert.deepEqual(
    [d.sink.rows.at(-1)!.orgId, d.sink.rows.at(-1)!.rejectionReason],
    ["_unknown", "invalid_auth"],
  );
});

Deno.test("two keys in the query are ambiguous: invalid_auth, whichever comes first", async () => {
  const d = deps();
  for (const q of ["code=current-key&code=wrong", "code=wrong&code=current-key"]) {
    const res = await send(d, { key: null, path: `/dynamics-webhook/contoso?${q}` });
    assert.equal(res.json.reason, "invalid_auth", q);
  }
  assert.equal(
    (await send(d, { key: null, path: "/dynamics-webhook/contoso?code=current-key" })).status,
    202,
  );
});

Deno.test("a body jsonb cannot hold keeps its bytes on the row", async () => {
  const d = deps();
  // An emoji cut in half: valid JSON, refused by jsonb.
  const body = JSON.stringify(context({ Note: "HALF" })).replace("HALF", "\\ud83d");
  const res = await send(d, { body });
  assert.equal(res.status, 202);
  assert.deepEqual(d.sink.rows[0].rawBody, new TextEncoder().encode(body));
});

// The default portal call against a real HTTP server on 127.0.0.1: what it sends, and how each
// answer (or its absence) maps to an error class.

import assert from "node:assert/strict";
import { ConfigError } from "./config.ts";
import { classifyStatus, httpPortal, retryAfterMs } from "./http_portal.ts";
import type { QueueItem } from "./portal.ts";

const ITEM: QueueItem = {
  itemId: "7",
  eventId: "5b0c3c4e-2f4e-4a53-9f0e-3b1f1d9e8a11",
  orgId: "contoso & co",
  attempt: 2,
  reprocess: true,
  receivedAt: new Date("2026-12-01T10:00:00Z"),
  entityName: "account",
  messageName: "Create",
  payload: { MessageName: "Create", PrimaryEntityName: "account" },
};

interface Seen {
  url: string;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A real server answering with `answer`; records what it got. */
async function withServer(
  answer: () => Response | Promise<Response>,
  body: (url: string, seen: Seen[]) => Promise<void>,
) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    seen.push({ url: req.url, headers: req.headers, body: await req.json() });
    return await answer();
  });
  try {
    await body(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

const call = (url: string, item = ITEM, signal = AbortSignal.timeout(5000)) =>
  httpPortal({ url, token: "s3cret" })(item, signal);

Deno.test("the status table", () => {
  const table: Record<string, number[]> = {
    portal_unavailable: [429, 500, 502, 503, 504],
    portal_auth: [401, 403],
    conflict: [409, 412],
    invalid_data: [400, 422],
    timeout: [408],
    portal_rejected: [404, 405, 410, 413, 415],
    other: [302, 304],
  };
  for (const [errorClass, statuses] of Object.entries(table)) {
    for (const s of statuses) assert.equal(classifyStatus(s), errorClass, `${s}`);
  }
});

Deno.test("Retry-After in seconds or as a date", () => {
  const now = Date.parse("2026-12-01T10:00:00Z");
  assert.equal(retryAfterMs("120", now), 120_000);
  assert.equal(retryAfterMs("Tue, 01 Dec 2026 10:00:30 GMT", now), 30_000);
  assert.equal(retryAfterMs("Tue, 01 Dec 2026 09:00:00 GMT", now), 0);
  for (const v of [null, "", "soon", "-5"]) assert.equal(retryAfterMs(v, now), undefined, `${v}`);
});

Deno.test("a success: the item posted with its labels, key and credentials", async () => {
  await withServer(() => new Response(null, { status: 204 }), async (base, seen) => {
    const result = await call(`${base}/api/{org}/{entity}/{message}`);
    assert.deepEqual(result, { ok: true, httpStatus: 204 });
    assert.equal(seen.length, 1);
    const [got] = seen;
    assert.equal(got.url, `${base}/api/contoso%20%26%20co/account/Create`);
    assert.equal(got.headers.get("authorization"), "Bearer s3cret");
    assert.equal(got.headers.get("idempotency-key"), ITEM.eventId);
    assert.equal(got.headers.get("x-sync-attempt"), "2");
    assert.equal(got.headers.get("content-type"), "application/json");
    assert.deepEqual(got.body, {
      eventId: ITEM.eventId,
      orgId: "contoso & co",
      entityName: "account",
      messageName: "Create",
      receivedAt: "2026-12-01T10:00:00.000Z",
      reprocess: true,
      attempt: 2,
      context: ITEM.payload,
    });
  });
});

Deno.test("a refusal keeps the status, Dataverse's message and Retry-After", async () => {
  const dataverse503 = () =>
    Response.json({ error: { code: "0x80072322", message: "Number of requests exceeded" } }, {
      status: 503,
      headers: { "retry-after": "7" },
    });
  await withServer(dataverse503, async (base) => {
    assert.deepEqual(await call(base), {
      ok: false,
      errorClass: "portal_unavailable",
      httpStatus: 503,
      detail: "portal answered 503: Number of requests exceeded",
      retryAfterMs: 7000,
    });
  });
  await withServer(() => new Response("x".repeat(900), { status: 422 }), async (base) => {
    const result = await call(base);
    assert.ok(!result.ok);
    assert.equal(result.errorClass, "invalid_data");
    assert.equal(result.detail, `portal answered 422: ${"x".repeat(500)}`);
  });
  await withServer(() => new Response(null, { status: 403 }), async (base) => {
    const result = await call(base);
    assert.ok(!result.ok && result.errorClass === "portal_auth" && result.httpStatus === 403);
    assert.equal(result.detail, "portal answered 403: (empty body)");
  });
});

Deno.test("no answer: refused connection is portal_unavailable, a hang is timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const refused = await call(`http://127.0.0.1:${closedPort}/`);
  assert.ok(!refused.ok && refused.errorClass === "portal_unavailable", JSON.stringify(refused));
  assert.equal(refused.httpStatus, undefined);
  assert.match(refused.detail, /^portal unreachable: /);

  let release = () => {};
  const released = new Promise<void>((r) => (release = r));
  await withServer(async () => {
    await released;
    return new Response(null, { status: 200 });
  }, async (base) => {
    const hung = await call(base, ITEM, AbortSignal.timeout(100));
    release();
    assert.deepEqual(hung, {
      ok: false,
      errorClass: "timeout",
      detail: "portal did not answer in time",
    });
  });
});

Deno.test("an item without a payload is invalid_data, and the portal is not called", async () => {
  await withServer(() => new Response(null, { status: 200 }), async (base, seen) => {
    const result = await call(base, { ...ITEM, payload: null });
    assert.ok(!result.ok && result.errorClass === "invalid_data", JSON.stringify(result));
    assert.match(result.detail, /no payload stored for event 5b0c3c4e/);
    assert.equal(seen.length, 0);
  });
});

Deno.test("the portal URL is checked at start", () => {
  for (const [url, message] of [[null, /SYNC_PORTAL_URL is not set/], ["not a url", /not a URL/]]) {
    assert.throws(
      () => httpPortal({ url: url as string | null, token: null }),
      (e) => e instanceof ConfigError && (message as RegExp).test(e.message),
    );
  }
});

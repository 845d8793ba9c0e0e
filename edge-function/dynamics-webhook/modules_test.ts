// The small modules one by one: configuration, the key check, the body reader and validator, the
// payload id, org claims, the limiter and the lifecycle hooks.

import assert from "node:assert/strict";
import { checkAuth, constantTimeEqual } from "./auth.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { installLifecycleHooks, shutdownReason } from "./lifecycle.ts";
import { RateLimiter } from "./limiter.ts";
import { claimedOrg, OrgResolver } from "./org.ts";
import { columns, jsonbHolds, rawOnly, storableText } from "./columns.ts";
import { parseContext, payloadEventId, readBody, type RemoteExecutionContext } from "./payload.ts";
import { context } from "./test_support.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("config: SUPABASE_DB_URL and a key are required; two keys during a rotation", () => {
  assert.equal(
    loadConfig(
      env({ SUPABASE_DB_URL: "x", WEBHOOK_KEY: "k", WEBHOOK_SYNC_QUEUE: "pgmq:portal_sync" }),
    ).pgmqQueue,
    "portal_sync",
  );
  assert.throws(
    () => loadConfig(env({ SUPABASE_DB_URL: "x", WEBHOOK_KEY: "k", WEBHOOK_SYNC_QUEUE: "redis" })),
    ConfigError,
  );
  assert.throws(() => loadConfig(env({ WEBHOOK_KEY: "k" })), ConfigError);
  assert.throws(() => loadConfig(env({ SUPABASE_DB_URL: "postgres://x" })), ConfigError);
  const c = loadConfig(env({
    SUPABASE_DB_URL: "postgres://x",
    WEBHOOK_KEY: " new ",
    WEBHOOK_KEY_PREVIOUS: "old",
    WEBHOOK_MESSAGES: "Create, update",
  }));
  assert.deepEqual(c.keys, ["new", "old"]);
  assert.deepEqual([...c.messages], ["create", "update"]);
  assert.equal(c.keyHeader, "x-webhook-key");
  assert.equal(c.keyQueryParam, "code");
  assert.equal(c.recordLifecycle, true);
  assert.throws(
    () =>
      loadConfig(env({ SUPABASE_DB_URL: "x", WEBHOOK_KEY: "k", WEBHOOK_MAX_BODY_BYTES: "1e3x" })),
    ConfigError,
  );
});

Deno.test("auth: missing versus invalid, compared in constant time", () => {
  const c = { keys: ["a-key"], keyHeader: "x-webhook-key", keyQueryParam: "code" };
  const url = new URL("https://f.local/x");
  assert.deepEqual(checkAuth(new Headers(), url, c), { ok: false, reason: "missing_auth" });
  assert.deepEqual(checkAuth(new Headers({ "x-webhook-key": " " }), url, c), {
    ok: false,
    reason: "missing_auth",
  });
  assert.deepEqual(checkAuth(new Headers({ "x-webhook-key": "b-key" }), url, c), {
    ok: false,
    reason: "invalid_auth",
  });
  assert.deepEqual(checkAuth(new Headers(), new URL("https://f.local/x?code=a-key"), c), {
    ok: true,
  });
  assert.equal(constantTimeEqual("abc", "abc"), true);
  assert.equal(constantTimeEqual("abc", "abcd"), false);
  assert.equal(constantTimeEqual("", "a"), false);
});

Deno.test("readBody: within the limit, over it by Content-Length, over it while streaming", async () => {
  const small = new Request("http://x/", { method: "POST", body: "hello" });
  assert.deepEqual(await readBody(small, 5), {
    kind: "ok",
    bytes: new TextEncoder().encode("hello"),
    text: "hello",
  });
  // Not UTF-8: read with a replacement character, the bytes kept as they came.
  const cut = new Request("http://x/", {
    method: "POST",
    body: new Uint8Array([0x22, 0xed, 0x22]),
  });
  const read = await readBody(cut, 5);
  assert.deepEqual(read.kind === "ok" && [read.text, [...read.bytes]], ['"\ufffd"', [34, 237, 34]]);
  const announced = new Request("http://x/", {
    method: "POST",
    body: "0123456789",
    headers: { "content-length": "10" },
  });
  assert.equal((await readBody(announced, 5)).kind, "too_large");
  // No Content-Length: a stream that never ends must still be cut off at the limit.
  let sent = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      sent += 1024;
      c.enqueue(new Uint8Array(1024));
    },
  });
  const streamed = new Request("http://x/", { method: "POST", body: endless });
  const res = await readBody(streamed, 10_000);
  assert.equal(res.kind, "too_large");
  assert.ok(sent < 20_000, `read ${sent} bytes of an endless body`);
});

Deno.test("parseContext: required fields of a RemoteExecutionContext", () => {
  assert.equal(parseContext(JSON.stringify(context())).ok, true);
  const bad = (o: Record<string, unknown>) => {
    const r = parseContext(JSON.stringify(context(o)));
    assert.equal(r.ok, false, JSON.stringify(o));
    return r.ok ? "" : r.error;
  };
  assert.match(bad({ MessageName: "" }), /MessageName/);
  assert.match(bad({ PrimaryEntityName: undefined }), /PrimaryEntityName/);
  assert.match(bad({ OrganizationId: "contoso" }), /OrganizationId/);
  assert.match(bad({ CorrelationId: 7 }), /CorrelationId/);
  assert.match(bad({ RequestId: "nope" }), /RequestId/);
  assert.match(bad({ Stage: "40" }), /Stage/);
  assert.match(bad({ InputParameters: {} }), /InputParameters/);
  assert.equal(
    parseContext(JSON.stringify(context({ RequestId: null, InputParameters: null }))).ok,
    true,
  );
  for (const text of ["", "[]", "null", '"s"', "{"]) {
    assert.equal(parseContext(text).ok, false, text);
  }
  const kept = parseContext(JSON.stringify({ MessageName: "Create" }));
  assert.deepEqual(kept.ok ? null : kept.json, { MessageName: "Create" });
});

Deno.test("payloadEventId: same delivery, same id; another step or record, another id", async () => {
  const id = (o: Record<string, unknown> = {}) =>
    payloadEventId(context(o) as unknown as RemoteExecutionContext);
  const first = await id();
  assert.match(first!, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(await id(), first);
  assert.equal(await id({ RequestId: "9C7D4E2B-3F1A-4B5C-8D6E-7F8091A2B3C4" }), first);
  assert.notEqual(await id({ OwningExtension: { Id: crypto.randomUUID() } }), first);
  assert.notEqual(await id({ PrimaryEntityId: crypto.randomUUID() }), first);
  assert.notEqual(await id({ Stage: 20 }), first);
  // Nothing names the delivery: no id, so never a duplicate.
  const nil = "00000000-0000-0000-0000-000000000000";
  assert.equal(await id({ RequestId: nil, OperationId: null }), null);
});

Deno.test("claimedOrg: path after the function's name, ?org=, then the header's first label", () => {
  const claim = (path: string, h: Record<string, string> = {}) =>
    claimedOrg(new URL(`https://p.supabase.co${path}`), new Headers(h), "dynamics-webhook");
  assert.equal(claim("/dynamics-webhook/Fabrikam"), "fabrikam");
  assert.equal(claim("/functions/v1/dynamics-webhook/contoso/extra"), "contoso");
  assert.equal(claim("/contoso"), "contoso"); // a router that strips the function's name
  assert.equal(claim("/dynamics-webhook?org=contoso"), "contoso");
  assert.equal(
    claim("/dynamics-webhook", { "x-ms-dynamics-organization": "contoso.crm.dynamics.com" }),
    "contoso",
  );
  assert.equal(claim("/dynamics-webhook"), null);
  assert.equal(claim(`/dynamics-webhook/${"a".repeat(300)}`)!.length, 100);
});

Deno.test("OrgResolver: caches answers, never queries for a claim that cannot be an org", async () => {
  let queries = 0;
  let t = 0;
  const r = new OrgResolver(
    (id) => {
      queries++;
      return Promise.resolve(id === "contoso" ? { active: true } : null);
    },
    1000,
    10,
    () => t,
  );
  assert.equal(await r.resolve("contoso"), "active");
  assert.equal(await r.resolve("contoso"), "active");
  assert.equal(await r.resolve("nobody"), "unknown");
  assert.equal(await r.resolve("../etc"), "unknown");
  assert.equal(await r.resolve(null), "unknown");
  assert.equal(queries, 2);
  t = 2000;
  await r.resolve("contoso");
  assert.equal(queries, 3);
});

Deno.test("RateLimiter: a bucket per org, refilled over the minute; 0 is off", () => {
  let t = 0;
  const l = new RateLimiter(2, () => t);
  assert.deepEqual([l.admit("a"), l.admit("a"), l.admit("a"), l.admit("b")], [
    true,
    true,
    false,
    true,
  ]);
  t = 30_000;
  assert.equal(l.admit("a"), true);
  assert.equal(l.admit("a"), false);
  const off = new RateLimiter(0);
  for (let i = 0; i < 100; i++) assert.equal(off.admit("a"), true);
});

Deno.test("lifecycle: beforeunload reasons map to Shutdown reasons, written once, kept alive", async () => {
  const cases: [unknown, string][] = [
    ["cpu", "CPUTime"],
    ["memory", "Memory"],
    ["wall_clock", "WallClockTime"],
    ["early_drop", "EarlyDrop"],
    ["termination", "TerminationRequested"],
    ["something_new", "something_new"],
    [null, "EventLoopCompleted"],
  ];
  for (const [reason, expected] of cases) {
    assert.equal(shutdownReason(new CustomEvent("beforeunload", { detail: { reason } })), expected);
  }
  assert.equal(shutdownReason(new Event("beforeunload")), "EventLoopCompleted");

  const target = new EventTarget();
  const rows: unknown[][] = [];
  const kept: Promise<unknown>[] = [];
  installLifecycleHooks(target, (...row) => {
    rows.push(row);
    return Promise.resolve();
  }, (p) => kept.push(p));
  target.dispatchEvent(new CustomEvent("beforeunload", { detail: { reason: "wall_clock" } }));
  target.dispatchEvent(new CustomEvent("beforeunload", { detail: { reason: "memory" } }));
  await Promise.all(kept);
  assert.equal(rows.length, 1);
  assert.deepEqual(rows[0].slice(0, 2), ["Shutdown", "WallClockTime"]);
  assert.equal(kept.length, 1);
});

Deno.test("lifecycle: an unhandled rejection is recorded and handled; a failing write is swallowed", async () => {
  const target = new EventTarget();
  const rows: unknown[][] = [];
  const kept: Promise<unknown>[] = [];
  installLifecycleHooks(target, (...row) => {
    rows.push(row);
    return Promise.reject(new Error("database down"));
  }, (p) => kept.push(p));
  const promise = Promise.reject(new TypeError("boom"));
  promise.catch(() => {});
  const event = new PromiseRejectionEvent("unhandledrejection", {
    cancelable: true,
    promise,
    reason: new TypeError("boom"),
  });
  target.dispatchEvent(event);
  assert.equal(event.defaultPrevented, true);
  await Promise.all(kept); // the rejected write settled into a log line, not a rejection
  assert.deepEqual(rows[0].slice(0, 2), ["UncaughtException", null]);
  assert.match(rows[0][2] as string, /TypeError: boom/);
  // An exception thrown from a callback arrives as an `error` event: the same treatment.
  const thrown = new ErrorEvent("error", { cancelable: true, error: new RangeError("deep") });
  target.dispatchEvent(thrown);
  assert.equal(thrown.defaultPrevented, true);
  await Promise.all(kept);
  assert.match(rows[1][2] as string, /^uncaught exception: RangeError: deep/);
  // A throwing keepAlive (the runtime refusing) does not escape either.
  const other = new EventTarget();
  installLifecycleHooks(other, () => Promise.resolve(), () => {
    throw new Error("no");
  });
  other.dispatchEvent(new CustomEvent("beforeunload", { detail: { reason: "cpu" } }));
});

Deno.test("columns: texts PostgreSQL stores, the body as jsonb text or as its bytes", () => {
  assert.equal(storableText("a\u0000b\u001fc\td\ud83d", 100), "a\\u0000b\\u001fc\td\ufffd");
  assert.equal(storableText("x".repeat(10), 3), "xxx");
  assert.equal(jsonbHolds({ a: ["ok", { "k\u0000": 1 }] }), false);
  assert.equal(jsonbHolds({ a: "\ud83d\ude00" }), true);
  assert.equal(jsonbHolds({ a: "\ude00" }), false);
  const base = {
    eventId: "e",
    orgId: "contoso",
    outcome: "rejected" as const,
    httpStatus: 400,
    rejectionReason: "invalid_payload" as const,
    errorDetail: "why",
    correlationId: null,
    entityName: null,
    messageName: "Create\u0000",
    payload: null,
    rawBody: null,
  };
  const enc = (s: string) => new TextEncoder().encode(s);
  const exact = '{"n": 1e400}';
  const json = columns({ ...base, payload: JSON.parse(exact), rawBody: enc(exact) });
  assert.deepEqual([json.payloadJson, json.payloadRaw, json.messageName], [
    exact,
    null,
    "Create\\u0000",
  ]);
  for (
    const [body, payload, why] of [
      ['{"a":"\\u0000"}', { a: "\u0000" }, /\\u0000 or a lone surrogate/],
      ["not json", null, /not a JSON object/],
      [new Uint8Array([0x7b, 0xff, 0x7d]), null, /not UTF-8/],
    ] as const
  ) {
    const bytes = typeof body === "string" ? enc(body) : body;
    const c = columns({ ...base, payload, rawBody: bytes });
    assert.deepEqual([c.payloadJson, c.payloadRaw], [null, bytes]);
    assert.match(c.errorDetail!, why);
  }
  const refused = rawOnly({ ...base, payload: JSON.parse(exact), rawBody: enc(exact) }, "22003");
  assert.deepEqual([refused.payloadJson, refused.payloadRaw], [null, enc(exact)]);
});

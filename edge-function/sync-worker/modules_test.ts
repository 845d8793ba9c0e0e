// The settings and the retry policy, on their own (no database, no network).

import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "./config.ts";
import { decide, GIVE_UP_AT_ONCE, type RetryPolicy } from "./policy.ts";
import type { ErrorClass } from "./portal.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];
const DB = { SYNC_DATABASE_URL: "postgres://db/x" };

Deno.test("defaults, and the names the README documents", () => {
  const c = loadConfig(env({ SUPABASE_DB_URL: "postgres://db/y", HOSTNAME: "pod-7" }), 42);
  assert.deepEqual(c, {
    databaseUrl: "postgres://db/y",
    workerName: "pod-7-42",
    batchSize: 10,
    leaseSeconds: 300,
    maxAttempts: 5,
    pollSeconds: 1,
    retryBaseSeconds: 30,
    retryMaxSeconds: 3600,
    portalTimeoutSeconds: 30,
    portalUrl: null,
    portalToken: null,
    pgmqQueue: null,
  });
  assert.equal(
    loadConfig(env({ ...DB, SYNC_QUEUE: "pgmq:portal_sync" }), 1).pgmqQueue,
    "portal_sync",
  );
  assert.equal(loadConfig(env({ ...DB, SYNC_QUEUE: "table" }), 1).pgmqQueue, null);
  assert.throws(() => loadConfig(env({ ...DB, SYNC_QUEUE: "pgmq:Bad-Name" }), 1), ConfigError);
  const set = loadConfig(
    env({
      ...DB,
      SUPABASE_DB_URL: "postgres://db/ignored",
      SYNC_WORKER_NAME: "w1",
      SYNC_BATCH_SIZE: "50",
      SYNC_LEASE_SECONDS: "1.5",
      SYNC_MAX_ATTEMPTS: "3",
      SYNC_POLL_SECONDS: "0.05",
      SYNC_RETRY_BASE_SECONDS: "0.1",
      SYNC_RETRY_MAX_SECONDS: "2",
      SYNC_PORTAL_TIMEOUT_SECONDS: "1",
      SYNC_PORTAL_URL: "https://portal.example/api/{org}",
      SYNC_PORTAL_TOKEN: "t",
    }),
    1,
  );
  assert.equal(set.databaseUrl, "postgres://db/x");
  assert.equal(set.workerName, "w1");
  assert.equal(set.leaseSeconds, 1.5);
  assert.equal(set.portalUrl, "https://portal.example/api/{org}");
});

Deno.test("a bad setting names the variable", () => {
  const refused: [Record<string, string>, RegExp][] = [
    [{}, /SYNC_DATABASE_URL \(or SUPABASE_DB_URL\) is not set/],
    [
      { ...DB, SYNC_BATCH_SIZE: "0" },
      /SYNC_BATCH_SIZE must be a whole number from 1 to 1000, got 0/,
    ],
    [{ ...DB, SYNC_BATCH_SIZE: "2.5" }, /SYNC_BATCH_SIZE/],
    [{ ...DB, SYNC_MAX_ATTEMPTS: "many" }, /SYNC_MAX_ATTEMPTS/],
    [
      { ...DB, SYNC_LEASE_SECONDS: "-1" },
      /SYNC_LEASE_SECONDS must be a positive number of seconds/,
    ],
    [{ ...DB, SYNC_POLL_SECONDS: "0" }, /SYNC_POLL_SECONDS/],
    [
      { ...DB, SYNC_LEASE_SECONDS: "20" },
      /SYNC_PORTAL_TIMEOUT_SECONDS \(30\) must be shorter than SYNC_LEASE_SECONDS \(20\)/,
    ],
    [{ ...DB, SYNC_RETRY_MAX_SECONDS: "10" }, /SYNC_RETRY_MAX_SECONDS must not be below/],
  ];
  for (const [vars, message] of refused) {
    assert.throws(
      () => loadConfig(env(vars), 1),
      (e) => e instanceof ConfigError && message.test(e.message),
    );
  }
});

const POLICY: RetryPolicy = { maxAttempts: 5, retryBaseSeconds: 30, retryMaxSeconds: 300 };

Deno.test("retryable classes back off exponentially, capped, jittered down to half", () => {
  const at = (attempt: number, random: number) =>
    decide("portal_unavailable", attempt, POLICY, undefined, () => random);
  assert.deepEqual(at(1, 1), { outcome: "retrying", retryInSeconds: 30 });
  assert.deepEqual(at(1, 0), { outcome: "retrying", retryInSeconds: 15 });
  assert.deepEqual(at(2, 1), { outcome: "retrying", retryInSeconds: 60 });
  assert.deepEqual(at(4, 1), { outcome: "retrying", retryInSeconds: 240 });
  assert.deepEqual(
    decide("timeout", 4, { ...POLICY, maxAttempts: 10, retryMaxSeconds: 100 }, undefined, () => 1),
    { outcome: "retrying", retryInSeconds: 100 },
  );
  assert.deepEqual(at(5, 1), { outcome: "gave_up", retryInSeconds: 0 }, "the last attempt");
});

Deno.test("a Retry-After is a floor, still capped", () => {
  const d = (ms: number) => decide("portal_unavailable", 1, POLICY, ms, () => 0).retryInSeconds;
  assert.equal(d(120_000), 120);
  assert.equal(d(1_000), 15);
  assert.equal(d(3_600_000), 300);
});

Deno.test("the portal's judgement of the item gives up at once; the rest retries", () => {
  const all: ErrorClass[] = [
    "portal_unavailable",
    "portal_auth",
    "portal_rejected",
    "conflict",
    "invalid_data",
    "timeout",
    "internal",
    "other",
  ];
  const first = Object.fromEntries(all.map((c) => [c, decide(c, 1, POLICY).outcome]));
  assert.deepEqual(first, {
    portal_unavailable: "retrying",
    portal_auth: "retrying",
    portal_rejected: "gave_up",
    conflict: "retrying",
    invalid_data: "gave_up",
    timeout: "retrying",
    internal: "retrying",
    other: "retrying",
  });
  assert.deepEqual([...GIVE_UP_AT_ONCE].sort(), ["invalid_data", "portal_rejected"]);
});

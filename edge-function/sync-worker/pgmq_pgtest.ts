// The worker on a pgmq queue (SYNC_QUEUE=pgmq:<name>) against a real PostgreSQL database with
// pgmq installed and queue `portal_sync` created (SYNC_TEST_DATABASE_URL, made by
// tests/it/sync_worker.rs). Like worker_pgtest.ts, named by the Rust suite explicitly.

import assert from "node:assert/strict";
import type postgres from "postgres";
import { attemptsByEvent, db, until } from "./test_support.ts";
import type { ApplyToPortal } from "./portal.ts";
import { PgmqQueue } from "./pgmq_queue.ts";
import { SyncWorker } from "./worker.ts";

const QUEUE = "portal_sync";

/** `n` accepted events of org0, each sent to the queue as the Edge Function sends it. */
async function seedPgmq(sql: postgres.Sql, n: number): Promise<string[]> {
  await sql`TRUNCATE sync_attempts, webhook_events`;
  await sql`SELECT pgmq.purge_queue(${QUEUE})`;
  await sql`DELETE FROM pgmq.a_portal_sync`;
  const rows = await sql<{ event_id: string }[]>`
    INSERT INTO webhook_events (event_id, org_id, outcome, http_status, entity_name, message_name, payload)
    SELECT gen_random_uuid(), 'org0', 'accepted', 202, 'account', 'Create', '{}'::jsonb
    FROM generate_series(1, ${n}::int) RETURNING event_id::text AS event_id`;
  for (const r of rows) {
    await sql`SELECT pgmq.send(${QUEUE}, jsonb_build_object('event_id', ${r.event_id}::text, 'org_id', 'org0'))`;
  }
  return rows.map((r) => r.event_id);
}

async function open(sql: postgres.Sql): Promise<number> {
  const [r] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pgmq.q_portal_sync`;
  return r.n;
}

const settings = {
  batchSize: 3,
  leaseSeconds: 5,
  maxAttempts: 3,
  pollSeconds: 0.05,
  retryBaseSeconds: 0.05,
  retryMaxSeconds: 0.05,
  portalTimeoutSeconds: 1,
};

Deno.test("on pgmq: two workers side by side sync every message once, retries logged, messages archived", async () => {
  const sql = db();
  try {
    const events = await seedPgmq(sql, 12);
    const flaky = events[0];
    const portal: ApplyToPortal = (item) =>
      Promise.resolve(
        item.eventId === flaky && item.attempt === 1
          ? { ok: false, errorClass: "portal_unavailable", httpStatus: 503, detail: "down" }
          : { ok: true, httpStatus: 200 },
      );
    const workers = ["w1", "w2"].map((w) =>
      new SyncWorker(new PgmqQueue(sql, w, QUEUE), portal, { workerName: w, ...settings }, () => {})
    );
    const running = workers.map((w) => w.run());
    await until("every message archived", 20, async () => (await open(sql)) === 0);
    workers.forEach((w) => w.stop());
    await Promise.all(running);
    const attempts = await attemptsByEvent(sql);
    for (const e of events) {
      const lines = (attempts.get(e) ?? []).map((l) => l.replace(/ w[12]$/, " w"));
      const want = e === flaky
        ? ["1 retrying portal_unavailable 503 w", "2 succeeded - 200 w"]
        : ["1 succeeded - 200 w"];
      assert.deepEqual(lines, want, e);
    }
    const [logged] = await sql<
      { queues: string[] }[]
    >`SELECT array_agg(DISTINCT queue) AS queues FROM sync_attempts`;
    assert.deepEqual(logged.queues, [`pgmq:${QUEUE}`]);
    const [archived] = await sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM pgmq.a_portal_sync`;
    assert.equal(archived.n, 12);
  } finally {
    await sql.end();
  }
});

Deno.test("on pgmq: a read whose worker vanished is logged abandoned and read again", async () => {
  const sql = db();
  try {
    const [event] = await seedPgmq(sql, 1);
    const lost = new PgmqQueue(sql, "lost", QUEUE);
    const [held] = await lost.claim(1, 1, 3);
    assert.equal(held.attempt, 1);
    await new Promise((r) => setTimeout(r, 1200));
    const next = new PgmqQueue(sql, "next", QUEUE);
    const [again] = await next.claim(1, 5, 3);
    assert.equal(again.attempt, 2);
    assert.equal(
      await lost.finish(held, { outcome: "succeeded" }),
      false,
      "the lost attempt no longer holds it",
    );
    assert.equal(await next.finish(again, { outcome: "succeeded", httpStatus: 200 }), true);
    const attempts = await attemptsByEvent(sql);
    assert.deepEqual(attempts.get(event), [
      "1 abandoned worker_lost - lost",
      "2 succeeded - 200 next",
    ]);
    assert.equal(await open(sql), 0);
  } finally {
    await sql.end();
  }
});

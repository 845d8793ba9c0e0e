// The worker as a team runs it: real subprocesses against a real, migrated PostgreSQL database
// (SYNC_TEST_DATABASE_URL, made and dropped by tests/it/sync_worker.rs) and a real HTTP server
// standing in for the portal. Not picked up by a bare `deno test` (the name does not end in
// _test.ts): it needs that database; the Rust suite names it explicitly.

import assert from "node:assert/strict";
import type postgres from "postgres";
import {
  attemptsByEvent,
  db,
  hold,
  reset,
  seed,
  startPortal,
  until,
  workerEnv,
  WorkerProcess,
} from "./test_support.ts";
import type { ApplyToPortal } from "./portal.ts";
import { PgQueue } from "./queue.ts";
import { SyncWorker } from "./worker.ts";

/** One scenario: its own connection, on an emptied queue and log. */
function scenario(name: string, fn: (sql: postgres.Sql) => Promise<void>) {
  Deno.test(name, async () => {
    const sql = db();
    try {
      await reset(sql);
      await fn(sql);
    } finally {
      await sql.end();
    }
  });
}

async function queueStates(sql: postgres.Sql): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; n: number }[]>`
    SELECT state, count(*)::int AS n FROM sync_queue GROUP BY state`;
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

function context(workers: WorkerProcess[]): string {
  return workers.map((w) => `--- ${w.name}:\n${w.output}`).join("\n");
}

scenario("four workers side by side process every item exactly once", async (sql) => {
  const portal = startPortal(async () => {
    await new Promise((r) => setTimeout(r, Math.random() * 4));
    return new Response(null, { status: 201 });
  });
  const workers = ["w1", "w2", "w3", "w4"].map((name) =>
    new WorkerProcess(name, workerEnv(portal, { SYNC_BATCH_SIZE: "5" }))
  );
  try {
    // All four polling before the first item exists: they race for every claim.
    await Promise.all(workers.map((w) => w.started));
    const events = await seed(sql, 400, 4);
    await until("all 400 items done", 40, async () => (await queueStates(sql)).done === 400)
      .catch((e) => Promise.reject(new Error(`${e.message}\n${context(workers)}`)));
    for (const w of workers) {
      assert.deepEqual((await w.terminate()).code, 0, context(workers));
    }

    const attempts = await attemptsByEvent(sql);
    for (const id of events) {
      assert.deepEqual(attempts.get(id)?.length, 1, `event ${id}: ${attempts.get(id)}`);
      assert.ok(attempts.get(id)![0].startsWith("1 succeeded - 201 w"), attempts.get(id)![0]);
      assert.deepEqual(portal.received.get(id), [1], `the portal got event ${id}`);
    }
    assert.deepEqual(attempts.size, 400);
    assert.deepEqual(portal.received.size, 400);
    assert.deepEqual(await queueStates(sql), { done: 400 });
    const perWorker = await sql<{ worker: string; n: number }[]>`
      SELECT worker, count(*)::int AS n FROM sync_attempts GROUP BY worker ORDER BY worker`;
    assert.deepEqual(
      perWorker.map((r) => r.worker),
      ["w1", "w2", "w3", "w4"],
      "each worker took items",
    );
  } finally {
    await Promise.all(workers.map((w) => w.kill()));
    await portal.close();
  }
});

scenario(
  "a worker killed mid-item leaves an abandoned attempt; another worker finishes the item",
  async (sql) => {
    const [first, ...rest] = await seed(sql, 3);
    const held = hold();
    const portal = startPortal((eventId, attempt) =>
      eventId === first && attempt === 1 ? held.answer() : new Response(null, { status: 204 })
    );
    const short = { SYNC_LEASE_SECONDS: "1.5", SYNC_PORTAL_TIMEOUT_SECONDS: "1" };
    const doomed = new WorkerProcess(
      "doomed",
      workerEnv(portal, { ...short, SYNC_BATCH_SIZE: "1" }),
    );
    let survivor: WorkerProcess | undefined;
    try {
      await held.arrived;
      doomed.child.kill("SIGKILL");
      assert.deepEqual((await doomed.child.status).signal, "SIGKILL");
      survivor = new WorkerProcess("survivor", workerEnv(portal, short));
      const workers = [doomed, survivor];
      await until("all 3 items done", 20, async () => (await queueStates(sql)).done === 3)
        .catch((e) => Promise.reject(new Error(`${e.message}\n${context(workers)}`)));
      assert.deepEqual((await survivor.terminate()).code, 0, context(workers));

      const attempts = await attemptsByEvent(sql);
      assert.deepEqual(attempts.get(first), [
        "1 abandoned worker_lost - doomed",
        "2 succeeded - 204 survivor",
      ]);
      for (const id of rest) assert.deepEqual(attempts.get(id), ["1 succeeded - 204 survivor"]);
      // The killed worker's request did reach the portal: delivery is at least once.
      assert.deepEqual(portal.received.get(first), [1, 2]);
      const [lost] = await sql<{ error_detail: string; lease_left: boolean }[]>`
      SELECT error_detail, finished_at >= started_at + interval '1.5 seconds' AS lease_left
      FROM sync_attempts WHERE outcome = 'abandoned'`;
      assert.ok(lost.error_detail.startsWith("lease of worker doomed ran out"), lost.error_detail);
      assert.ok(lost.lease_left, "abandoned only once the lease had run out");
    } finally {
      held.release();
      await Promise.all([doomed.kill(), survivor?.kill()]);
      await portal.close();
    }
  },
);

scenario(
  "a portal outage retries with backoff, then gives up; invalid data gives up at once",
  async (sql) => {
    const [bad, ...down] = await seed(sql, 4);
    const portal = startPortal((eventId) =>
      eventId === bad
        ? Response.json({ error: { code: "0x80040203", message: "name is too long" } }, {
          status: 400,
        })
        : Response.json({ error: { code: "0x80072321", message: "Service Unavailable" } }, {
          status: 503,
        })
    );
    const worker = new WorkerProcess(
      "outage",
      workerEnv(portal, {
        SYNC_MAX_ATTEMPTS: "3",
        SYNC_RETRY_BASE_SECONDS: "0.2",
        SYNC_RETRY_MAX_SECONDS: "0.4",
      }),
    );
    try {
      await until("all 4 items failed", 20, async () => (await queueStates(sql)).failed === 4)
        .catch((e) => Promise.reject(new Error(`${e.message}\n${worker.output}`)));
      assert.deepEqual((await worker.terminate()).code, 0, worker.output);

      const attempts = await attemptsByEvent(sql);
      assert.deepEqual(attempts.get(bad), ["1 gave_up invalid_data 400 outage"]);
      assert.deepEqual(portal.received.get(bad), [1]);
      for (const id of down) {
        assert.deepEqual(attempts.get(id), [
          "1 retrying portal_unavailable 503 outage",
          "2 retrying portal_unavailable 503 outage",
          "3 gave_up portal_unavailable 503 outage",
        ]);
        assert.deepEqual(portal.received.get(id), [1, 2, 3]);
      }
      const items = await sql<{ last_error_class: string; last_http_status: number; n: number }[]>`
      SELECT last_error_class, last_http_status, count(*)::int AS n FROM sync_queue
      WHERE state = 'failed' GROUP BY 1, 2 ORDER BY 1`;
      assert.deepEqual(items.map((r) => ({ ...r })), [
        { last_error_class: "invalid_data", last_http_status: 400, n: 1 },
        { last_error_class: "portal_unavailable", last_http_status: 503, n: 3 },
      ]);
      // The retries waited: attempt 2 began at least half the base backoff after attempt 1 ended.
      const [gap] = await sql<{ shortest: number }[]>`
      SELECT min(extract(epoch FROM b.started_at - a.finished_at))::float8 AS shortest
      FROM sync_attempts a JOIN sync_attempts b ON b.item_id = a.item_id AND b.attempt = a.attempt + 1`;
      assert.ok(gap.shortest >= 0.1, `retried after ${gap.shortest}s`);
      const [detail] = await sql<{ error_detail: string }[]>`
      SELECT error_detail FROM sync_attempts WHERE error_class = 'invalid_data'`;
      assert.deepEqual(detail.error_detail, "portal answered 400: name is too long");
    } finally {
      await worker.kill();
      await portal.close();
    }
  },
);

scenario(
  "SIGTERM finishes the item in flight, hands the rest of the batch back, exits 0",
  async (sql) => {
    const [first, ...rest] = await seed(sql, 3);
    const held = hold(200);
    const portal = startPortal((eventId) =>
      eventId === first ? held.answer() : new Response(null, { status: 200 })
    );
    const worker = new WorkerProcess("graceful", workerEnv(portal, { SYNC_BATCH_SIZE: "3" }));
    try {
      await held.arrived;
      worker.child.kill("SIGTERM");
      // Still there while the portal holds the request.
      const early = await Promise.race([
        worker.child.status.then(() => "exited"),
        new Promise((r) => setTimeout(() => r("running"), 300)),
      ]);
      assert.deepEqual(early, "running", worker.output);
      held.release();
      const status = await worker.child.status;
      await worker.done;
      assert.deepEqual(status.code, 0, worker.output);

      const attempts = await attemptsByEvent(sql);
      assert.deepEqual(attempts.get(first), ["1 succeeded - 200 graceful"]);
      assert.deepEqual(attempts.size, 1, "the unstarted items left no attempt");
      const back = await sql<{ state: string; attempts: number; claimed_by: string | null }[]>`
      SELECT state, attempts, claimed_by FROM sync_queue WHERE event_id IN ${sql(rest)}`;
      assert.deepEqual(back.map((r) => ({ ...r })), [
        { state: "pending", attempts: 0, claimed_by: null },
        { state: "pending", attempts: 0, claimed_by: null },
      ]);
      assert.deepEqual([...portal.received.keys()], [first]);
    } finally {
      held.release();
      await worker.kill();
      await portal.close();
    }
  },
);

scenario(
  "a team's portal call: a throw is internal, a hang past the deadline is timeout",
  async (sql) => {
    const [throws, hangs, works] = await seed(sql, 3);
    const portal: ApplyToPortal = (item) => {
      if (item.eventId === throws) throw new TypeError("mapping bug");
      // Ignores its AbortSignal: the worker stops waiting all the same.
      if (item.eventId === hangs) return new Promise(() => {});
      return Promise.resolve({ ok: true });
    };
    const logged: string[] = [];
    const worker = new SyncWorker(new PgQueue(sql, "inproc"), portal, {
      workerName: "inproc",
      batchSize: 3,
      leaseSeconds: 5,
      maxAttempts: 1,
      pollSeconds: 0.05,
      retryBaseSeconds: 1,
      retryMaxSeconds: 1,
      portalTimeoutSeconds: 0.3,
    }, (level, message) => logged.push(`${level} ${message}`));
    const running = worker.run();
    await until("all 3 items finished", 10, async () => {
      const s = await queueStates(sql);
      return (s.done ?? 0) + (s.failed ?? 0) === 3;
    });
    worker.stop();
    assert.deepEqual(await running, {
      claimed: 3,
      succeeded: 1,
      retrying: 0,
      gaveUp: 2,
      leaseLost: 0,
      released: 0,
      databaseErrors: 0,
    });
    const attempts = await attemptsByEvent(sql);
    assert.deepEqual(attempts.get(throws), ["1 gave_up internal - inproc"]);
    assert.deepEqual(attempts.get(hangs), ["1 gave_up timeout - inproc"]);
    assert.deepEqual(attempts.get(works), ["1 succeeded - - inproc"]);
    const details = await sql<{ error_detail: string }[]>`
    SELECT error_detail FROM sync_attempts WHERE outcome = 'gave_up' ORDER BY error_class`;
    assert.deepEqual(details.map((d) => d.error_detail), [
      "sync worker error: mapping bug",
      "no answer within 300 ms",
    ]);
    assert.equal(logged.filter((l) => l.startsWith("warn ")).length, 2, logged.join("\n"));
  },
);

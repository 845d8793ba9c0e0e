// The event worker's forwarding against a fake exporter (a real HTTP server on an ephemeral port),
// with events shaped exactly as edge-runtime's EventManager yields them (ext/event_worker: an ISO
// timestamp taken at dequeue, `event_type` the WorkerEvents variant, `event` its unwrapped fields,
// metadata {service_path, execution_id, otel_attributes}).

import assert from "node:assert/strict";
import { Forwarder, INGEST_PATH, type RuntimeEvent, toOutgoing } from "./forwarder.ts";
import { runWorker } from "./index.ts";

const META = {
  service_path: "/home/deno/functions/dynamics-webhook",
  execution_id: "4b0a2e7e-8b8f-4a4e-9a0c-1f2e3d4c5b6a",
  otel_attributes: { "deployment.id": "d1" },
};
const HEAP = {
  totalHeapSize: 4_194_304,
  totalHeapSizeExecutable: 262_144,
  totalPhysicalSize: 3_932_160,
  totalAvailableSize: 266_338_304,
  totalGlobalHandlesSize: 8192,
  usedGlobalHandlesSize: 2048,
  usedHeapSize: 3_145_728,
  mallocedMemory: 270_336,
  externalMemory: 1_048_576,
  peakMallocedMemory: 1_048_576,
};

function ev(event_type: string, event: unknown, at = "2026-11-30T10:00:00.000Z"): RuntimeEvent {
  return { timestamp: at, event_type, event, metadata: META };
}

const boot = () => ev("Boot", { boot_time: 42 });
const crash = () =>
  ev("UncaughtException", { exception: "TypeError: x is undefined", cpu_time_used: 12 });
const log = () => ev("Log", { msg: "hello", level: "Info" });
function shutdown(reason = "Memory"): RuntimeEvent {
  return ev("Shutdown", {
    reason,
    cpu_time_used: 310,
    memory_used: {
      total: 5_242_880,
      heap: 3_145_728,
      external: 1_048_576,
      mem_check_captured: { current: HEAP, exceeded: reason === "Memory" },
    },
  });
}

interface Received {
  auth: string | null;
  type: string | null;
  ids: string[];
  events: Record<string, unknown>[];
}

/** An exporter stand-in: answers with `answer(n, body)` for the n-th request, stores by id. */
function fakeExporter(answer: (n: number, events: unknown[]) => number) {
  const requests: Received[] = [];
  const stored = new Map<string, Record<string, unknown>>();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const body = await req.json();
    const events = body.events as Record<string, unknown>[];
    requests.push({
      auth: req.headers.get("authorization"),
      type: req.headers.get("content-type"),
      ids: events.map((e) => e.id as string),
      events,
    });
    assert.equal(new URL(req.url).pathname, INGEST_PATH);
    const status = answer(requests.length, events);
    if (status !== 200) return new Response("no", { status });
    let inserted = 0;
    for (const e of events) {
      if (!stored.has(e.id as string)) inserted++;
      stored.set(e.id as string, e);
    }
    return Response.json({ inserted, duplicates: events.length - inserted, ignored: 0 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, requests, stored, server };
}

async function* source(events: RuntimeEvent[]): AsyncGenerator<RuntimeEvent | undefined> {
  for (const e of events) {
    await Promise.resolve();
    yield e;
  }
}

const quiet = { log: () => {}, sleep: () => Promise.resolve(), flushIntervalMs: 5 };

Deno.test("an event leaves as the endpoint expects: variant wrapped, runtime timestamp, two metadata fields", () => {
  const out = toOutgoing(shutdown("WallClockTime"), "id-1");
  assert.deepEqual(out, {
    id: "id-1",
    timestamp: "2026-11-30T10:00:00.000Z",
    event_type: "Shutdown",
    event: { Shutdown: shutdown("WallClockTime").event as Record<string, unknown> },
    metadata: { service_path: META.service_path, execution_id: META.execution_id },
  });
  // Never wrapped twice, and an event without metadata still has both fields.
  const wrapped = toOutgoing({
    timestamp: "t",
    event_type: "Boot",
    event: { Boot: { boot_time: 1 } },
  }, "x");
  assert.deepEqual(wrapped.event, { Boot: { boot_time: 1 } });
  assert.deepEqual(wrapped.metadata, { service_path: null, execution_id: null });
});

Deno.test("a 5xx is retried with the same ids, and nothing is lost", async () => {
  const fake = fakeExporter((n) => (n === 1 ? 503 : 200));
  try {
    // A real flush interval: the five events are buffered before the first request leaves.
    const f = new Forwarder({
      exporterUrl: fake.url + "/",
      token: "ingest-secret",
      log: () => {},
      flushIntervalMs: 50,
      initialBackoffMs: 10,
    });
    await f.run(source([boot(), log(), crash(), shutdown("Memory"), shutdown("EarlyDrop")]));
    assert.equal(fake.requests.length, 2);
    const [refused, retried] = [fake.requests[0].ids, fake.requests[1].ids];
    assert.deepEqual(retried, refused);
    assert.equal(fake.requests[0].auth, "Bearer ingest-secret");
    assert.equal(fake.requests[0].type, "application/json");
    const types = [...fake.stored.values()].map((e) => e.event_type);
    assert.deepEqual(types, ["Boot", "UncaughtException", "Shutdown", "Shutdown"]); // Log dropped
    assert.equal(new Set(retried).size, 4);
    assert.deepEqual(f.stats, {
      buffered: 4,
      forwarded: 4,
      inserted: 4,
      duplicates: 0,
      ignored: 0,
      dropped: 0,
      skippedLogs: 1,
    });
    assert.equal(f.pending, 0);
  } finally {
    await fake.server.shutdown();
  }
});

Deno.test("a response lost after the exporter stored the batch is resent and counted as duplicates", async () => {
  let first = true;
  const fake = fakeExporter(() => 200);
  try {
    const lossy: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (first) {
        first = false;
        await res.body?.cancel();
        throw new TypeError("connection reset by peer");
      }
      return res;
    };
    const f = new Forwarder({ exporterUrl: fake.url, token: "t", fetch: lossy, ...quiet });
    f.push(boot());
    f.push(crash());
    await f.flush();
    assert.equal(fake.requests.length, 2);
    assert.deepEqual(fake.requests[1].ids, fake.requests[0].ids);
    assert.equal(fake.stored.size, 2);
    assert.equal(f.stats.duplicates, 2);
  } finally {
    await fake.server.shutdown();
  }
});

Deno.test("413 splits the batch until it fits; every event arrives once", async () => {
  const fake = fakeExporter((_, events) => (events.length > 2 ? 413 : 200));
  try {
    const f = new Forwarder({ exporterUrl: fake.url, token: "t", ...quiet });
    const events = Array.from({ length: 7 }, (_, i) => ev("Boot", { boot_time: i }));
    for (const e of events) f.push(e);
    await f.flush();
    assert.equal(fake.stored.size, 7);
    const delivered = fake.requests.filter((r) => r.events.length <= 2);
    assert.deepEqual(delivered.flatMap((r) => r.ids).length, 7);
    assert.deepEqual(
      [...fake.stored.values()].map((e) =>
        (e.event as { Boot: { boot_time: number } }).Boot.boot_time
      ),
      [0, 1, 2, 3, 4, 5, 6],
    );
  } finally {
    await fake.server.shutdown();
  }
});

Deno.test("a refused token is logged loudly and given up after a few attempts, not retried forever", async () => {
  const fake = fakeExporter(() => 401);
  const logs: string[] = [];
  try {
    const f = new Forwarder({
      exporterUrl: fake.url,
      token: "wrong",
      ...quiet,
      maxAuthAttempts: 3,
      log: (level, m) => logs.push(`${level} ${m}`),
    });
    f.push(crash());
    await f.flush();
    assert.equal(fake.requests.length, 3);
    assert.equal(f.stats.dropped, 1);
    assert.equal(f.pending, 0);
    assert.ok(
      logs.some((l) => l.startsWith("error") && l.includes("WHE_INGEST_TOKEN")),
      logs.join("\n"),
    );
  } finally {
    await fake.server.shutdown();
  }
});

Deno.test("an unreachable exporter is retried with growing backoff, then delivered", async () => {
  const waits: number[] = [];
  let calls = 0;
  const flaky: typeof fetch = (_input, init) => {
    calls++;
    if (calls <= 3) return Promise.reject(new TypeError("connection refused"));
    const ids = JSON.parse(init!.body as string).events.map((e: { id: string }) => e.id);
    return Promise.resolve(Response.json({ inserted: ids.length, duplicates: 0, ignored: 0 }));
  };
  const f = new Forwarder({
    exporterUrl: "http://exporter.invalid",
    token: "t",
    fetch: flaky,
    log: () => {},
    random: () => 1,
    initialBackoffMs: 100,
    sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
  });
  f.push(boot());
  await f.flush();
  assert.deepEqual(waits, [100, 200, 400]);
  assert.equal(f.stats.inserted, 1);
});

Deno.test("the buffer is bounded: routine events make room before crashes do", () => {
  const f = new Forwarder({ exporterUrl: "http://x", token: "t", maxBuffer: 3, log: () => {} });
  f.push(crash());
  f.push(shutdown("EarlyDrop"));
  f.push(shutdown("Memory"));
  f.push(boot()); // drops the EarlyDrop shutdown
  f.push(boot()); // drops the first Boot
  assert.equal(f.pending, 3);
  assert.equal(f.stats.dropped, 2);
});

Deno.test("runWorker posts to {EXPORTER_URL}/api/v1/lifecycle/edge-runtime with the ingest token", async () => {
  const fake = fakeExporter(() => 200);
  try {
    const env: Record<string, string> = { EXPORTER_URL: fake.url, WHE_INGEST_TOKEN: "tok" };
    await runWorker((n) => env[n], source([boot(), log(), shutdown("CPUTime")]));
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0].auth, "Bearer tok");
    assert.deepEqual(fake.requests[0].events.map((e) => e.event_type), ["Boot", "Shutdown"]);
    const withLogs: Record<string, string> = { ...env, WHE_FORWARD_LOGS: "true" };
    await runWorker((n) => withLogs[n], source([log()]));
    assert.equal(fake.requests[1].events[0].event_type, "Log");
    // Unconfigured: the stream is still drained, nothing is sent.
    await runWorker(() => undefined, source([boot()]));
    assert.equal(fake.requests.length, 2);
  } finally {
    await fake.server.shutdown();
  }
});

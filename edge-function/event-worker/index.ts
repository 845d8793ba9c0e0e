// The self-hosted edge runtime's event worker: `edge-runtime start --event-worker <this folder>`.
// It receives every worker's lifecycle events (Boot, BootFailure, UncaughtException, Shutdown,
// Log) from `new EventManager()` and forwards them to webhook-health-exporter, which writes
// edge_function_events. Hosted Supabase has no event worker: see the exporter's docs for drains.
//
// Settings (environment of the edge-runtime process, which the event worker inherits):
//   EXPORTER_URL        the exporter's base URL, e.g. http://webhook-health-exporter:9877
//   WHE_INGEST_TOKEN    the exporter's ingest token (not an admin token)
//   WHE_FORWARD_LOGS    "true" to forward Log events too (off: they are the bulk)
//   WHE_EVENT_BUFFER    events kept while the exporter is away (default 10000)

import { Forwarder, type RuntimeEvent } from "./forwarder.ts";

export type Env = (name: string) => string | undefined;

/** Runs the worker over `source`; resolves when the runtime closes the event stream. */
export async function runWorker(
  env: Env,
  source: AsyncIterable<RuntimeEvent | undefined>,
  fetchImpl: typeof fetch = fetch,
): Promise<void> {
  const exporterUrl = env("EXPORTER_URL");
  const token = env("WHE_INGEST_TOKEN");
  if (!exporterUrl || !token) {
    // Still drain the stream, so the runtime's queue does not grow, and keep the events visible.
    console.error(
      "event-worker: EXPORTER_URL and WHE_INGEST_TOKEN must be set; lifecycle events are only logged",
    );
    for await (const e of source) if (e && e.event_type !== "Log") console.error(JSON.stringify(e));
    return;
  }
  const forwarder = new Forwarder({
    exporterUrl,
    token,
    fetch: fetchImpl,
    forwardLogs: env("WHE_FORWARD_LOGS")?.toLowerCase() === "true",
    maxBuffer: Number(env("WHE_EVENT_BUFFER") ?? "") || undefined,
  });
  console.log(`event-worker: forwarding lifecycle events to ${exporterUrl}`);
  await forwarder.run(source);
  console.log(`event-worker: event stream closed ${JSON.stringify(forwarder.stats)}`);
}

// Only the edge runtime's event worker has an EventManager; a test imports runWorker instead.
const Manager =
  (globalThis as { EventManager?: new () => AsyncIterable<RuntimeEvent> }).EventManager;
if (Manager !== undefined) {
  await runWorker((name) => Deno.env.get(name), new Manager());
}

// dynamics-webhook: receives Dynamics 365 / Dataverse webhooks and writes the log store of
// webhook-health-exporter (docs/log-store.md). Deploy: see README.md in this folder.

import { loadConfig } from "./config.ts";
import { handle } from "./handler.ts";
import { installLifecycleHooks, type KeepAlive } from "./lifecycle.ts";
import { RateLimiter } from "./limiter.ts";
import { OrgResolver } from "./org.ts";
import { connect, PgStore } from "./store.ts";

// A missing secret throws here, at boot: the deploy fails visibly instead of answering 500s.
const config = loadConfig((name) => Deno.env.get(name));
const store = new PgStore(connect(config.databaseUrl), config.pgmqQueue);
const deps = {
  config,
  sink: store,
  orgs: new OrgResolver(store.findOrg),
  limiter: new RateLimiter(config.rateLimitPerMinute),
};

if (config.recordLifecycle) {
  const edge = (globalThis as { EdgeRuntime?: { waitUntil?: KeepAlive } }).EdgeRuntime;
  installLifecycleHooks(
    globalThis,
    (type, reason, detail) => store.lifecycle(config.functionName, type, reason, detail),
    (p) => edge?.waitUntil?.(p),
  );
}

const handler = (req: Request) => handle(req, deps);

// On Supabase the runtime owns the socket. WEBHOOK_LISTEN_PORT is for running it with plain
// `deno run` (tests, local tries); 0 picks a free port, announced on stdout.
const port = Deno.env.get("WEBHOOK_LISTEN_PORT");
if (port === undefined) {
  Deno.serve(handler);
} else {
  Deno.serve({
    port: Number(port),
    hostname: "127.0.0.1",
    onListen: ({ port }) => console.log(`dynamics-webhook listening on http://127.0.0.1:${port}/`),
  }, handler);
}

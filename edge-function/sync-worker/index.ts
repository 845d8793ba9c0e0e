// sync-worker: works off the sync queue for the portal (the sync_queue table, or a pgmq queue with
// SYNC_QUEUE=pgmq:<name>), logging every attempt in sync_attempts through the functions of
// migration 0007. Run: see README.md in this folder.

import { ConfigError, loadConfig } from "./config.ts";
import { makePortal } from "./portal.ts";
import { PgmqQueue } from "./pgmq_queue.ts";
import { connect, PgQueue } from "./queue.ts";
import { SyncWorker } from "./worker.ts";

function start() {
  try {
    const config = loadConfig((name) => Deno.env.get(name), Deno.pid);
    return { config, portal: makePortal(config) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(`sync-worker: ${e.message}`);
    Deno.exit(2);
  }
}

const { config, portal } = start();
const sql = connect(config.databaseUrl);
const queue = config.pgmqQueue === null
  ? new PgQueue(sql, config.workerName)
  : new PgmqQueue(sql, config.workerName, config.pgmqQueue);
const worker = new SyncWorker(queue, portal, config);

// The first signal lets the item in flight finish; a second one leaves at once (its lease then
// runs out and the attempt is logged as abandoned).
const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
const onSignal = () => {
  if (worker.stopping) Deno.exit(130);
  console.log(`sync-worker ${config.workerName}: stopping after the item in flight`);
  worker.stop();
};
for (const s of signals) Deno.addSignalListener(s, onSignal);

console.log(
  `sync-worker ${config.workerName} started: batch ${config.batchSize}, lease ${config.leaseSeconds}s, ` +
    `${config.maxAttempts} attempts`,
);
const stats = await worker.run();
for (const s of signals) Deno.removeSignalListener(s, onSignal);
await sql.end({ timeout: 5 });
console.log(`sync-worker ${config.workerName} stopped: ${JSON.stringify(stats)}`);

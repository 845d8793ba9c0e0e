// Shared by the tests: a real HTTP server standing in for the portal, the worker as a real
// subprocess (`deno run index.ts`), and the test database the Rust suite created and migrated.

import postgres from "postgres";

/** What the stand-in portal got: per event id, the attempts it saw (x-sync-attempt). */
export interface Portal {
  url: string;
  received: Map<string, number[]>;
  /** Stops the server once its requests are answered (release any `hold` first). */
  close(): Promise<void>;
}

export type Behaviour = (eventId: string, attempt: number) => Response | Promise<Response>;

/** Deno.serve on 127.0.0.1, a free port: the same HTTP a real portal speaks. */
export function startPortal(behaviour: Behaviour): Portal {
  const received = new Map<string, number[]>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json();
    const attempt = Number(req.headers.get("x-sync-attempt"));
    if (req.headers.get("idempotency-key") !== body.eventId) {
      return new Response("idempotency-key differs from the body's eventId", { status: 500 });
    }
    received.set(body.eventId, [...(received.get(body.eventId) ?? []), attempt]);
    return await behaviour(body.eventId, attempt);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/api/{org}/{entity}/{message}`,
    received,
    close: () => server.shutdown(),
  };
}

/**
 * A behaviour answer that waits for `release()`: a portal holding a request, as a slow one does.
 * `arrived` resolves when the request is in.
 */
export function hold(status = 201) {
  let release = () => {};
  let arrived = () => {};
  const released = new Promise<void>((r) => (release = r));
  const inside = new Promise<void>((r) => (arrived = r));
  return {
    arrived: inside,
    release,
    answer: async () => {
      arrived();
      await released;
      return new Response(null, { status });
    },
  };
}

export function testDatabaseUrl(): string {
  const url = Deno.env.get("SYNC_TEST_DATABASE_URL");
  if (!url) {
    throw new Error(
      "SYNC_TEST_DATABASE_URL is not set: these tests need a migrated PostgreSQL database of their " +
        "own; run them with `cargo test --test it sync_worker`, which creates and drops one",
    );
  }
  return url;
}

export function db(): postgres.Sql {
  return postgres(testDatabaseUrl(), { max: 2, onnotice: () => {} });
}

/** An empty queue and log: the scenarios run one after the other in one database. */
export async function reset(sql: postgres.Sql): Promise<void> {
  await sql`TRUNCATE sync_attempts, sync_queue, webhook_events`;
}

/** `n` accepted events spread over `orgs` organizations, each queued; their event ids in order. */
export async function seed(sql: postgres.Sql, n: number, orgs = 1): Promise<string[]> {
  const rows = await sql<{ event_id: string }[]>`
    WITH e AS (
      INSERT INTO webhook_events (event_id, org_id, outcome, http_status, entity_name, message_name, payload)
      SELECT gen_random_uuid(), 'org' || (g % ${orgs}::int), 'accepted', 202, 'account', 'Create',
             jsonb_build_object('MessageName', 'Create', 'PrimaryEntityName', 'account', 'n', g)
      FROM generate_series(1, ${n}::int) AS g
      RETURNING event_id, org_id, id)
    INSERT INTO sync_queue (org_id, event_id)
    SELECT org_id, event_id FROM e ORDER BY id
    RETURNING event_id::text AS event_id`;
  return rows.map((r) => r.event_id);
}

/** Polls `query` until it returns true; throws naming `what` after `seconds`. */
export async function until(what: string, seconds: number, query: () => Promise<boolean>) {
  const deadline = Date.now() + seconds * 1000;
  while (!(await query())) {
    if (Date.now() > deadline) throw new Error(`not within ${seconds}s: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A worker subprocess; its output is kept for failure messages. */
export class WorkerProcess {
  readonly child: Deno.ChildProcess;
  #output = "";
  readonly started: Promise<void>;
  readonly done: Promise<void>;

  constructor(readonly name: string, env: Record<string, string>) {
    const index = new URL("./index.ts", import.meta.url).pathname;
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--frozen", "--allow-net", "--allow-env", index],
      env: { NO_COLOR: "1", SYNC_WORKER_NAME: name, ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let started = () => {};
    this.started = new Promise((r) => (started = r));
    const read = async (stream: ReadableStream<Uint8Array>) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        this.#output += text;
        if (this.#output.includes(`sync-worker ${name} started`)) started();
      }
    };
    this.done = Promise.all([read(this.child.stdout), read(this.child.stderr)]).then(() => {});
  }

  get output(): string {
    return this.#output;
  }

  /** SIGKILL unless it has exited; resolves once it is gone and its output read. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.child.status;
    await this.done;
  }

  /** SIGTERM, then the exit status (after its output is read whole). */
  async terminate(): Promise<Deno.CommandStatus> {
    this.child.kill("SIGTERM");
    const status = await this.child.status;
    await this.done;
    return status;
  }
}

/** The worker's settings for a test: the portal, short pauses, the test database. */
export function workerEnv(portal: Portal, extra: Record<string, string> = {}) {
  return {
    SYNC_DATABASE_URL: testDatabaseUrl(),
    SYNC_PORTAL_URL: portal.url,
    SYNC_POLL_SECONDS: "0.05",
    SYNC_LEASE_SECONDS: "30",
    SYNC_PORTAL_TIMEOUT_SECONDS: "5",
    ...extra,
  };
}

/** Every attempt of every item, as `item: attempt outcome class status worker` lines per event. */
export async function attemptsByEvent(sql: postgres.Sql): Promise<Map<string, string[]>> {
  const rows = await sql<{ event_id: string; line: string }[]>`
    SELECT event_id::text AS event_id,
           concat_ws(' ', attempt, outcome, coalesce(error_class, '-'), coalesce(http_status::text, '-'),
                     worker) AS line
    FROM sync_attempts ORDER BY event_id, attempt, id`;
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.event_id, [...(out.get(r.event_id) ?? []), r.line]);
  return out;
}

// Forwards edge-runtime lifecycle events to the exporter's ingestion endpoint, in batches, with
// retries. Pure: the event source, fetch, the clock and ids are injected (index.ts wires the real
// ones), so the logic is tested under plain Deno.
//
// Delivery is at-least-once: each event gets its id when it is buffered and keeps it on every
// retry, however batches are cut again, so the exporter drops what it already stored. The buffer
// is bounded: when the exporter stays away, the oldest routine events go first.

/** One value of `new EventManager()`, as edge-runtime's event_worker.js builds it. */
export interface RuntimeEvent {
  /** `new Date().toISOString()`, taken when the worker dequeued the event. */
  timestamp: string;
  /** The WorkerEvents variant: Boot, BootFailure, UncaughtException, Shutdown, Log. */
  event_type: string;
  /** The variant's fields, already unwrapped from `{"Variant": {...}}` by the runtime. */
  event: unknown;
  metadata?: {
    service_path?: string | null;
    execution_id?: string | null;
    otel_attributes?: Record<string, string> | null;
  } | null;
}

/** One event of `POST /api/v1/lifecycle/edge-runtime`. */
export interface OutgoingEvent {
  id: string;
  timestamp: string;
  event_type: string;
  /** `{"Shutdown": {reason, cpu_time_used, memory_used}}`: wrapped again, as the exporter expects. */
  event: Record<string, unknown>;
  metadata: { service_path: string | null; execution_id: string | null };
}

export interface Stats {
  buffered: number;
  forwarded: number;
  inserted: number;
  duplicates: number;
  ignored: number;
  dropped: number;
  skippedLogs: number;
}

export interface ForwarderOptions {
  /** The exporter's base URL; events go to `{url}/api/v1/lifecycle/edge-runtime`. */
  exporterUrl: string;
  token: string;
  fetch?: typeof fetch;
  /** Events per request, at most 500 (the endpoint's limit). */
  batchSize?: number;
  /** How long the first event of a batch waits for company. */
  flushIntervalMs?: number;
  maxBuffer?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Attempts of one batch refused with 401/403 before it is given up. */
  maxAuthAttempts?: number;
  requestTimeoutMs?: number;
  /** Log events are dropped unless asked for: they are the bulk, and the exporter counts exits. */
  forwardLogs?: boolean;
  newId?: () => string;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

export const MAX_BATCH = 500;
export const INGEST_PATH = "/api/v1/lifecycle/edge-runtime";

/** Exits the exporter counts as errors are kept longest when the buffer overflows. */
const PRECIOUS = new Set(["BootFailure", "UncaughtException"]);
const ROUTINE_SHUTDOWNS = new Set(["EventLoopCompleted", "EarlyDrop", "TerminationRequested"]);

export function toOutgoing(e: RuntimeEvent, id: string): OutgoingEvent {
  const inner = e.event;
  // Tolerate a runtime that hands the variant still wrapped: never wrap twice.
  const wrapped = isObject(inner) && Object.keys(inner).length === 1 && e.event_type in inner
    ? inner
    : { [e.event_type]: inner ?? {} };
  return {
    id,
    timestamp: e.timestamp,
    event_type: e.event_type,
    event: wrapped,
    metadata: {
      service_path: e.metadata?.service_path ?? null,
      execution_id: e.metadata?.execution_id ?? null,
    },
  };
}

type Outcome =
  | { kind: "delivered"; counts: Partial<Record<"inserted" | "duplicates" | "ignored", number>> }
  | { kind: "retry"; why: string; afterMs?: number }
  | { kind: "auth"; status: number }
  | { kind: "too_large" }
  | { kind: "refused"; status: number; body: string };

export class Forwarder {
  readonly stats: Stats = {
    buffered: 0,
    forwarded: 0,
    inserted: 0,
    duplicates: 0,
    ignored: 0,
    dropped: 0,
    skippedLogs: 0,
  };
  #buffer: OutgoingEvent[] = [];
  #batchSize: number;
  #wake: () => void = () => {};
  #o: Required<Omit<ForwarderOptions, "fetch">> & { fetch: typeof fetch };

  constructor(options: ForwarderOptions) {
    this.#o = {
      fetch: options.fetch ?? fetch,
      batchSize: MAX_BATCH,
      flushIntervalMs: 1000,
      maxBuffer: 10_000,
      initialBackoffMs: 500,
      maxBackoffMs: 30_000,
      maxAuthAttempts: 3,
      requestTimeoutMs: 10_000,
      forwardLogs: false,
      newId: () => crypto.randomUUID(),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      random: Math.random,
      log: (level, message) => console[level](`event-worker: ${message}`),
      ...dropUndefined(options),
      exporterUrl: options.exporterUrl.replace(/\/+$/, ""),
      token: options.token,
    };
    this.#batchSize = Math.max(1, Math.min(MAX_BATCH, this.#o.batchSize));
  }

  get pending(): number {
    return this.#buffer.length;
  }

  /** Buffers one event under a new id; the oldest routine event makes room when full. */
  push(e: RuntimeEvent): void {
    if (e.event_type === "Log" && !this.#o.forwardLogs) {
      this.stats.skippedLogs++;
      return;
    }
    if (this.#buffer.length >= this.#o.maxBuffer) {
      const routine = this.#buffer.findIndex((b) => !precious(b));
      this.#buffer.splice(routine >= 0 ? routine : 0, 1);
      this.stats.dropped++;
      if (this.stats.dropped % 1000 === 1) {
        this.#o.log(
          "warn",
          `buffer full (${this.#o.maxBuffer}): ${this.stats.dropped} events dropped so far`,
        );
      }
    }
    this.#buffer.push(toOutgoing(e, this.#o.newId()));
    this.stats.buffered++;
    this.#wake();
  }

  /** Reads the source to its end, forwarding as it goes; returns once everything read was sent or given up. */
  async run(source: AsyncIterable<RuntimeEvent | undefined | null>): Promise<void> {
    let ended = false;
    const reading = (async () => {
      try {
        for await (const e of source) if (e) this.push(e);
      } finally {
        ended = true;
        this.#wake();
      }
    })();
    while (!ended || this.#buffer.length > 0) {
      if (this.#buffer.length === 0) {
        await new Promise<void>((r) => (this.#wake = r));
        continue;
      }
      if (!ended && this.#buffer.length < this.#batchSize) {
        // Let a burst (an isolate's Shutdown right after its UncaughtException) share a request.
        await Promise.race([this.#o.sleep(this.#o.flushIntervalMs), this.#full()]);
      }
      await this.flush();
    }
    await reading;
  }

  /** Sends until the buffer is empty, retrying failures; only auth and refusal give events up. */
  async flush(): Promise<void> {
    let attempt = 0;
    let authAttempts = 0;
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.slice(0, this.#batchSize);
      const outcome = await this.#post(batch);
      switch (outcome.kind) {
        case "delivered":
          this.#remove(batch);
          this.stats.forwarded += batch.length;
          this.stats.inserted += outcome.counts.inserted ?? 0;
          this.stats.duplicates += outcome.counts.duplicates ?? 0;
          this.stats.ignored += outcome.counts.ignored ?? 0;
          attempt = 0;
          authAttempts = 0;
          continue;
        case "too_large":
          if (batch.length === 1) {
            this.#giveUp(batch, "the exporter refuses even a single event as too large (413)");
          } else {
            // Split: the smaller size stays, since the limit that was hit stays too.
            this.#batchSize = Math.ceil(batch.length / 2);
            this.#o.log(
              "warn",
              `413 for ${batch.length} events: batches of ${this.#batchSize} from now on`,
            );
          }
          continue;
        case "auth":
          authAttempts++;
          this.#o.log(
            "error",
            `the exporter refused the ingest token (${outcome.status}): set WHE_INGEST_TOKEN to a token ` +
              `it accepts for ${INGEST_PATH} (attempt ${authAttempts} of ${this.#o.maxAuthAttempts})`,
          );
          if (authAttempts >= this.#o.maxAuthAttempts) {
            this.#giveUp(batch, `the ingest token was refused ${authAttempts} times`);
            authAttempts = 0;
            continue;
          }
          await this.#o.sleep(this.#o.maxBackoffMs);
          continue;
        case "refused":
          // A 4xx other than these will not change on retry: keeping the batch would block the rest.
          this.#giveUp(
            batch,
            `the exporter refused the batch (${outcome.status}): ${outcome.body}`,
          );
          continue;
        case "retry": {
          attempt++;
          const delay = outcome.afterMs ?? this.#backoff(attempt);
          this.#o.log(
            "warn",
            `${outcome.why}; retrying ${batch.length} events in ${Math.round(delay)} ms`,
          );
          await this.#o.sleep(delay);
          continue;
        }
      }
    }
  }

  async #post(batch: OutgoingEvent[]): Promise<Outcome> {
    let res: Response;
    try {
      res = await this.#o.fetch(this.#o.exporterUrl + INGEST_PATH, {
        method: "POST",
        headers: { "authorization": `Bearer ${this.#o.token}`, "content-type": "application/json" },
        body: JSON.stringify({ events: batch }),
        signal: AbortSignal.timeout(this.#o.requestTimeoutMs),
      });
    } catch (e) {
      return { kind: "retry", why: `the exporter is unreachable (${(e as Error).message})` };
    }
    const text = await res.text().catch(() => "");
    if (res.ok) {
      let counts = {};
      try {
        counts = JSON.parse(text);
      } catch { /* delivered all the same */ }
      return { kind: "delivered", counts };
    }
    if (res.status === 401 || res.status === 403) return { kind: "auth", status: res.status };
    if (res.status === 413) return { kind: "too_large" };
    if (res.status >= 500 || res.status === 408 || res.status === 429) {
      const after = Number(res.headers.get("retry-after"));
      return {
        kind: "retry",
        why: `the exporter answered ${res.status}`,
        afterMs: Number.isFinite(after) && after > 0
          ? Math.min(after * 1000, this.#o.maxBackoffMs)
          : undefined,
      };
    }
    return { kind: "refused", status: res.status, body: text.slice(0, 300) };
  }

  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#o.maxBackoffMs, this.#o.initialBackoffMs * 2 ** (attempt - 1));
    return ceiling / 2 + (ceiling / 2) * this.#o.random(); // jitter: replicas do not retry in step
  }

  #remove(batch: OutgoingEvent[]): void {
    // By id: events may have been dropped from the buffer while the request was out.
    const sent = new Set(batch.map((e) => e.id));
    this.#buffer = this.#buffer.filter((e) => !sent.has(e.id));
  }

  #giveUp(batch: OutgoingEvent[], why: string): void {
    this.#remove(batch);
    this.stats.dropped += batch.length;
    this.#o.log("error", `${why}: ${batch.length} events dropped`);
  }

  #full(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.#buffer.length >= this.#batchSize) resolve();
        else this.#wake = check;
      };
      check();
    });
  }
}

function precious(e: OutgoingEvent): boolean {
  if (PRECIOUS.has(e.event_type)) return true;
  const reason = (e.event.Shutdown as { reason?: string } | undefined)?.reason;
  return e.event_type === "Shutdown" && !ROUTINE_SHUTDOWNS.has(reason ?? "");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

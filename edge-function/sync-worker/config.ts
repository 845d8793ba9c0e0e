// Settings from the environment, read once at start. A bad value stops the worker before it
// claims anything, naming the variable: a worker that half-works holds leases it cannot honour.

export interface Config {
  /** PostgreSQL URL of the log store (SYNC_DATABASE_URL, else Supabase's SUPABASE_DB_URL). */
  databaseUrl: string;
  /** sync_attempts.worker and sync_queue.claimed_by: which worker held an item. */
  workerName: string;
  /** Items claimed per sync_claim call (1-1000). */
  batchSize: number;
  /** How long a claim holds an item; a worker silent for longer loses it (worker_lost). */
  leaseSeconds: number;
  /** Attempts per item before it is given up (sync_claim's and the retry policy's limit). */
  maxAttempts: number;
  /** Pause between claims while the queue is empty. */
  pollSeconds: number;
  /** Backoff of a retryable failure: base * 2^(attempt-1), capped, jittered down to half. */
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  /** How long one portal call may take; shorter than the lease, or an item could run past it. */
  portalTimeoutSeconds: number;
  /** The default portal's endpoint (http_portal.ts); `{org}`, `{entity}`, `{message}` expand. */
  portalUrl: string | null;
  /** Sent as `Authorization: Bearer <token>` by the default portal, when set. */
  portalToken: string | null;
  /** SYNC_QUEUE: the sync_queue table (null, `table`), or the pgmq queue of `pgmq:<name>`. */
  pgmqQueue: string | null;
}

export type Env = (name: string) => string | undefined;

export class ConfigError extends Error {}

export function loadConfig(env: Env, pid: number): Config {
  const databaseUrl = env("SYNC_DATABASE_URL") || env("SUPABASE_DB_URL");
  if (!databaseUrl) throw new ConfigError("SYNC_DATABASE_URL (or SUPABASE_DB_URL) is not set");
  const leaseSeconds = seconds(env, "SYNC_LEASE_SECONDS", 300);
  const portalTimeoutSeconds = seconds(env, "SYNC_PORTAL_TIMEOUT_SECONDS", 30);
  if (portalTimeoutSeconds >= leaseSeconds) {
    throw new ConfigError(
      `SYNC_PORTAL_TIMEOUT_SECONDS (${portalTimeoutSeconds}) must be shorter than SYNC_LEASE_SECONDS (${leaseSeconds})`,
    );
  }
  const retryBaseSeconds = seconds(env, "SYNC_RETRY_BASE_SECONDS", 30);
  const retryMaxSeconds = seconds(env, "SYNC_RETRY_MAX_SECONDS", 3600);
  if (retryMaxSeconds < retryBaseSeconds) {
    throw new ConfigError("SYNC_RETRY_MAX_SECONDS must not be below SYNC_RETRY_BASE_SECONDS");
  }
  return {
    databaseUrl,
    workerName: env("SYNC_WORKER_NAME") || `${env("HOSTNAME") || "sync-worker"}-${pid}`,
    batchSize: wholeNumber(env, "SYNC_BATCH_SIZE", 10, 1, 1000),
    leaseSeconds,
    maxAttempts: wholeNumber(env, "SYNC_MAX_ATTEMPTS", 5, 1, 1000),
    pollSeconds: seconds(env, "SYNC_POLL_SECONDS", 1),
    retryBaseSeconds,
    retryMaxSeconds,
    portalTimeoutSeconds,
    portalUrl: env("SYNC_PORTAL_URL") || null,
    portalToken: env("SYNC_PORTAL_TOKEN") || null,
    pgmqQueue: pgmqQueue(env("SYNC_QUEUE")),
  };
}

/** `table` (or unset): null; `pgmq:<name>`: the name, as pgmq and the exporter accept it. */
function pgmqQueue(value: string | undefined): string | null {
  const v = (value ?? "").trim();
  if (v === "" || v === "table") return null;
  const name = /^pgmq:([a-z_][a-z0-9_]{0,46})$/.exec(v)?.[1];
  if (name === undefined) {
    throw new ConfigError(`SYNC_QUEUE must be table or pgmq:<queue name>, got ${v}`);
  }
  return name;
}

function wholeNumber(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env(name);
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${raw}`);
  }
  return n;
}

/** A positive number of seconds; fractions allowed (tests run with leases of a second or two). */
function seconds(env: Env, name: string, fallback: number): number {
  const raw = env(name);
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    throw new ConfigError(`${name} must be a positive number of seconds, got ${raw}`);
  }
  return n;
}

// Settings from the environment (Supabase function secrets). Read once per isolate; a missing
// required secret fails the boot, so a misconfigured deploy shows up as BootFailure, not as 500s.

export interface Config {
  /** PostgreSQL URL of the log store; Supabase sets SUPABASE_DB_URL in every function. */
  databaseUrl: string;
  /** Accepted keys: the current one and, during a rotation, the previous one. */
  keys: string[];
  /** Header carrying the key (Dataverse auth type HttpHeader). */
  keyHeader: string;
  /** Query parameter carrying the key (`code` is what auth type WebhookKey sends). */
  keyQueryParam: string;
  /** Largest body read, in bytes; larger ones are refused with 413 without being buffered. */
  maxBodyBytes: number;
  /** MessageName values handled (case-insensitive); anything else is unsupported_event. */
  messages: Set<string>;
  /** PrimaryEntityName values handled (lowercase); empty means every table. */
  entities: Set<string>;
  /** Payloads per organization and minute, per isolate; 0 turns the limiter off. */
  rateLimitPerMinute: number;
  /** The function's name: the path segment before the org slug, and edge_function_events.function_name. */
  functionName: string;
  /** Whether the function writes its own lifecycle rows (off where the event worker forwards them). */
  recordLifecycle: boolean;
  /**
   * Where accepted payloads are queued for the portal sync: the sync_queue table (null), or the
   * pgmq queue of this name (Supabase Queues), sent in the transaction of the event's row.
   */
  pgmqQueue: string | null;
}

export type Env = (name: string) => string | undefined;

export class ConfigError extends Error {}

export function loadConfig(env: Env): Config {
  const databaseUrl = env("WEBHOOK_DATABASE_URL") || env("SUPABASE_DB_URL");
  if (!databaseUrl) throw new ConfigError("SUPABASE_DB_URL (or WEBHOOK_DATABASE_URL) is not set");
  const keys = [env("WEBHOOK_KEY"), env("WEBHOOK_KEY_PREVIOUS")]
    .map((k) => k?.trim() ?? "")
    .filter((k) => k !== "");
  if (keys.length === 0) {
    // Refusing to boot beats accepting every request: there is no signature to fall back on.
    throw new ConfigError("WEBHOOK_KEY is not set");
  }
  return {
    databaseUrl,
    keys,
    keyHeader: (env("WEBHOOK_KEY_HEADER") || "x-webhook-key").toLowerCase(),
    keyQueryParam: env("WEBHOOK_KEY_QUERY_PARAM") || "code",
    maxBodyBytes: positiveInt(env, "WEBHOOK_MAX_BODY_BYTES", 1024 * 1024),
    messages: list(env("WEBHOOK_MESSAGES") ?? "Create,Update,Delete"),
    entities: list(env("WEBHOOK_ENTITIES") ?? ""),
    rateLimitPerMinute: positiveInt(env, "WEBHOOK_RATE_LIMIT_PER_MINUTE", 0),
    functionName: env("WEBHOOK_FUNCTION_NAME") || "dynamics-webhook",
    recordLifecycle: (env("WEBHOOK_RECORD_LIFECYCLE") ?? "true").toLowerCase() !== "false",
    pgmqQueue: syncQueue("WEBHOOK_SYNC_QUEUE", env("WEBHOOK_SYNC_QUEUE")),
  };
}

/** `table` (or unset): null; `pgmq:<name>`: the name, as pgmq and the exporter accept it. */
export function syncQueue(variable: string, value: string | undefined): string | null {
  const v = (value ?? "").trim();
  if (v === "" || v === "table") return null;
  const name = /^pgmq:([a-z_][a-z0-9_]{0,46})$/.exec(v)?.[1];
  if (name === undefined) {
    throw new ConfigError(`${variable} must be table or pgmq:<queue name> (a-z, 0-9, _), got ${v}`);
  }
  return name;
}

function list(value: string): Set<string> {
  return new Set(value.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== ""));
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env(name);
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new ConfigError(`${name} must be a whole number, got ${raw}`);
  }
  return n;
}

// The queue on PostgreSQL (porsager's postgres.js): the worker's only SQL. Everything goes
// through the functions of migration 0007 (sync_claim, sync_finish), which log each attempt in
// sync_attempts as they change the item, so the log and the queue cannot disagree.

import postgres from "postgres";
import type { ErrorClass, QueueItem } from "./portal.ts";

export type Sql = postgres.Sql;

export function connect(databaseUrl: string): Sql {
  return postgres(databaseUrl, {
    // Supabase's transaction-mode pooler (port 6543) cannot keep prepared statements.
    prepare: false,
    // One item at a time: claim, then finish, never two statements at once.
    max: 1,
    idle_timeout: 60,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "sync-worker" },
  });
}

export interface Finish {
  outcome: "succeeded" | "retrying" | "gave_up";
  errorClass?: ErrorClass;
  httpStatus?: number;
  detail?: string;
  retryInSeconds?: number;
}

export interface Queue {
  claim(limit: number, leaseSeconds: number, maxAttempts: number): Promise<QueueItem[]>;
  /** False when the attempt had lost the item (its lease ran out): nothing was changed. */
  finish(item: QueueItem, finish: Finish): Promise<boolean>;
  /** Hands back a claimed item whose portal call never started, as if it had not been claimed. */
  release(item: QueueItem): Promise<boolean>;
}

interface ClaimRow {
  item_id: string;
  event_id: string;
  org_id: string;
  attempt: number;
  reprocess: boolean;
  received_at: Date | null;
  entity_name: string | null;
  message_name: string | null;
  payload: unknown;
}

export class PgQueue implements Queue {
  constructor(private sql: Sql, private worker: string) {}

  async claim(limit: number, leaseSeconds: number, maxAttempts: number): Promise<QueueItem[]> {
    const rows = await this.sql<ClaimRow[]>`
      SELECT item_id::text AS item_id, event_id::text AS event_id, org_id, attempt, reprocess,
             received_at, entity_name, message_name, payload
      FROM sync_claim(${this.worker}, ${limit}::int, make_interval(secs => ${leaseSeconds}::float8),
                      ${maxAttempts}::int)`;
    return rows.map((r) => ({
      itemId: r.item_id,
      eventId: r.event_id,
      orgId: r.org_id,
      attempt: r.attempt,
      reprocess: r.reprocess,
      receivedAt: r.received_at,
      entityName: r.entity_name,
      messageName: r.message_name,
      payload: r.payload,
    }));
  }

  async finish(item: QueueItem, f: Finish): Promise<boolean> {
    const [row] = await this.sql<{ held: boolean }[]>`
      SELECT sync_finish(${item.itemId}::bigint, ${item.attempt}::int, ${f.outcome},
                         ${f.errorClass ?? null}, ${f.httpStatus ?? null}::int, ${f.detail ?? null},
                         make_interval(secs => ${f.retryInSeconds ?? 0}::float8)) AS held`;
    return row.held;
  }

  // The attempt never started, so nothing is logged and the next claim is the same attempt
  // number again.
  async release(item: QueueItem): Promise<boolean> {
    const [row] = await this.sql<{ held: boolean }[]>`
      SELECT sync_release(${item.itemId}::bigint, ${item.attempt}::int) AS held`;
    return row.held;
  }
}

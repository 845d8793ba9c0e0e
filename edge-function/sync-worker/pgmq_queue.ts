// The queue as a Supabase Queues (pgmq) queue (SYNC_QUEUE=pgmq:<name>): pgmq.read hands out
// messages for the lease (its visibility timeout), read_ct is the attempt number, and each
// attempt is logged through sync_record_attempt(..., queue => 'pgmq:<name>') in the transaction
// that archives the message (succeeded, gave up) or hides it until its retry (pgmq.set_vt). A
// message read again whose previous attempt was never logged lost its worker: that attempt is
// logged abandoned (gave_up, archived, at the attempt limit), as sync_claim does for the table.
// The message's fields are docs/log-store.md's: event_id, org_id, reprocess; the worker names
// itself in the message's headers ({"worker": ...}) so that its attempts are logged with it.

import type { Sql } from "./queue.ts";
import type { Finish, Queue } from "./queue.ts";
import type { QueueItem } from "./portal.ts";

interface ReadRow {
  msg_id: string;
  read_ct: number;
  event_id: string | null;
  org_id: string | null;
  reprocess: boolean;
  lost: boolean;
  worker: string | null;
  received_at: Date | null;
  entity_name: string | null;
  message_name: string | null;
  payload: unknown;
}

export class PgmqQueue implements Queue {
  private label: string;

  constructor(private sql: Sql, private worker: string, private queue: string) {
    this.label = `pgmq:${queue}`;
  }

  async claim(limit: number, leaseSeconds: number, maxAttempts: number): Promise<QueueItem[]> {
    return await this.sql.begin(async (tx) => {
      const rows = await tx<ReadRow[]>`
        WITH m AS (SELECT * FROM pgmq.read(${this.queue}, ${
        Math.ceil(leaseSeconds)
      }::int, ${limit}::int)),
             r AS (SELECT m.*, CASE WHEN m.message->>'event_id' ~* '^[0-9a-f-]{36}$'
                                    THEN (m.message->>'event_id')::uuid END AS event_uuid FROM m)
        SELECT r.msg_id::text AS msg_id, r.read_ct, r.event_uuid::text AS event_id,
               r.message->>'org_id' AS org_id,
               coalesce(r.message->'reprocess' = 'true'::jsonb, false) AS reprocess,
               r.read_ct > 1 AND NOT EXISTS (SELECT 1 FROM sync_attempts a WHERE a.queue = ${this.label}
                   AND a.item_id = r.msg_id AND a.attempt = r.read_ct - 1) AS lost,
               r.headers->>'worker' AS worker,
               e.received_at, e.entity_name, e.message_name, e.payload
        FROM r LEFT JOIN webhook_events e ON e.event_id = r.event_uuid ORDER BY r.msg_id`;
      const items: QueueItem[] = [];
      for (const r of rows) {
        await tx`
          UPDATE ${tx(`pgmq.q_${this.queue}`)}
          SET headers = coalesce(headers, '{}') || jsonb_build_object('worker', ${this.worker}::text)
          WHERE msg_id = ${r.msg_id}::bigint`;
        // A message without an event or an org is not an event's: left to its visibility timeout.
        if (r.event_id === null || r.org_id === null) continue;
        if (r.lost) {
          const gaveUp = r.read_ct - 1 >= maxAttempts;
          await tx`
            SELECT sync_record_attempt(${r.event_id}::uuid, ${r.org_id}, ${
            r.read_ct - 1
          }::int, now(),
                     ${gaveUp ? "gave_up" : "abandoned"}, 'worker_lost', NULL,
                     'its worker did not finish the read before its visibility timeout', ${r.worker},
                     ${r.msg_id}::bigint, ${r.reprocess}, ${this.label})`;
          if (gaveUp) {
            await tx`SELECT pgmq.archive(${this.queue}, ${r.msg_id}::bigint)`;
            continue;
          }
        }
        items.push({
          itemId: r.msg_id,
          eventId: r.event_id,
          orgId: r.org_id,
          attempt: r.read_ct,
          reprocess: r.reprocess,
          receivedAt: r.received_at,
          entityName: r.entity_name,
          messageName: r.message_name,
          payload: r.payload,
        });
      }
      return items;
    });
  }

  async finish(item: QueueItem, f: Finish): Promise<boolean> {
    return await this.sql.begin(async (tx) => {
      // Still this attempt's: not read again since, not ended, not logged already.
      const held = await tx<{ started_at: Date }[]>`
        SELECT coalesce(m.last_read_at, now()) AS started_at
        FROM ${tx(`pgmq.q_${this.queue}`)} m
        WHERE m.msg_id = ${item.itemId}::bigint AND m.read_ct = ${item.attempt}::int
          AND NOT EXISTS (SELECT 1 FROM sync_attempts a WHERE a.queue = ${this.label}
                          AND a.item_id = m.msg_id AND a.attempt = m.read_ct)
        FOR UPDATE`;
      if (held.length === 0) return false;
      await tx`
        SELECT sync_record_attempt(${item.eventId}::uuid, ${item.orgId}, ${item.attempt}::int,
                 ${held[0].started_at}, ${f.outcome}, ${f.errorClass ?? null}, ${
        f.httpStatus ?? null
      }::int,
                 ${
        f.detail ?? null
      }, ${this.worker}, ${item.itemId}::bigint, ${item.reprocess}, ${this.label})`;
      if (f.outcome === "retrying") {
        await tx`
          SELECT pgmq.set_vt(${this.queue}, ${item.itemId}::bigint,
                             clock_timestamp() + make_interval(secs => ${
          f.retryInSeconds ?? 0
        }::float8))`;
      } else {
        await tx`SELECT pgmq.archive(${this.queue}, ${item.itemId}::bigint)`;
      }
      return true;
    });
  }

  // The attempt never started: visible again at once, and the read not counted, so the next
  // read is the same attempt number again and nothing is logged.
  async release(item: QueueItem): Promise<boolean> {
    const rows = await this.sql`
      UPDATE ${this.sql(`pgmq.q_${this.queue}`)}
      SET vt = clock_timestamp(), read_ct = read_ct - 1
      WHERE msg_id = ${item.itemId}::bigint AND read_ct = ${item.attempt}::int
      RETURNING msg_id`;
    return rows.length === 1;
  }
}

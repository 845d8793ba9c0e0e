// The log store on PostgreSQL (porsager's postgres.js): the only SQL of the function.
//
// Rules of docs/log-store.md kept here: tx_id is never written (its default, the writing
// transaction, is how the exporter reads new rows exactly once); an accepted row and its
// queue item (a sync_queue row, or a pgmq message: docs/log-store.md) commit together or not at
// all; rows are insert-only; a row is written whatever
// the bytes of its request (columns.ts), so only a store that is down or refusing writes leaves a
// request without its row.

import postgres from "postgres";
import { type Columns, columns, rawOnly, storableText } from "./columns.ts";
import type { EventRow, EventSink } from "./handler.ts";
import type { OrgLookup } from "./org.ts";

export type Sql = postgres.Sql;

export function connect(databaseUrl: string): Sql {
  return postgres(databaseUrl, {
    // Supabase's transaction-mode pooler (port 6543) cannot keep prepared statements.
    prepare: false,
    // An isolate serves a few requests at a time; many isolates share the database.
    max: 3,
    idle_timeout: 20,
    // Dataverse gives up after 60 s; a database that does not answer in 10 s will not in time.
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "dynamics-webhook" },
  });
}

export class PgStore implements EventSink {
  /** `pgmqQueue`: send accepted payloads to this pgmq queue instead of the sync_queue table. */
  constructor(private sql: Sql, private pgmqQueue: string | null = null) {}

  findOrg: OrgLookup = async (orgId) => {
    const rows = await this.sql<{ active: boolean }[]>`
      SELECT active FROM organizations WHERE org_id = ${orgId}`;
    return rows.length === 0 ? null : { active: rows[0].active };
  };

  async accept(row: EventRow): Promise<"accepted" | "duplicate"> {
    return await refusedAsJsonb(row, (cols) =>
      this.sql.begin(async (tx) => {
        // Decided by a lock per event id and a lookup, not ON CONFLICT (event_id): a partitioned
        // webhook_events (docs/log-store.md) has no unique key on event_id alone to name. A
        // concurrent first delivery holds the lock until it commits (or rolls back); the lookup,
        // a statement of its own under READ COMMITTED, then sees its row.
        await tx`SELECT pg_advisory_xact_lock(
                   hashtextextended('dynamics-webhook accept ' || ${row.eventId}::text, 0))`;
        const seen = await tx`SELECT 1 FROM webhook_events WHERE event_id = ${row.eventId} LIMIT 1`;
        if (seen.length > 0) return "duplicate" as const;
        await insertEvent(tx, row, cols);
        if (this.pgmqQueue === null) {
          await tx`INSERT INTO sync_queue (org_id, event_id) VALUES (${cols.orgId}, ${row.eventId})`;
        } else {
          // The message's fields the exporter reads (docs/log-store.md): event_id and org_id.
          // (An object through tx.json: a JSON text bound to jsonb would be stored as a string.)
          const message = tx.json({ event_id: row.eventId, org_id: cols.orgId });
          await tx`SELECT pgmq.send(${this.pgmqQueue}, ${message})`;
        }
        return "accepted" as const;
      }));
  }

  async record(row: EventRow): Promise<void> {
    await refusedAsJsonb(row, (cols) => insertEvent(this.sql, row, cols));
  }

  /** One edge_function_events row (the function's own lifecycle, best-effort). */
  async lifecycle(
    functionName: string,
    eventType: "Shutdown" | "UncaughtException",
    shutdownReason: string | null,
    detail: string,
  ): Promise<void> {
    await this.sql`
      INSERT INTO edge_function_events (function_name, event_type, shutdown_reason, detail)
      VALUES (${functionName}, ${eventType}, ${shutdownReason}, ${storableText(detail, 2000)})`;
  }
}

/**
 * Runs `write` with the row's columns; if PostgreSQL refuses the payload as jsonb after all (a data
 * exception, SQLSTATE class 22: a number beyond numeric's range, a database not in UTF-8), once
 * more with the payload as bytes. Anything else (the store is down) is thrown.
 */
async function refusedAsJsonb<T>(row: EventRow, write: (cols: Columns) => Promise<T>): Promise<T> {
  const cols = columns(row);
  try {
    return await write(cols);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (cols.payloadJson === null || typeof code !== "string" || !code.startsWith("22")) throw e;
    return await write(rawOnly(row, `${code} ${(e as Error).message}`));
  }
}

function insertEvent(
  sql: postgres.Sql | postgres.TransactionSql,
  row: EventRow,
  c: Columns,
) {
  // received_at is the database's now(), the clock the exporter's windows are counted against.
  // The payload goes as text cast to jsonb: the body itself, not a re-serialization of it.
  return sql`
    INSERT INTO webhook_events (event_id, org_id, outcome, http_status, rejection_reason,
        error_detail, correlation_id, entity_name, message_name, payload, payload_raw)
    VALUES (${row.eventId}, ${c.orgId}, ${row.outcome}, ${row.httpStatus}, ${row.rejectionReason},
        ${c.errorDetail}, ${c.correlationId}, ${c.entityName}, ${c.messageName},
        ${c.payloadJson}::text::jsonb, ${c.payloadRaw})`;
}

// The log store on PostgreSQL (porsager's postgres.js): the only SQL of the function.
//
// Rules of docs/log-store.md kept here: tx_id is never written (its default, the writing
// transaction, is how the exporter reads new rows exactly once); an accepted row and its
// sync_queue item commit together or not at all; rows are insert-only.

import postgres from "postgres";
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
  constructor(private sql: Sql) {}

  findOrg: OrgLookup = async (orgId) => {
    const rows = await this.sql<{ active: boolean }[]>`
      SELECT active FROM organizations WHERE org_id = ${orgId}`;
    return rows.length === 0 ? null : { active: rows[0].active };
  };

  async accept(row: EventRow): Promise<"accepted" | "duplicate"> {
    return await this.sql.begin(async (tx) => {
      // ON CONFLICT instead of catching the unique violation: the transaction stays usable and a
      // concurrent first delivery is waited for, then seen.
      const inserted = await insertEvent(tx, row, true);
      if (inserted.length === 0) return "duplicate" as const;
      await tx`INSERT INTO sync_queue (org_id, event_id) VALUES (${row.orgId}, ${row.eventId})`;
      return "accepted" as const;
    });
  }

  async record(row: EventRow): Promise<void> {
    try {
      await insertEvent(this.sql, row, false);
    } catch (e) {
      // Valid JSON that jsonb refuses (a \u0000 in a string): keep the row, drop the payload.
      if ((e as { code?: string }).code !== "22P05" || row.payload === null) throw e;
      const detail = `${row.errorDetail ?? ""} (payload not storable as jsonb: ${
        (e as Error).message
      })`;
      await insertEvent(this.sql, { ...row, payload: null, errorDetail: detail.trim() }, false);
    }
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
      VALUES (${functionName}, ${eventType}, ${shutdownReason}, ${detail.slice(0, 2000)})`;
  }
}

function insertEvent(
  sql: postgres.Sql | postgres.TransactionSql,
  row: EventRow,
  skipDuplicate: boolean,
) {
  const payload = row.payload === null || row.payload === undefined
    ? null
    : sql.json(row.payload as postgres.JSONValue);
  // received_at is the database's now(), the clock the exporter's windows are counted against.
  return sql`
    INSERT INTO webhook_events (event_id, org_id, outcome, http_status, rejection_reason,
        error_detail, correlation_id, entity_name, message_name, payload)
    VALUES (${row.eventId}, ${row.orgId}, ${row.outcome}, ${row.httpStatus}, ${row.rejectionReason},
        ${row.errorDetail}, ${row.correlationId}, ${row.entityName}, ${row.messageName}, ${payload})
    ${skipDuplicate ? sql`ON CONFLICT (event_id) DO NOTHING RETURNING id` : sql``}`;
}

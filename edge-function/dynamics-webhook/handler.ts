// One webhook request, from the key to the row: every payload that reaches the function leaves
// exactly one webhook_events row, with the reason and status of docs/log-store.md.

import { checkAuth } from "./auth.ts";
import type { Config } from "./config.ts";
import type { RateLimiter } from "./limiter.ts";
import { claimedOrg, type OrgResolver } from "./org.ts";
import { parseContext, payloadEventId, readBody, sizeExceeded } from "./payload.ts";
import {
  ACCEPTED_STATUS,
  FAILED_STATUS,
  NO_ORG,
  REJECTION_STATUS,
  type RejectionReason,
} from "./reasons.ts";

export interface EventRow {
  eventId: string;
  orgId: string;
  outcome: "accepted" | "rejected" | "failed";
  httpStatus: number;
  rejectionReason: RejectionReason | null;
  errorDetail: string | null;
  correlationId: string | null;
  entityName: string | null;
  messageName: string | null;
  payload: unknown;
}

/** Where rows go (store.ts on PostgreSQL; a fake in the unit tests). */
export interface EventSink {
  /** The accepted row and its sync_queue item, in one transaction; "duplicate" if event_id exists. */
  accept(row: EventRow): Promise<"accepted" | "duplicate">;
  /** One rejected or failed row on its own. */
  record(row: EventRow): Promise<void>;
}

export interface Deps {
  config: Config;
  sink: EventSink;
  orgs: OrgResolver;
  limiter: RateLimiter;
}

export async function handle(req: Request, deps: Deps): Promise<Response> {
  // Not a payload: probes (the exporter's GET, a load balancer) must not count as received.
  if (req.method !== "POST") {
    return json(405, { error: "POST a Dataverse webhook payload here" }, { Allow: "POST" });
  }
  const url = new URL(req.url);
  const row = baseRow(req.headers, url, deps.config);
  try {
    return await decide(req, url, row, deps);
  } catch (e) {
    // Failed before deciding (the org lookup, reading the body): logged, never thrown at the runtime.
    console.error("dynamics-webhook: internal error", e);
    return await reject(deps, row, "internal_error", `internal error: ${errorText(e)}`, null);
  }
}

async function decide(req: Request, url: URL, row: EventRow, deps: Deps): Promise<Response> {
  const { config } = deps;
  const auth = checkAuth(req.headers, url, config);
  if (!auth.ok) {
    const detail = auth.reason === "missing_auth"
      ? `no ${config.keyHeader} header or ${config.keyQueryParam} parameter`
      : "the key matches no configured key (a rotation not mirrored here?)";
    return await reject(deps, row, auth.reason, detail, null);
  }
  const org = await deps.orgs.resolve(row.orgId === NO_ORG ? null : row.orgId);
  if (org !== "active") {
    const detail = row.orgId === NO_ORG
      ? "the request names no organization (URL path, ?org= or x-ms-dynamics-organization)"
      : `organization ${row.orgId} is ${org === "inactive" ? "switched off" : "not configured"}`;
    return await reject(deps, row, "unknown_organization", detail, null);
  }
  const body = await readBody(req, config.maxBodyBytes);
  if (body.kind === "too_large") {
    const detail = `body of ${body.bytes} bytes is over the limit of ${config.maxBodyBytes}`;
    return await reject(deps, row, "payload_too_large", detail, null);
  }
  const parsed = parseContext(body.text);
  const payload = parsed.ok ? parsed.context : parsed.json ?? null;
  if (sizeExceeded(req.headers)) {
    // Dataverse dropped parts of the context (above ~256 KB): what is left is kept for people.
    const detail = "x-ms-dynamics-msg-size-exceeded: Dataverse sent a truncated context";
    return await reject(deps, row, "payload_too_large", detail, payload);
  }
  if (!parsed.ok) return await reject(deps, row, "invalid_payload", parsed.error, payload);
  const context = parsed.context;
  row.messageName ??= clip(context.MessageName);
  row.entityName ??= clip(context.PrimaryEntityName);
  row.correlationId ??= clip(context.CorrelationId);
  const message = context.MessageName.toLowerCase();
  const entity = context.PrimaryEntityName.toLowerCase();
  if (!config.messages.has(message) || (config.entities.size > 0 && !config.entities.has(entity))) {
    const detail = `${context.MessageName} of ${context.PrimaryEntityName} is not handled`;
    return await reject(deps, row, "unsupported_event", detail, context);
  }
  if (!deps.limiter.admit(row.orgId)) {
    const detail = `over ${config.rateLimitPerMinute} payloads a minute for ${row.orgId}`;
    return await reject(deps, row, "rate_limited", detail, context, { "Retry-After": "60" });
  }
  const eventId = (await payloadEventId(context)) ?? crypto.randomUUID();
  const accepted: EventRow = {
    ...row,
    eventId,
    outcome: "accepted",
    httpStatus: ACCEPTED_STATUS,
    payload: context,
  };
  let result: "accepted" | "duplicate";
  try {
    result = await deps.sink.accept(accepted);
  } catch (e) {
    // Decided, but the hand-off failed and the transaction rolled back: a `failed` row, under a
    // fresh id so that a redelivery is accepted rather than called a duplicate.
    console.error("dynamics-webhook: enqueueing failed", e);
    const failed: EventRow = {
      ...accepted,
      outcome: "failed",
      httpStatus: FAILED_STATUS,
      eventId: crypto.randomUUID(),
      errorDetail: `handing the payload to the sync queue failed: ${errorText(e)}`,
    };
    await deps.sink.record(failed).catch((e2) =>
      console.error("dynamics-webhook: logging failed", e2)
    );
    return json(FAILED_STATUS, { outcome: "failed", error: "the payload could not be queued" });
  }
  if (result === "duplicate") {
    // The first delivery holds the payload; this row only says it came again.
    return await reject(deps, row, "duplicate", `duplicate of event ${eventId}`, null);
  }
  return json(ACCEPTED_STATUS, { outcome: "accepted", event_id: eventId });
}

/** The columns known before the body is read. */
function baseRow(headers: Headers, url: URL, config: Config): EventRow {
  return {
    eventId: "",
    orgId: claimedOrg(url, headers, config.functionName) ?? NO_ORG,
    outcome: "rejected",
    httpStatus: 0,
    rejectionReason: null,
    errorDetail: null,
    correlationId: clip(headers.get("x-ms-correlation-request-id")),
    entityName: clip(headers.get("x-ms-dynamics-entity-name")),
    messageName: clip(headers.get("x-ms-dynamics-request-name")),
    payload: null,
  };
}

/**
 * Writes the rejected row (under a fresh id: a refused payload may be sent again and accepted) and
 * answers the reason's status. A row that cannot be written is logged; the sender still gets the
 * status, since the decision stands.
 */
async function reject(
  deps: Deps,
  base: EventRow,
  reason: RejectionReason,
  detail: string,
  payload: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const status = REJECTION_STATUS[reason];
  const row: EventRow = {
    ...base,
    eventId: crypto.randomUUID(),
    outcome: "rejected",
    httpStatus: status,
    rejectionReason: reason,
    errorDetail: detail,
    payload,
  };
  try {
    await deps.sink.record(row);
  } catch (e) {
    console.error(`dynamics-webhook: could not log a ${reason} rejection`, e);
  }
  // Internal details stay in the log store; the sender learns the reason only.
  const shown = reason === "internal_error" ? "internal error" : detail;
  return json(status, { outcome: "rejected", reason, error: shown }, headers);
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function clip(v: string | null | undefined): string | null {
  return v === null || v === undefined ? null : v.slice(0, 200);
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).slice(0, 500);
}

// One webhook request, from the key to the row: every payload that reaches the function leaves
// exactly one webhook_events row, with the reason and status of docs/log-store.md, whatever its
// bytes; when the log store takes no row at all, the answer is 503, which Dataverse retries.

import { checkAuth } from "./auth.ts";
import type { Config } from "./config.ts";
import type { RateLimiter } from "./limiter.ts";
import { claimedOrg, isOrgId, type OrgResolver } from "./org.ts";
import { parseContext, payloadEventId, readBody, sizeExceeded } from "./payload.ts";
import {
  ACCEPTED_STATUS,
  FAILED_STATUS,
  NO_ORG,
  NOT_RECORDED_STATUS,
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
  /** The body as parsed JSON, when the row keeps the payload and it is JSON. */
  payload: unknown;
  /** The body's bytes, when the row keeps the payload (the store keeps them if jsonb cannot). */
  rawBody: Uint8Array | null;
}

/** A body the row keeps: its bytes and, when it parsed, its JSON. */
interface Kept {
  json: unknown;
  bytes: Uint8Array;
}

/** Where rows go (store.ts on PostgreSQL; a fake in the unit tests). */
export interface EventSink {
  /** The accepted row and its sync_queue item, in one transaction; "duplicate" if event_id exists. */
  accept(row: EventRow): Promise<"accepted" | "duplicate">;
  /** One rejected or failed row on its own; throws only when no row could be written at all. */
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

/** The org as stored: the claim when it can be an org id, else `_unknown` (its text in details). */
function orgClaim(
  url: URL,
  headers: Headers,
  config: Config,
): { id: string; claim: string | null } {
  const claim = claimedOrg(url, headers, config.functionName);
  return { id: claim !== null && isOrgId(claim) ? claim : NO_ORG, claim };
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
    const { claim } = orgClaim(url, req.headers, config);
    const detail = claim === null
      ? "the request names no organization (URL path, ?org= or x-ms-dynamics-organization)"
      : row.orgId === NO_ORG
      ? `the claimed organization ${JSON.stringify(claim)} is not an organization id`
      : `organization ${row.orgId} is ${org === "inactive" ? "switched off" : "not configured"}`;
    return await reject(deps, row, "unknown_organization", detail, null);
  }
  const body = await readBody(req, config.maxBodyBytes);
  if (body.kind === "too_large") {
    const detail = `body of ${body.bytes} bytes is over the limit of ${config.maxBodyBytes}`;
    return await reject(deps, row, "payload_too_large", detail, null);
  }
  const parsed = parseContext(body.text);
  const kept: Kept = { json: parsed.ok ? parsed.context : parsed.json ?? null, bytes: body.bytes };
  if (sizeExceeded(req.headers)) {
    // Dataverse dropped parts of the context (above ~256 KB): what is left is kept for people.
    const detail = "x-ms-dynamics-msg-size-exceeded: Dataverse sent a truncated context";
    return await reject(deps, row, "payload_too_large", detail, kept);
  }
  if (!parsed.ok) return await reject(deps, row, "invalid_payload", parsed.error, kept);
  const context = parsed.context;
  row.messageName ??= clip(context.MessageName);
  row.entityName ??= clip(context.PrimaryEntityName);
  row.correlationId ??= clip(context.CorrelationId);
  const message = context.MessageName.toLowerCase();
  const entity = context.PrimaryEntityName.toLowerCase();
  if (!config.messages.has(message) || (config.entities.size > 0 && !config.entities.has(entity))) {
    const detail = `${context.MessageName} of ${context.PrimaryEntityName} is not handled`;
    return await reject(deps, row, "unsupported_event", detail, kept);
  }
  if (!deps.limiter.admit(row.orgId)) {
    const detail = `over ${config.rateLimitPerMinute} payloads a minute for ${row.orgId}`;
    return await reject(deps, row, "rate_limited", detail, kept, { "Retry-After": "60" });
  }
  const eventId = (await payloadEventId(context)) ?? crypto.randomUUID();
  const accepted: EventRow = {
    ...row,
    eventId,
    outcome: "accepted",
    httpStatus: ACCEPTED_STATUS,
    payload: context,
    rawBody: body.bytes,
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
    try {
      await deps.sink.record(failed);
    } catch (e2) {
      return notRecorded("failed", e2);
    }
    // The row keeps the payload: the exporter's reprocessing API sends it to the queue again.
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
    orgId: orgClaim(url, headers, config).id,
    outcome: "rejected",
    httpStatus: 0,
    rejectionReason: null,
    errorDetail: null,
    correlationId: clip(headers.get("x-ms-correlation-request-id")),
    entityName: clip(headers.get("x-ms-dynamics-entity-name")),
    messageName: clip(headers.get("x-ms-dynamics-request-name")),
    payload: null,
    rawBody: null,
  };
}

/**
 * Writes the rejected row (under a fresh id: a refused payload may be sent again and accepted) and
 * answers the reason's status. When no row can be written at all, the answer is 503 instead: the
 * reason would be counted nowhere, and 503 is a status Dataverse delivers again.
 */
async function reject(
  deps: Deps,
  base: EventRow,
  reason: RejectionReason,
  detail: string,
  kept: Kept | null,
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
    payload: kept?.json ?? null,
    rawBody: kept?.bytes ?? null,
  };
  try {
    await deps.sink.record(row);
  } catch (e) {
    return notRecorded(reason, e);
  }
  // Internal details stay in the log store; the sender learns the reason only.
  const shown = reason === "internal_error" ? "internal error" : detail;
  return json(status, { outcome: "rejected", reason, error: shown }, headers);
}

/** The log store took no row: say so with a status Dataverse retries (once, after 502/503/504). */
function notRecorded(decision: string, e: unknown): Response {
  console.error(`dynamics-webhook: could not log a ${decision} row; answering 503`, e);
  return json(NOT_RECORDED_STATUS, {
    outcome: "not_recorded",
    error: "the log store is unavailable; nothing was recorded, send the payload again",
  }, { "Retry-After": "5" });
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

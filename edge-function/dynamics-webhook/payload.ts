// The request body: read within a size limit, checked to be a Dataverse RemoteExecutionContext,
// and given the id that makes a redelivery recognizable.

/** The fields of Microsoft.Xrm.Sdk.RemoteExecutionContext this function relies on. */
export interface RemoteExecutionContext {
  MessageName: string;
  PrimaryEntityName: string;
  PrimaryEntityId: string;
  OrganizationId: string;
  CorrelationId: string;
  OrganizationName?: string;
  RequestId?: string | null;
  OperationId?: string | null;
  Stage?: number;
  Depth?: number;
  OwningExtension?: { Id?: string } | null;
  InputParameters?: unknown[] | null;
  [field: string]: unknown;
}

export type BodyResult =
  | { kind: "ok"; bytes: Uint8Array; text: string }
  | { kind: "too_large"; bytes: number };

/**
 * Reads at most `max` bytes. A larger body (by Content-Length, or counted while streaming when the
 * sender does not announce it) is left unread, so an oversized request costs no memory.
 */
export async function readBody(req: Request, max: number): Promise<BodyResult> {
  const announced = Number(req.headers.get("content-length") ?? NaN);
  if (Number.isFinite(announced) && announced > max) {
    await req.body?.cancel().catch(() => {});
    return { kind: "too_large", bytes: announced };
  }
  if (req.body === null) return { kind: "ok", bytes: new Uint8Array(0), text: "" };
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.length;
    if (bytes > max) {
      await reader.cancel().catch(() => {});
      return { kind: "too_large", bytes };
    }
    chunks.push(value);
  }
  const all = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  // Not UTF-8 is read with replacement characters; the bytes themselves are kept (columns.ts).
  return { kind: "ok", bytes: all, text: new TextDecoder().decode(all) };
}

export type ParseResult =
  | { ok: true; context: RemoteExecutionContext }
  | { ok: false; error: string; json?: unknown };

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NIL_GUID = "00000000-0000-0000-0000-000000000000";

/**
 * Parses and checks the body. `json` is returned with an error when the body was JSON after all,
 * so that the row keeps it for reprocessing.
 */
export function parseContext(text: string): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `body is not JSON: ${(e as Error).message}` };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { ok: false, error: "body is not a JSON object" };
  }
  const c = json as Record<string, unknown>;
  const problems: string[] = [];
  for (const f of ["MessageName", "PrimaryEntityName"]) {
    if (typeof c[f] !== "string" || (c[f] as string).trim() === "") problems.push(`${f} missing`);
  }
  for (const f of ["OrganizationId", "PrimaryEntityId", "CorrelationId"]) {
    if (!isGuid(c[f])) problems.push(`${f} is not a GUID`);
  }
  for (const f of ["RequestId", "OperationId"]) {
    if (c[f] !== undefined && c[f] !== null && !isGuid(c[f])) problems.push(`${f} is not a GUID`);
  }
  for (const f of ["Stage", "Depth"]) {
    if (c[f] !== undefined && !Number.isInteger(c[f])) problems.push(`${f} is not an integer`);
  }
  if (
    c.InputParameters !== undefined && c.InputParameters !== null &&
    !Array.isArray(c.InputParameters)
  ) {
    problems.push("InputParameters is not an array");
  }
  const owner = c.OwningExtension;
  if (
    owner !== undefined && owner !== null && (typeof owner !== "object" || Array.isArray(owner))
  ) {
    problems.push("OwningExtension is not an object");
  }
  if (problems.length > 0) {
    return { ok: false, error: `not a RemoteExecutionContext: ${problems.join(", ")}`, json };
  }
  return { ok: true, context: c as RemoteExecutionContext };
}

function isGuid(v: unknown): v is string {
  return typeof v === "string" && GUID.test(v);
}

/**
 * The payload's id: the same for a redelivery of the same step execution (Dataverse resends the
 * same body after a 502/503/504, and a gateway timeout can hide a delivery that did succeed), and
 * different for two steps registered on one request (they share RequestId and CorrelationId but
 * not OwningExtension.Id). A UUID (version 8, name-based on SHA-256) so it fits
 * webhook_events.event_id. Null when the payload names no request or operation: such payloads cannot
 * be told apart from a new event with the same fields, so they are never called duplicates.
 */
export async function payloadEventId(c: RemoteExecutionContext): Promise<string | null> {
  const request = realGuid(c.RequestId);
  const operation = realGuid(c.OperationId);
  if (request === null && operation === null) return null;
  const key = [
    "dynamics-webhook/v1",
    c.OrganizationId.toLowerCase(),
    request ?? "",
    operation ?? "",
    realGuid(c.OwningExtension?.Id) ?? "",
    c.MessageName.toLowerCase(),
    c.PrimaryEntityName.toLowerCase(),
    c.PrimaryEntityId.toLowerCase(),
    String(c.Stage ?? ""),
    String(c.Depth ?? ""),
  ].join("|");
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)),
  );
  const b = digest.slice(0, 16);
  b[6] = (b[6] & 0x0f) | 0x80; // version 8
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

function realGuid(v: unknown): string | null {
  return isGuid(v) && v !== NIL_GUID ? v.toLowerCase() : null;
}

/** Whether Dataverse said it stripped parts of the payload (above about 256 KB). */
export function sizeExceeded(headers: Headers): boolean {
  const v = headers.get("x-ms-dynamics-msg-size-exceeded");
  return v !== null && v.trim().toLowerCase() !== "false";
}

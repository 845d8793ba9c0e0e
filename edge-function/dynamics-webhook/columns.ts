// What of a row PostgreSQL can hold. A `text` column refuses NUL; `jsonb` refuses the escape
// \u0000 and a lone surrogate escape (an emoji cut in half by truncation), both valid JSON. A
// payload that reached the function must still leave its row, so texts are made storable here and
// a body jsonb cannot hold exactly is kept as its bytes (payload_raw) instead.

import type { EventRow } from "./handler.ts";

/** The webhook_events columns of a row, each in a form PostgreSQL accepts. */
export interface Columns {
  orgId: string;
  errorDetail: string | null;
  correlationId: string | null;
  entityName: string | null;
  messageName: string | null;
  /** The body as JSON text, for `::text::jsonb` (so numbers keep every digit), or null. */
  payloadJson: string | null;
  /** The body's bytes as received, when payloadJson cannot be them. */
  payloadRaw: Uint8Array | null;
}

const DETAIL_CHARS = 2000;
const FIELD_CHARS = 200;

export function columns(row: EventRow): Columns {
  const { json, raw, note } = keptPayload(row);
  const detail = [row.errorDetail, note].filter((s) => s !== null && s !== "").join("; ");
  return {
    orgId: storableText(row.orgId, FIELD_CHARS)!,
    errorDetail: storableText(detail === "" ? null : detail, DETAIL_CHARS),
    correlationId: storableText(row.correlationId, FIELD_CHARS),
    entityName: storableText(row.entityName, FIELD_CHARS),
    messageName: storableText(row.messageName, FIELD_CHARS),
    payloadJson: json,
    payloadRaw: raw,
  };
}

/**
 * The same row with the payload as bytes only: for a body PostgreSQL refused as jsonb after all
 * (a number beyond numeric's range, a database not in UTF-8).
 */
export function rawOnly(row: EventRow, why: string): Columns {
  const c = columns(row);
  if (c.payloadJson === null) return c;
  const raw = row.rawBody ?? new TextEncoder().encode(c.payloadJson);
  const note = `payload kept as bytes in payload_raw: jsonb refused it (${why})`;
  const detail = c.errorDetail === null ? note : `${c.errorDetail}; ${note}`;
  return {
    ...c,
    errorDetail: storableText(detail, DETAIL_CHARS),
    payloadJson: null,
    payloadRaw: raw,
  };
}

/**
 * Text PostgreSQL stores as is: control characters (NUL among them, which `text` refuses) written
 * as \uXXXX escapes so that people see them, lone surrogates replaced by U+FFFD, at most `max`
 * characters.
 */
export function storableText(s: string | null, max: number): string | null {
  if (s === null) return null;
  return s.toWellFormed().replace(
    CONTROL,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  )
    .slice(0, max);
}

// C0 controls but tab, line feed and carriage return, and DEL.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/** Whether jsonb holds a parsed JSON value exactly: no \u0000 and no lone surrogate anywhere. */
export function jsonbHolds(value: unknown): boolean {
  if (typeof value === "string") return !value.includes("\u0000") && value.isWellFormed();
  if (Array.isArray(value)) return value.every(jsonbHolds);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).every(([k, v]) => jsonbHolds(k) && jsonbHolds(v));
  }
  return true;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function keptPayload(
  row: EventRow,
): { json: string | null; raw: Uint8Array | null; note: string | null } {
  const parsed = row.payload !== null && row.payload !== undefined;
  if (row.rawBody === null) {
    // Only parsed JSON to keep (no bytes were read into the row).
    return parsed && jsonbHolds(row.payload)
      ? { json: JSON.stringify(row.payload), raw: null, note: null }
      : { json: null, raw: null, note: null };
  }
  let text: string | null = null;
  try {
    text = strictUtf8.decode(row.rawBody);
  } catch {
    // Not UTF-8: the payload (if it parsed at all) was read with replacement characters.
  }
  if (text !== null && parsed && jsonbHolds(row.payload)) {
    return { json: text, raw: null, note: null };
  }
  if (row.rawBody.length === 0) return { json: null, raw: null, note: null };
  const why = text === null
    ? "the body is not UTF-8"
    : !parsed
    ? "the body is not a JSON object"
    : "the body holds \\u0000 or a lone surrogate, which jsonb cannot store";
  return { json: null, raw: row.rawBody, note: `payload kept as bytes in payload_raw: ${why}` };
}

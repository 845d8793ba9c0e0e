// Hostile requests to the dynamics-webhook function, each with what the function must answer and
// write: a model of docs/log-store.md's check order, written from the request's parts and not
// from the function's code.

import fc from "fast-check";
import {
  concat,
  forbiddenByte,
  headerValueBytes,
  hostileBytes,
  hostileChar,
  hostileText,
  invalidUtf8,
  percentEncode,
  utf8,
  type WireRequest,
} from "./wire.ts";

export const KEY = "current-key";
export const PREVIOUS_KEY = "previous-key";
export const MAX_BODY_BYTES = 4096;
/** organizations as the property's database has them. */
export const ORGS = { contoso: true, retired: false } as const;

type Org = "contoso" | "retired" | "nobody";
type Claim = { known: Org; upper: boolean } | { junk: string };
type KeyValue = "good" | "previous" | "wrong" | "junk" | "blank";

export interface Case {
  method: string;
  key:
    | { where: "none" }
    | { where: "header"; values: KeyValue[]; junk: Uint8Array }
    | { where: "query"; values: KeyValue[]; junk: string };
  org: { where: "path" | "query" | "header" | "none"; claim: Claim };
  poison: null | { where: "path" | "header"; byte: number };
  headers: { name: string; value: Uint8Array }[];
  sizeExceeded: boolean;
  body:
    | { kind: "context"; message: string; note: null | string | Uint8Array; requestId: boolean }
    | { kind: "object"; value: Record<string, string> }
    | { kind: "bytes"; bytes: Uint8Array }
    | { kind: "big"; bytes: number };
}

const junkClaim = fc.tuple(
  fc.constantFrom("contoso", "nobody", "x"),
  hostileChar,
  fc.string({ maxLength: 20 }),
)
  .map(([a, c, b]) => ({ junk: `${a}${c}z${b}` }));

const claim: fc.Arbitrary<Claim> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ known: fc.constant<Org>("contoso"), upper: fc.boolean() }) },
  fc.record({
    known: fc.constantFrom<Org>("contoso", "contoso", "retired", "nobody"),
    upper: fc.boolean(),
  }),
  junkClaim,
);

const keyValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<KeyValue>("good", "previous") },
  { weight: 1, arbitrary: fc.constantFrom<KeyValue>("wrong", "junk", "blank") },
);
/** Mostly one key; now and then two (ambiguous, refused whatever their order). */
const keyValues = (values: fc.Arbitrary<KeyValue>) =>
  fc.oneof({ weight: 8, arbitrary: values.map((v) => [v]) }, {
    weight: 1,
    arbitrary: fc.tuple(values, values),
  });

export const hostileCase: fc.Arbitrary<Case> = fc.record({
  method: fc.oneof({ weight: 14, arbitrary: fc.constant("POST") }, {
    weight: 1,
    arbitrary: fc.constantFrom("GET", "PUT", "DELETE", "PATCH"),
  }),
  key: fc.oneof(
    { weight: 1, arbitrary: fc.constant({ where: "none" as const }) },
    {
      weight: 4,
      arbitrary: fc.record({
        where: fc.constant("header" as const),
        values: keyValues(keyValue),
        junk: headerValueBytes,
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        where: fc.constant("query" as const),
        values: keyValues(keyValue.filter((v) => v !== "blank")),
        junk: hostileText,
      }),
    },
  ),
  org: fc.record({
    where: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom("path", "path", "query", "header") },
      { weight: 1, arbitrary: fc.constant("none") },
    ),
    claim,
  }),
  poison: fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, {
    weight: 1,
    arbitrary: fc.record({ where: fc.constantFrom("path", "header"), byte: forbiddenByte }),
  }),
  headers: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom(
        "x-ms-correlation-request-id",
        "x-ms-dynamics-entity-name",
        "x-ms-dynamics-request-name",
        "x-hostile",
      ),
      value: headerValueBytes,
    }),
    { maxLength: 3, selector: (h) => h.name },
  ),
  sizeExceeded: fc.oneof({ weight: 10, arbitrary: fc.constant(false) }, {
    weight: 1,
    arbitrary: fc.constant(true),
  }),
  body: fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant("context" as const),
        message: fc.oneof(
          fc.constantFrom("Create", "create", "Update", "Delete", "Assign", "  "),
          hostileText.map((t) => `${t}Q`),
        ),
        note: fc.oneof(fc.constant(null), hostileText, invalidUtf8),
        requestId: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("object" as const),
        value: fc.dictionary(hostileText, hostileText, { maxKeys: 4 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant("bytes" as const), bytes: hostileBytes }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("big" as const),
        bytes: fc.integer({ min: MAX_BODY_BYTES + 1, max: 3 * MAX_BODY_BYTES }),
      }),
    },
  ),
});

// ------------------------------------------------------------------------- on the wire

function keyText(v: KeyValue, junk: string): string {
  return {
    good: KEY,
    previous: PREVIOUS_KEY,
    wrong: "wrong-key",
    junk: `${KEY}${junk}z`,
    blank: "  ",
  }[v];
}

function claimText(c: Claim): string {
  return "junk" in c ? c.junk : c.upper ? c.known.toUpperCase() : c.known;
}

/** A Dataverse context; a note's bytes go into a string value as they are (invalid UTF-8). */
function contextBytes(b: Extract<Case["body"], { kind: "context" }>): Uint8Array {
  const RAW = "\u0001RAW\u0001";
  const ctx: Record<string, unknown> = {
    CorrelationId: "b374239d-4233-41a9-8b17-a3d1d8e2f1a1",
    Depth: 1,
    InputParameters: [{
      key: "Target",
      value: { Attributes: [{ key: "name", value: "Contoso" }] },
    }],
    MessageName: b.message,
    OrganizationId: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    OwningExtension: { Id: "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901" },
    PrimaryEntityId: "fd8f8d3a-9a1c-4c4e-8c61-1ad3b8a7d0c9",
    PrimaryEntityName: "account",
    // Fresh at every send: a shrinking replay must not become a duplicate.
    RequestId: b.requestId ? crypto.randomUUID() : null,
    Stage: 40,
    Note: b.note === null ? null : typeof b.note === "string" ? b.note : RAW,
  };
  const text = JSON.stringify(ctx);
  if (!(b.note instanceof Uint8Array)) return utf8(text);
  const [before, after] = text.split(JSON.stringify(RAW).slice(1, -1));
  return concat(utf8(before), b.note, utf8(after));
}

export function bodyBytes(c: Case): Uint8Array {
  switch (c.body.kind) {
    case "context":
      return contextBytes(c.body);
    case "object":
      return utf8(JSON.stringify(c.body.value));
    case "bytes":
      return c.body.bytes;
    case "big":
      return utf8("{" + " ".repeat(c.body.bytes - 2) + "}");
  }
}

export function wire(c: Case, body: Uint8Array): WireRequest {
  const claimed = percentEncode(utf8(claimText(c.org.claim)));
  let target = utf8("/dynamics-webhook");
  const query: Uint8Array[] = [];
  if (c.org.where === "path") target = concat(target, utf8("/"), claimed);
  if (c.org.where === "query") query.push(concat(utf8("org="), claimed));
  const headers: [string, Uint8Array][] = [["Content-Type", utf8("application/json")]];
  if (c.key.where === "query") {
    for (const v of c.key.values) {
      query.push(concat(utf8("code="), percentEncode(utf8(keyText(v, c.key.junk)))));
    }
  }
  if (c.key.where === "header") {
    for (const v of c.key.values) {
      const value = v === "junk" ? concat(utf8(KEY), c.key.junk, utf8("z")) : utf8(keyText(v, ""));
      headers.push(["x-webhook-key", value]);
    }
  }
  if (c.org.where === "header") {
    // The header's value must be one a server takes: a junk claim's non-ASCII goes as Latin-1.
    const text = claimText(c.org.claim);
    const bytes = Uint8Array.from([...text].map((ch) => ch.charCodeAt(0) & 0xff))
      .map((b) => (b < 0x20 || b === 0x7f || b === 0x2e ? 0x25 : b));
    headers.push(["x-ms-dynamics-organization", concat(bytes, utf8(".crm.dynamics.com"))]);
  }
  for (const h of c.headers) headers.push([h.name, h.value]);
  if (c.sizeExceeded) headers.push(["x-ms-dynamics-msg-size-exceeded", utf8("true")]);
  if (query.length > 0) {
    target = concat(
      target,
      utf8("?"),
      ...query.flatMap((q, i) => i ? [utf8("&"), q] : [q]),
    );
  }
  if (c.poison?.where === "path") target = concat(target, Uint8Array.of(c.poison.byte));
  if (c.poison?.where === "header") {
    headers.push(["x-poison", Uint8Array.of(0x61, c.poison.byte, 0x62)]);
  }
  return { method: c.method, target, headers, body };
}

// ------------------------------------------------------------------------- the model

export interface Expected {
  /** Whether the request reaches the function at all (an HTTP parser refuses forbidden bytes). */
  reaches: boolean;
  status: number;
  /** The row's rejection reason, "accepted", or null when no row is written. */
  reason: string | null;
  orgId: string;
  /** Whether the row keeps the body (as jsonb or as its bytes). */
  keepsBody: boolean;
}

const HANDLED = new Set(["create", "update", "delete"]);

export function expected(c: Case, body: Uint8Array): Expected {
  const org = orgOf(c);
  const row = (reason: string, status: number, keepsBody = false): Expected => ({
    reaches: true,
    status,
    reason,
    orgId: org.id,
    keepsBody: keepsBody && body.length > 0,
  });
  if (c.poison !== null) {
    return { reaches: false, status: 400, reason: null, orgId: "", keepsBody: false };
  }
  if (c.method !== "POST") {
    return { reaches: true, status: 405, reason: null, orgId: "", keepsBody: false };
  }
  const auth = authOf(c);
  if (auth !== "ok") return row(auth, 401);
  if (!org.active) return row("unknown_organization", 404);
  if (body.length > MAX_BODY_BYTES) return row("payload_too_large", 413);
  if (c.sizeExceeded) return row("payload_too_large", 413, true);
  if (c.body.kind !== "context" || c.body.message.trim() === "") {
    return row("invalid_payload", 400, true);
  }
  if (!HANDLED.has(c.body.message.toLowerCase())) return row("unsupported_event", 422, true);
  return row("accepted", 202, true);
}

function authOf(c: Case): "ok" | "missing_auth" | "invalid_auth" {
  const k = c.key;
  if (k.where === "none") return "missing_auth";
  if (k.where === "header" && k.values.length > 1) return "invalid_auth";
  if (k.where === "query" && k.values.length > 1) return "invalid_auth";
  const v = k.values[0];
  return v === "blank" ? "missing_auth" : v === "good" || v === "previous" ? "ok" : "invalid_auth";
}

function orgOf(c: Case): { id: string; active: boolean } {
  const claim = c.org.claim;
  if (c.org.where === "none") return { id: "_unknown", active: false };
  if ("junk" in claim) return { id: "_unknown", active: false };
  return { id: claim.known, active: ORGS[claim.known as keyof typeof ORGS] === true };
}

/** What a header's bytes become as a stored text: Latin-1, without surrounding spaces and tabs. */
export function headerText(value: Uint8Array): string {
  return String.fromCharCode(...value).replace(/^[ \t]+|[ \t]+$/g, "").slice(0, 200);
}

// The static key Dataverse sends: no signature exists, so the key is the only credential. It comes
// in a header (auth type HttpHeader), or in the query string: `code` for auth type WebhookKey, or a
// configured name for HttpQueryString.

import type { Config } from "./config.ts";

export type AuthResult = { ok: true } | { ok: false; reason: "missing_auth" | "invalid_auth" };

export function checkAuth(
  headers: Headers,
  url: URL,
  config: Pick<Config, "keys" | "keyHeader" | "keyQueryParam">,
): AuthResult {
  const inQuery = url.searchParams.getAll(config.keyQueryParam);
  // Two keys in the query are ambiguous, never "the first one" (two headers arrive joined by a
  // comma, and match no key either).
  if (!headers.has(config.keyHeader) && inQuery.length > 1) {
    return { ok: false, reason: "invalid_auth" };
  }
  const presented = headers.get(config.keyHeader) ?? inQuery[0] ?? null;
  if (presented === null || presented.trim() === "") return { ok: false, reason: "missing_auth" };
  // Every configured key is compared (no early exit), so timing tells nothing about which matched.
  let match = false;
  for (const key of config.keys) match = constantTimeEqual(presented.trim(), key) || match;
  return match ? { ok: true } : { ok: false, reason: "invalid_auth" };
}

const encoder = new TextEncoder();

/** Compares two strings in time that depends only on the longer one's length. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.max(x.length, y.length);
  let diff = x.length ^ y.length;
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

// The rejection vocabulary of docs/log-store.md and the one status each reason is answered with.
// The exporter labels metrics by (reason, code), so every writer must use exactly these pairs.

export const REJECTION_STATUS = {
  missing_auth: 401,
  invalid_auth: 401,
  invalid_payload: 400,
  payload_too_large: 413,
  unknown_organization: 404,
  unsupported_event: 422,
  duplicate: 409,
  rate_limited: 429,
  internal_error: 500,
} as const;

export type RejectionReason = keyof typeof REJECTION_STATUS;

// 202: the payload is queued, not yet synced. Dataverse counts any 2xx as delivered.
export const ACCEPTED_STATUS = 202;

// Accepted, but handing it to the sync queue failed (the transaction rolled back): the row is
// written again on its own as `failed`, as docs/log-store.md defines the outcome.
export const FAILED_STATUS = 500;

// No row could be written (the log store refused or is down): nothing is counted, so the sender
// must deliver again, and Dataverse retries only after 502, 503 or 504.
export const NOT_RECORDED_STATUS = 503;

// What the exporter counts under org="_unknown" anyway; org slugs cannot start with "_", so this
// never names a real organization. Used when a request claims no org, or a claim that cannot be
// an org id (a NUL, a percent sign, a dot...).
export const NO_ORG = "_unknown";

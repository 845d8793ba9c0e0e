// What a failed attempt leads to: another attempt later (`retrying`, with backoff) or none
// (`gave_up`, the item ends `failed` and waits for an admin's reprocessing).

import type { ErrorClass } from "./portal.ts";

/**
 * Classes given up at the first attempt: the portal has judged the item itself, and the same
 * request will be judged the same way. Everything else is retried up to the attempt limit,
 * `portal_auth` included: a rotated or expired portal credential is not the item's fault, and
 * an operator who fixes it within the backoff loses nothing (the items given up meanwhile count
 * on webhook_sync_window_items_given_up and can be reprocessed).
 */
export const GIVE_UP_AT_ONCE: ReadonlySet<ErrorClass> = new Set([
  "invalid_data",
  "portal_rejected",
]);

export interface RetryPolicy {
  maxAttempts: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
}

export interface Decision {
  outcome: "retrying" | "gave_up";
  /** When the item is handed out again (sync_finish's retry_in); 0 for a give-up. */
  retryInSeconds: number;
}

/**
 * Exponential backoff, base * 2^(attempt-1) capped at the maximum, jittered down to half so that
 * items failed together by an outage do not come back together; a Retry-After the portal sent
 * is a floor (still capped).
 */
export function decide(
  errorClass: ErrorClass,
  attempt: number,
  policy: RetryPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
): Decision {
  if (GIVE_UP_AT_ONCE.has(errorClass) || attempt >= policy.maxAttempts) {
    return { outcome: "gave_up", retryInSeconds: 0 };
  }
  const backoff = Math.min(
    policy.retryMaxSeconds,
    policy.retryBaseSeconds * 2 ** Math.max(attempt - 1, 0),
  );
  const jittered = backoff * (0.5 + random() * 0.5);
  const floor = (retryAfterMs ?? 0) / 1000;
  return {
    outcome: "retrying",
    retryInSeconds: Math.min(Math.max(jittered, floor), policy.retryMaxSeconds),
  };
}

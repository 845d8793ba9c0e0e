// The seam a team fills in: what "apply one queue item to the portal" means for them.
//
// The worker (worker.ts) owns everything around it: claiming, the deadline, retries, logging the
// attempt through sync_finish. An implementation only answers one question per item, in the log
// store's vocabulary: did the portal take it, and if not, why. The default (http_portal.ts) posts
// the item to a Dataverse-like HTTP endpoint; replace `makePortal` below to call your own.

import type { Config } from "./config.ts";
import { httpPortal } from "./http_portal.ts";

/** One claimed item, as sync_claim returns it (the webhook_events row's fields joined in). */
export interface QueueItem {
  /** sync_queue.id (bigint, kept as text: JavaScript numbers stop being exact at 2^53). */
  itemId: string;
  eventId: string;
  orgId: string;
  /** 1-based; the same number sync_finish must be given. */
  attempt: number;
  /** True for an item an admin re-enqueued (POST /api/v1/reprocess). */
  reprocess: boolean;
  receivedAt: Date | null;
  entityName: string | null;
  messageName: string | null;
  /** The Dataverse RemoteExecutionContext; null when the event row kept none (or is gone). */
  payload: unknown;
}

/** The error classes of sync_attempts.error_class that a portal call can end with. */
export type ErrorClass =
  | "portal_unavailable"
  | "portal_auth"
  | "portal_rejected"
  | "conflict"
  | "invalid_data"
  | "timeout"
  | "internal"
  | "other";

export type PortalResult =
  | { ok: true; httpStatus?: number }
  | {
    ok: false;
    errorClass: ErrorClass;
    /** The portal's HTTP status, when it answered (sync_attempts.http_status). */
    httpStatus?: number;
    /** For people: what the portal said (sync_attempts.error_detail, cut at 2,000 characters). */
    detail: string;
    /** The portal asked to be left alone this long (a 429's or 503's Retry-After), in ms. */
    retryAfterMs?: number;
  };

/**
 * Applies one item to the portal. Must be idempotent per `item.eventId`: delivery is at least
 * once (a worker killed after the portal took an item but before sync_finish recorded it leaves
 * an `abandoned` attempt, and the item is applied again). `signal` aborts at the worker's
 * deadline (SYNC_PORTAL_TIMEOUT_MS); the worker stops waiting then either way and logs `timeout`.
 * A throw is logged as class `internal` (a bug on our side, not the portal's answer).
 */
export type ApplyToPortal = (item: QueueItem, signal: AbortSignal) => Promise<PortalResult>;

/** The one place to change: return your own ApplyToPortal here. */
export function makePortal(config: Config): ApplyToPortal {
  return httpPortal({ url: config.portalUrl, token: config.portalToken });
}

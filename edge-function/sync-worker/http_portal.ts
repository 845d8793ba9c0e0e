// The default portal call: one POST per item to a Dataverse-like HTTP endpoint, its answer mapped
// to the error classes of sync_attempts. A reference, not a Dataverse client: a team with a real
// portal API replaces `makePortal` in portal.ts and keeps the mapping below if it fits.

import { ConfigError } from "./config.ts";
import type { ApplyToPortal, ErrorClass, PortalResult, QueueItem } from "./portal.ts";

export interface HttpPortalOptions {
  /** Endpoint; `{org}`, `{entity}` and `{message}` are replaced by the item's (URL-encoded). */
  url: string | null;
  /** Bearer token, when the portal wants one. */
  token: string | null;
  fetch?: typeof fetch;
}

/**
 * The portal's HTTP status -> the error class (2xx never gets here).
 *
 * 400/422 are `invalid_data`: the portal says the data we sent is wrong, so sending it again
 * cannot help; fix the data or the mapping, then reprocess. Any other 4xx (404, 405, 410, 413...)
 * is `portal_rejected`: the portal refuses the operation itself. 429 (Dataverse's service
 * protection limits) is `portal_unavailable`, as a 5xx is: the portal asks us to come back later.
 */
export function classifyStatus(status: number): ErrorClass {
  if (status === 401 || status === 403) return "portal_auth";
  if (status === 409 || status === 412) return "conflict";
  if (status === 400 || status === 422) return "invalid_data";
  if (status === 408) return "timeout";
  if (status === 429 || status >= 500) return "portal_unavailable";
  if (status >= 400) return "portal_rejected";
  return "other";
}

/** Retry-After (seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return secs >= 0 ? secs * 1000 : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(at - now, 0);
}

export function httpPortal(options: HttpPortalOptions): ApplyToPortal {
  const template = options.url;
  if (!template) {
    throw new ConfigError(
      "SYNC_PORTAL_URL is not set (the default portal call needs it; or replace makePortal in portal.ts)",
    );
  }
  if (!URL.canParse(expand(template, "org", "entity", "message"))) {
    throw new ConfigError(`SYNC_PORTAL_URL is not a URL: ${template}`);
  }
  const fetchImpl = options.fetch ?? fetch;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json",
  };
  if (options.token) headers.authorization = `Bearer ${options.token}`;

  return async (item: QueueItem, signal: AbortSignal): Promise<PortalResult> => {
    if (item.payload === null || item.payload === undefined) {
      return {
        ok: false,
        errorClass: "invalid_data",
        detail:
          `no payload stored for event ${item.eventId} (webhook_events.payload is null, or the row is gone)`,
      };
    }
    const url = expand(
      template,
      item.orgId,
      item.entityName ?? "unknown",
      item.messageName ?? "unknown",
    );
    let res: Response;
    try {
      res = await fetchImpl(url, {
        method: "POST",
        // The portal deduplicates by this: a retried or re-run item carries the same key.
        headers: {
          ...headers,
          "idempotency-key": item.eventId,
          "x-sync-attempt": `${item.attempt}`,
        },
        body: JSON.stringify(envelope(item)),
        signal,
      });
    } catch (e) {
      if (signal.aborted) {
        return { ok: false, errorClass: "timeout", detail: "portal did not answer in time" };
      }
      return {
        ok: false,
        errorClass: "portal_unavailable",
        detail: `portal unreachable: ${message(e)}`,
      };
    }
    if (res.ok) {
      await res.body?.cancel();
      return { ok: true, httpStatus: res.status };
    }
    return {
      ok: false,
      errorClass: classifyStatus(res.status),
      httpStatus: res.status,
      detail: `portal answered ${res.status}: ${await errorText(res)}`,
      retryAfterMs: retryAfterMs(res.headers.get("retry-after")),
    };
  };
}

/** What the portal receives: the Dataverse context as the Edge Function kept it, and its labels. */
function envelope(item: QueueItem) {
  return {
    eventId: item.eventId,
    orgId: item.orgId,
    entityName: item.entityName,
    messageName: item.messageName,
    receivedAt: item.receivedAt?.toISOString() ?? null,
    reprocess: item.reprocess,
    attempt: item.attempt,
    context: item.payload,
  };
}

function expand(template: string, org: string, entity: string, message: string): string {
  return template
    .replaceAll("{org}", encodeURIComponent(org))
    .replaceAll("{entity}", encodeURIComponent(entity))
    .replaceAll("{message}", encodeURIComponent(message));
}

/** Dataverse's `{"error": {"message": ...}}` when the body is one, else the body's start. */
async function errorText(res: Response): Promise<string> {
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    return `(body unreadable: ${message(e)})`;
  }
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed?.error?.message === "string") return parsed.error.message.slice(0, 500);
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 500) || "(empty body)";
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

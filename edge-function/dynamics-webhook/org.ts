// Which organization a request is for. Each org's portal targets its own endpoint URL
// (organizations.endpoint_url), so the URL names the org: /dynamics-webhook/<org_id> or ?org=<org_id>.
// Without one, the x-ms-dynamics-organization header Dataverse sends is used.

const SLUG = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Whether a claim can name an organization (organizations.org_id's own CHECK). */
export function isOrgId(claim: string): boolean {
  return SLUG.test(claim);
}

/** The org a request claims (lowercased, trimmed, at most 100 characters); null when none. */
export function claimedOrg(url: URL, headers: Headers, functionName: string): string | null {
  const segments = url.pathname.split("/").filter((s) => s !== "");
  const at = segments.indexOf(functionName);
  // Hosted, the path starts with the function's name; a self-hosted router may strip it.
  const fromPath = at >= 0 ? segments[at + 1] : segments[0];
  const claim = fromPath ?? url.searchParams.get("org") ?? fromHeader(headers);
  if (claim === null || claim === undefined) return null;
  const clean = safeDecode(claim).trim().toLowerCase().slice(0, 100);
  return clean === "" ? null : clean;
}

// The header may carry a host name (contoso.crm.dynamics.com): its first label is the org's name.
function fromHeader(headers: Headers): string | null {
  const v = headers.get("x-ms-dynamics-organization");
  return v === null ? null : v.split(".")[0];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export type OrgState = "active" | "inactive" | "unknown";

/** Looks an org up in the organizations table; null when it is not there. */
export type OrgLookup = (orgId: string) => Promise<{ active: boolean } | null>;

/**
 * Org lookups with a short per-isolate cache: a burst of payloads costs one query, and an org
 * added or switched off in the portal takes effect within `ttlMs`. Claims that cannot be an org id
 * are answered without a query, so junk URLs cannot load the database.
 */
export class OrgResolver {
  #cache = new Map<string, { state: OrgState; until: number }>();

  constructor(
    private lookup: OrgLookup,
    private ttlMs = 30_000,
    private maxEntries = 1000,
    private now: () => number = Date.now,
  ) {}

  async resolve(orgId: string | null): Promise<OrgState> {
    if (orgId === null || !isOrgId(orgId)) return "unknown";
    const hit = this.#cache.get(orgId);
    if (hit && hit.until > this.now()) return hit.state;
    const row = await this.lookup(orgId);
    const state: OrgState = row === null ? "unknown" : row.active ? "active" : "inactive";
    if (this.#cache.size >= this.maxEntries) this.#cache.clear();
    this.#cache.set(orgId, { state, until: this.now() + this.ttlMs });
    return state;
  }
}

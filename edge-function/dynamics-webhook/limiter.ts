// A token bucket per organization. It lives in one isolate: the platform runs several isolates
// under load and retires idle ones, so this caps a burst reaching one isolate, not an org's total
// rate. Enough to keep one runaway portal from filling the log store; a global limit would need a
// shared counter (the database, or a gateway in front).

export class RateLimiter {
  #buckets = new Map<string, { tokens: number; at: number }>();

  /** `perMinute` 0 admits everything. */
  constructor(private perMinute: number, private now: () => number = Date.now) {}

  admit(orgId: string): boolean {
    if (this.perMinute <= 0) return true;
    const t = this.now();
    const b = this.#buckets.get(orgId) ?? { tokens: this.perMinute, at: t };
    b.tokens = Math.min(this.perMinute, b.tokens + ((t - b.at) * this.perMinute) / 60_000);
    b.at = t;
    if (this.#buckets.size > 10_000) this.#buckets.clear(); // bounded whatever the traffic
    this.#buckets.set(orgId, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

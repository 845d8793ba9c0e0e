// The loop: claim a batch, apply each item to the portal, log each attempt through sync_finish.
// Items are worked one at a time per worker; run more workers for more throughput (claims use
// SKIP LOCKED, so workers side by side never get the same item).
//
// Shutdown (stop(), wired to SIGTERM/SIGINT by index.ts): the item whose portal call is under way
// is finished and logged; the rest of its batch is handed back untouched; nothing new is claimed.

import type { Config } from "./config.ts";
import { decide } from "./policy.ts";
import type { ApplyToPortal, PortalResult, QueueItem } from "./portal.ts";
import type { Finish, Queue } from "./queue.ts";

export type Log = (level: "info" | "warn" | "error", message: string) => void;

export type WorkerSettings = Pick<
  Config,
  | "workerName"
  | "batchSize"
  | "leaseSeconds"
  | "maxAttempts"
  | "pollSeconds"
  | "retryBaseSeconds"
  | "retryMaxSeconds"
  | "portalTimeoutSeconds"
>;

export interface WorkerStats {
  claimed: number;
  succeeded: number;
  retrying: number;
  gaveUp: number;
  /** Finished after the lease ran out: sync_claim had logged the attempt as abandoned. */
  leaseLost: number;
  /** Handed back unstarted (shutdown, or too little lease left for a whole portal call). */
  released: number;
  databaseErrors: number;
}

/** Tries of one sync_finish while the database is unreachable, 0.5 s doubling between them. */
const FINISH_TRIES = 5;
/** The longest pause after failed claims in a row (the database is away). */
const MAX_CLAIM_BACKOFF_MS = 30_000;

export class SyncWorker {
  readonly stats: WorkerStats = {
    claimed: 0,
    succeeded: 0,
    retrying: 0,
    gaveUp: 0,
    leaseLost: 0,
    released: 0,
    databaseErrors: 0,
  };
  #stopping = false;
  #wake: () => void = () => {};

  constructor(
    private queue: Queue,
    private portal: ApplyToPortal,
    private settings: WorkerSettings,
    private log: Log = defaultLog(settings.workerName),
    private random: () => number = Math.random,
  ) {}

  /** Asks the loop to end after the item in flight; run() then resolves. */
  stop(): void {
    this.#stopping = true;
    this.#wake();
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  async run(): Promise<WorkerStats> {
    const s = this.settings;
    let failedClaims = 0;
    while (!this.#stopping) {
      // The local clock before the claim: the lease the database grants ends no earlier than this.
      const leaseEnds = Date.now() + s.leaseSeconds * 1000;
      let items: QueueItem[];
      try {
        items = await this.queue.claim(s.batchSize, s.leaseSeconds, s.maxAttempts);
        failedClaims = 0;
      } catch (e) {
        this.stats.databaseErrors++;
        failedClaims++;
        this.log("error", `claim failed (try ${failedClaims}): ${message(e)}`);
        await this.#pause(Math.min(500 * 2 ** failedClaims, MAX_CLAIM_BACKOFF_MS));
        continue;
      }
      this.stats.claimed += items.length;
      if (items.length === 0) {
        await this.#pause(s.pollSeconds * 1000);
        continue;
      }
      for (const item of items) {
        if (this.#stopping || !this.#timeLeft(leaseEnds)) {
          await this.#release(item);
        } else {
          await this.#process(item, leaseEnds);
        }
      }
    }
    return this.stats;
  }

  /**
   * Whether a whole portal call and its sync_finish fit in what is left of the lease. An item
   * started later could be finished by this worker after another one got it: applied twice.
   */
  #timeLeft(leaseEnds: number): boolean {
    const s = this.settings;
    const finishReserve = Math.min(5, (s.leaseSeconds - s.portalTimeoutSeconds) / 2);
    return Date.now() + (s.portalTimeoutSeconds + finishReserve) * 1000 <= leaseEnds;
  }

  async #process(item: QueueItem, leaseEnds: number): Promise<void> {
    const result = await this.#callPortal(item);
    let finish: Finish;
    if (result.ok) {
      finish = { outcome: "succeeded", httpStatus: result.httpStatus };
    } else {
      const d = decide(
        result.errorClass,
        item.attempt,
        this.settings,
        result.retryAfterMs,
        this.random,
      );
      finish = {
        outcome: d.outcome,
        errorClass: result.errorClass,
        httpStatus: result.httpStatus,
        detail: result.detail,
        retryInSeconds: d.retryInSeconds,
      };
      this.log(
        d.outcome === "gave_up" ? "warn" : "info",
        `item ${item.itemId} (event ${item.eventId}, org ${item.orgId}) attempt ${item.attempt}: ` +
          `${result.errorClass}${result.httpStatus ? ` ${result.httpStatus}` : ""}, ${
            d.outcome === "gave_up" ? "given up" : `retrying in ${d.retryInSeconds.toFixed(1)}s`
          }: ${result.detail}`,
      );
    }
    const held = await this.#finish(item, finish);
    if (held === null) return;
    if (!held) {
      this.stats.leaseLost++;
      this.log(
        "warn",
        `item ${item.itemId} attempt ${item.attempt}: lease lost ${
          Math.round((Date.now() - leaseEnds) / 1000)
        }s after it ended; the attempt is logged as abandoned and the item is handed out again`,
      );
      return;
    }
    if (finish.outcome === "succeeded") this.stats.succeeded++;
    else if (finish.outcome === "retrying") this.stats.retrying++;
    else this.stats.gaveUp++;
  }

  /** The portal call with the worker's deadline; a throw is ours, not the portal's: `internal`. */
  async #callPortal(item: QueueItem): Promise<PortalResult> {
    const ms = this.settings.portalTimeoutSeconds * 1000;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<PortalResult>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new DOMException(`portal call over ${ms} ms`, "TimeoutError"));
        resolve({ ok: false, errorClass: "timeout", detail: `no answer within ${ms} ms` });
      }, ms);
    });
    try {
      return await Promise.race([this.portal(item, controller.signal), deadline]);
    } catch (e) {
      return { ok: false, errorClass: "internal", detail: `sync worker error: ${message(e)}` };
    } finally {
      clearTimeout(timer);
    }
  }

  /** sync_finish, tried again while the database is away; null when it never answered. */
  async #finish(item: QueueItem, finish: Finish): Promise<boolean | null> {
    for (let tryNo = 1;; tryNo++) {
      try {
        return await this.queue.finish(item, finish);
      } catch (e) {
        this.stats.databaseErrors++;
        if (tryNo >= FINISH_TRIES) {
          this.log(
            "error",
            `item ${item.itemId} attempt ${item.attempt}: ${finish.outcome} not recorded (${
              message(e)
            }); once the lease runs out the attempt is logged as abandoned and the item runs again`,
          );
          return null;
        }
        await sleep(500 * 2 ** (tryNo - 1));
      }
    }
  }

  async #release(item: QueueItem): Promise<void> {
    try {
      if (await this.queue.release(item)) this.stats.released++;
    } catch (e) {
      this.stats.databaseErrors++;
      this.log(
        "error",
        `item ${item.itemId} not handed back (${message(e)}); its lease will run out`,
      );
    }
  }

  /** Waits `ms`, or less when stop() is called. */
  #pause(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function defaultLog(worker: string): Log {
  return (level, msg) => {
    const line = `sync-worker ${worker}: ${msg}`;
    if (level === "info") console.log(line);
    else console.error(`${level}: ${line}`);
  };
}

// The function's own lifecycle rows, where the runtime lets a function see them.
//
// A function cannot record its own crash reliably: a BootFailure or a hard kill never reaches this
// code. What the edge runtime does give it: a `beforeunload` event with `detail.reason` (cpu,
// memory, wall_clock, early_drop, termination), dispatched at 90 % of a limit by default, i.e.
// *before* the isolate is stopped; and `unhandledrejection` / `error`, cancelable. Everything
// here is best-effort and swallows its own failures: it must never take a request down with it.
// Where the self-hosted runtime's event worker forwards lifecycle events (edge-function/event-worker),
// turn this off (WEBHOOK_RECORD_LIFECYCLE=false) so exits are not counted twice.

/** beforeunload's detail.reason (edge-runtime's WillTerminateReason) -> the Shutdown reason. */
export const SHUTDOWN_REASONS: Record<string, string> = {
  cpu: "CPUTime",
  memory: "Memory",
  wall_clock: "WallClockTime",
  early_drop: "EarlyDrop",
  termination: "TerminationRequested",
};

/**
 * The Shutdown reason for a beforeunload event. Plain Deno dispatches beforeunload without a
 * detail when the event loop has no work left; an unknown reason is kept as given (the exporter
 * counts it as `other`, an error exit: better a false alarm than a missed crash).
 */
export function shutdownReason(event: Event): string {
  const reason = (event as CustomEvent<{ reason?: unknown } | null>).detail?.reason;
  if (typeof reason !== "string" || reason === "") return "EventLoopCompleted";
  return SHUTDOWN_REASONS[reason] ?? reason.slice(0, 100);
}

export type LifecycleWrite = (
  eventType: "Shutdown" | "UncaughtException",
  shutdownReason: string | null,
  detail: string,
) => Promise<void>;

/** Keeps the isolate alive until the promise settles (EdgeRuntime.waitUntil, where it exists). */
export type KeepAlive = (p: Promise<unknown>) => void;

/** More uncaught errors than this in one isolate are a loop; the log store gets the first ones. */
const MAX_UNCAUGHT_ROWS = 20;

export function installLifecycleHooks(
  target: EventTarget,
  write: LifecycleWrite,
  keepAlive: KeepAlive = () => {},
): void {
  let shutdownRecorded = false;
  let uncaughtRows = 0;

  const bestEffort = (make: () => Promise<void>) => {
    let p: Promise<void>;
    try {
      p = make().catch((e) => console.error("dynamics-webhook: lifecycle row not written", e));
    } catch (e) {
      console.error("dynamics-webhook: lifecycle row not written", e);
      return;
    }
    try {
      keepAlive(p);
    } catch { /* the runtime refused to wait: the row may be lost, the isolate is not */ }
  };

  target.addEventListener("beforeunload", (event) => {
    // One isolate stops once; a second event (another limit reached meanwhile) is the same exit.
    if (shutdownRecorded) return;
    shutdownRecorded = true;
    const reason = shutdownReason(event);
    const raw = (event as CustomEvent<{ reason?: unknown } | null>).detail?.reason ?? "none";
    bestEffort(() =>
      write(
        "Shutdown",
        reason,
        `beforeunload (reason ${raw}): the runtime is stopping this isolate`,
      )
    );
  });

  const uncaught = (what: string, error: unknown, event: Event) => {
    // Handled here, so the runtime does not kill the isolate and every request it is serving with
    // it; the row still counts as an error exit on the exporter, which is what it is: a bug.
    event.preventDefault();
    console.error(`dynamics-webhook: ${what}`, error);
    if (uncaughtRows >= MAX_UNCAUGHT_ROWS) return;
    uncaughtRows += 1;
    bestEffort(() => write("UncaughtException", null, `${what}: ${describe(error)}`));
  };
  target.addEventListener("unhandledrejection", (event) => {
    uncaught("unhandled rejection", (event as PromiseRejectionEvent).reason, event);
  });
  target.addEventListener("error", (event) => {
    uncaught("uncaught exception", (event as ErrorEvent).error, event);
  });
}

function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 1000);
}

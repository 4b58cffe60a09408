/**
 * One timer for many checks of the same period: the streams' stall watchdogs. A recorder with
 * N cameras then wakes once per period for all of them, not N times at N different instants
 * (each wake-up is an epoll return and a turn of the event loop, at every period, forever).
 * A check that throws does not stop the others sharing its timer (its error goes to stderr).
 */
type Group = { timer: ReturnType<typeof setInterval>; checks: Set<() => void> };
const groups = new Map<number, Group>();

/** Runs `check` every `periodMs` (on the timer shared by every check of that period); returns the stopper. */
export function everyPeriod(periodMs: number, check: () => void): () => void {
  let g = groups.get(periodMs);
  if (!g) {
    const checks = new Set<() => void>();
    const timer = setInterval(() => {
      for (const c of checks) {
        try {
          c();
        } catch (e) {
          console.error("periodic check failed:", e);
        }
      }
    }, periodMs);
    g = { timer, checks };
    groups.set(periodMs, g);
  }
  const group = g;
  group.checks.add(check);
  return () => {
    if (!group.checks.delete(check) || group.checks.size) return;
    clearInterval(group.timer);
    if (groups.get(periodMs) === group) groups.delete(periodMs);
  };
}

/** Timers running now (tests: one per distinct period, none once every check stopped). */
export function sharedTimers(): number {
  return groups.size;
}

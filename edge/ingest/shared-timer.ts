/**
 * One timer for many checks of the same period: the streams' stall watchdogs. A recorder with
 * N cameras then wakes once per period for all of them, not N times at N different instants
 * (each wake-up is an epoll return and a turn of the event loop, at every period, forever).
 * The period's timer is one of the process's shared wake-ups (lib/timers/wakeups.ts) and may run
 * up to a fifth of a period early: while a camera streams, the checks ride on the batched
 * camera reads' turn instead of waking the loop on their own.
 * A check that throws does not stop the others sharing its timer (its error goes to stderr).
 */
import { wakeups, type Wakeup } from "../../lib/timers/wakeups.ts";

/** How early (share of the period) a period's checks may run, on another wake-up. */
const PERIOD_SLACK = 0.2;

type Group = { wake: Wakeup | undefined; checks: Set<() => void> };
const groups = new Map<number, Group>();

/** Runs `check` every `periodMs` (on the timer shared by every check of that period); returns the stopper. */
export function everyPeriod(periodMs: number, check: () => void): () => void {
  let g = groups.get(periodMs);
  if (!g) {
    g = { wake: undefined, checks: new Set() };
    groups.set(periodMs, g);
    next(periodMs, g);
  }
  const group = g;
  group.checks.add(check);
  return () => {
    if (!group.checks.delete(check) || group.checks.size) return;
    group.wake?.cancel();
    if (groups.get(periodMs) === group) groups.delete(periodMs);
  };
}

function next(periodMs: number, g: Group): void {
  g.wake = wakeups.after(
    () => {
      for (const c of g.checks) {
        try {
          c();
        } catch (e) {
          console.error("periodic check failed:", e);
        }
      }
      if (groups.get(periodMs) === g) next(periodMs, g);
    },
    periodMs,
    periodMs * PERIOD_SLACK,
  );
}

/** Timers running now (tests: one per distinct period, none once every check stopped). */
export function sharedTimers(): number {
  return groups.size;
}

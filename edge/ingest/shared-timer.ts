/**
 * One timer for many checks of the same period: the streams' stall watchdogs and the camera-state
 * poll. A recorder with N cameras then wakes once per period for all of them, not N times at N
 * different instants (each wake-up is an epoll return and a turn of the event loop, at every
 * period, forever). The period's timer is one of the process's shared wake-ups
 * (lib/timers/wakeups.ts) and may run up to PERIOD_SLACK of a period early, so that while a camera
 * streams the checks ride on the batched camera reads' turn instead of waking the loop on their own.
 * A check that throws does not stop the others sharing its timer (its error goes to stderr).
 */
import { wakeups as processWakeups, type Wakeup, type Wakeups } from "../../lib/timers/wakeups.ts";

/**
 * How early (share of the period) a period's checks may run, on another wake-up. More than the
 * read batch (250 ms) at the 1 s period, so a batch always falls inside the window: at 0.2 the
 * window was 200 ms and a check whose deadline fell just past a batch woke the loop on its own
 * every second (strace: a wake-up ~30 ms before every fourth batch).
 */
const PERIOD_SLACK = 0.3;

type Group = { wake: Wakeup | undefined; due: number; checks: Set<() => void> };

/** Checks grouped by period on one set of wake-ups (the process's, or a test's). */
export class PeriodicChecks {
  private readonly groups = new Map<number, Group>();

  constructor(private readonly wakeups: Wakeups = processWakeups) {}

  /** Runs `check` every `periodMs` (on the timer shared by every check of that period); returns the stopper. */
  every(periodMs: number, check: () => void): () => void {
    let g = this.groups.get(periodMs);
    if (!g) {
      g = { wake: undefined, due: this.wakeups.now(), checks: new Set() };
      this.groups.set(periodMs, g);
      this.next(periodMs, g);
    }
    const group = g;
    group.checks.add(check);
    return () => {
      if (!group.checks.delete(check) || group.checks.size) return;
      group.wake?.cancel();
      if (this.groups.get(periodMs) === group) this.groups.delete(periodMs);
    };
  }

  /** Timers running now (one per distinct period, none once every check stopped). */
  get timers(): number {
    return this.groups.size;
  }

  private next(periodMs: number, g: Group): void {
    const now = this.wakeups.now();
    // The deadlines stay on a grid (the last one + a period), not "a period after the run": a
    // check that rode a batch's turn early keeps its phase and rides the same batch next time,
    // instead of its deadline creeping to where it falls outside every batch. After a stall of
    // the event loop longer than a period the grid starts again from now (no burst of runs).
    g.due += periodMs;
    if (g.due <= now) g.due = now + periodMs;
    g.wake = this.wakeups.after(
      () => {
        for (const c of g.checks) {
          try {
            c();
          } catch (e) {
            console.error("periodic check failed:", e);
          }
        }
        if (this.groups.get(periodMs) === g) this.next(periodMs, g);
      },
      g.due - now,
      periodMs * PERIOD_SLACK,
    );
  }
}

const processChecks = new PeriodicChecks();

/** Runs `check` every `periodMs` on the process's shared wake-ups; returns the stopper. */
export function everyPeriod(periodMs: number, check: () => void): () => void {
  return processChecks.every(periodMs, check);
}

/** The process's period timers running now (tests: one per distinct period, none once every check stopped). */
export function sharedTimers(): number {
  return processChecks.timers;
}

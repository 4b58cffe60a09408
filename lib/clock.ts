/**
 * Time source for everything that schedules, timestamps or expires. Inject a Clock instead of
 * calling Date.now() so tests can control time (MediaMTX's `timeNow` pattern).
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (UTC): the host clock, which NTP or an operator may step. */
  now(): number;
  /**
   * Milliseconds on a clock that never steps (any origin). Wall time moving differently from it
   * is a host-clock step (lib/store records it as a gap). Absent = steps are not detected.
   */
  monotonic?(): number;
}

export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  private mono = 0;
  constructor(private t: number = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.mono;
  }
  /** Time passes up to `t` (monotonic time moves with it; going back is a step of the wall clock). */
  set(t: number): void {
    if (t > this.t) this.mono += t - this.t;
    this.t = t;
  }
  advance(ms: number): void {
    this.t += ms;
    this.mono += Math.max(0, ms);
  }
  /** The host clock is stepped (NTP, an operator, a bad RTC): wall time jumps, monotonic time does not. */
  step(ms: number): void {
    this.t += ms;
  }
}

/** ISO 8601 UTC with milliseconds, the one time format of the public interface. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

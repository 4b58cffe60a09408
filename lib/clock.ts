/**
 * Time source for everything that schedules, timestamps or expires. Inject a Clock instead of
 * calling Date.now() so tests can control time (MediaMTX's `timeNow` pattern).
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (UTC). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  constructor(private t: number = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** ISO 8601 UTC with milliseconds, the one time format of the public interface. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Login throttling: after `maxFailures` failed attempts for a key (user name, client address)
 * within `windowMs`, further attempts are refused for `lockMs` — without even checking the
 * password, so guessing costs the attacker time and costs us no argon2 work.
 */
import type { Clock } from "../clock.ts";

export interface ThrottleOptions {
  maxFailures?: number;
  windowMs?: number;
  lockMs?: number;
}

interface Entry {
  failures: number[];
  lockedUntilMs: number;
}

export class LoginThrottle {
  private map = new Map<string, Entry>();
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly lockMs: number;

  constructor(
    private readonly clock: Clock,
    opts: ThrottleOptions = {},
  ) {
    this.maxFailures = opts.maxFailures ?? 5;
    this.windowMs = opts.windowMs ?? 15 * 60_000;
    this.lockMs = opts.lockMs ?? 5 * 60_000;
  }

  /** 0 when any of the keys may try now, else ms until the longest lock ends. */
  retryAfterMs(keys: string[]): number {
    const now = this.clock.now();
    let wait = 0;
    for (const k of keys) {
      const e = this.map.get(k);
      if (e && e.lockedUntilMs > now) wait = Math.max(wait, e.lockedUntilMs - now);
    }
    return wait;
  }

  fail(keys: string[]): void {
    const now = this.clock.now();
    for (const k of keys) {
      const e = this.map.get(k) ?? { failures: [], lockedUntilMs: 0 };
      e.failures = e.failures.filter((t) => t > now - this.windowMs);
      e.failures.push(now);
      if (e.failures.length >= this.maxFailures) {
        e.lockedUntilMs = now + this.lockMs;
        e.failures = [];
      }
      this.map.set(k, e);
    }
    if (this.map.size > 10_000) this.prune(now);
  }

  succeed(keys: string[]): void {
    for (const k of keys) this.map.delete(k);
  }

  private prune(now: number): void {
    for (const [k, e] of this.map) if (e.lockedUntilMs <= now && e.failures.every((t) => t <= now - this.windowMs)) this.map.delete(k);
  }
}

/**
 * Login throttling, shared by central (web, API, RTSP Basic) and the edge's local login.
 *
 * Three budgets, all counted before the password is checked, so that parallel attempts cannot
 * all slip past a check that only sees finished failures (begin() reserves synchronously):
 *  - per (user, address): `maxFailures` failed or pending checks within `windowMs`; then that
 *    pair is refused for `lockMs`. This is the guessing limit; it never locks anyone else out.
 *  - per address (any user): `addressMaxFailures` within `windowMs` (spraying many user names).
 *  - per user (any address), slower: a bucket of `userBurst` failed checks refilled one per
 *    `userRefillMs`. When it is empty, only addresses with a clean record for that user (no
 *    failure or pending check in the window) are still checked. So many addresses together get
 *    about one guess each per window instead of `maxFailures` each, while the real user, from
 *    an address the attacker does not share, is never refused.
 * Refused attempts cost no argon2 work.
 */
import type { Clock } from "../clock.ts";

export interface ThrottleOptions {
  maxFailures?: number;
  windowMs?: number;
  lockMs?: number;
  /** Failures from one address across all user names; default 4 × maxFailures. */
  addressMaxFailures?: number;
  /** Per-user failures (all addresses) before only clean addresses are checked; default 20. */
  userBurst?: number;
  /** One per-user failure is forgiven per this many ms; default 60 s. */
  userRefillMs?: number;
}

interface Counter {
  failures: number[];
  pending: number;
  lockedUntilMs: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export type ThrottleDecision = { ok: true; attempt: LoginAttempt } | { ok: false; retryAfterMs: number };

/** One reserved check: call exactly one of succeed() / fail() once the password is checked. */
export interface LoginAttempt {
  succeed(): void;
  fail(): void;
}

export class LoginThrottle {
  private pairs = new Map<string, Counter>();
  private addresses = new Map<string, Counter>();
  private users = new Map<string, Bucket>();
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly lockMs: number;
  readonly addressMaxFailures: number;
  readonly userBurst: number;
  readonly userRefillMs: number;

  constructor(
    private readonly clock: Clock,
    opts: ThrottleOptions = {},
  ) {
    this.maxFailures = opts.maxFailures ?? 5;
    this.windowMs = opts.windowMs ?? 15 * 60_000;
    this.lockMs = opts.lockMs ?? 5 * 60_000;
    this.addressMaxFailures = opts.addressMaxFailures ?? 4 * this.maxFailures;
    this.userBurst = opts.userBurst ?? 20;
    this.userRefillMs = opts.userRefillMs ?? 60_000;
  }

  /**
   * Reserves a password check for `user` from `address`, or refuses with how long to wait.
   * Synchronous on purpose: the reservation is counted before the caller awaits argon2.
   */
  begin(user: string, address: string): ThrottleDecision {
    const now = this.clock.now();
    const pairKey = `${user}\u0000${address}`;
    const pair = this.counter(this.pairs, pairKey, now);
    const addr = this.counter(this.addresses, address, now);
    const wait = Math.max(this.refusal(pair, this.maxFailures, now), this.refusal(addr, this.addressMaxFailures, now));
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    const bucket = this.bucket(user, now);
    const clean = pair.failures.length === 0 && pair.pending === 0;
    let took = false;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      took = true;
    } else if (!clean) {
      return { ok: false, retryAfterMs: Math.max(1, Math.ceil((1 - bucket.tokens) * this.userRefillMs)) };
    }
    pair.pending++;
    addr.pending++;
    let done = false;
    const settle = (failed: boolean) => {
      if (done) return;
      done = true;
      const t = this.clock.now();
      pair.pending--;
      addr.pending--;
      if (!failed) {
        if (took) bucket.tokens = Math.min(this.userBurst, bucket.tokens + 1);
        // Reset rather than delete: a check still running on this pair keeps counting here.
        pair.failures = [];
        pair.lockedUntilMs = 0;
        return;
      }
      this.record(pair, this.maxFailures, t);
      this.record(addr, this.addressMaxFailures, t);
      if (this.pairs.size + this.addresses.size > 20_000) this.prune(t);
    };
    return { ok: true, attempt: { succeed: () => settle(false), fail: () => settle(true) } };
  }

  /** 0 when a check may start now; else ms to wait (tests, status pages). */
  retryAfterMs(user: string, address: string): number {
    const now = this.clock.now();
    const pair = this.pairs.get(`${user}\u0000${address}`);
    const addr = this.addresses.get(address);
    return Math.max(pair ? this.refusal(this.fresh(pair, now), this.maxFailures, now) : 0, addr ? this.refusal(this.fresh(addr, now), this.addressMaxFailures, now) : 0);
  }

  private refusal(c: Counter, max: number, now: number): number {
    if (c.lockedUntilMs > now) return c.lockedUntilMs - now;
    if (c.failures.length + c.pending >= max) {
      // Full only because checks are still running: those finish within a second or lock.
      return c.failures.length >= max ? this.lockMs : 1000;
    }
    return 0;
  }

  private record(c: Counter, max: number, now: number): void {
    c.failures.push(now);
    if (c.failures.length >= max) {
      c.lockedUntilMs = now + this.lockMs;
      c.failures = [];
    }
  }

  private counter(map: Map<string, Counter>, key: string, now: number): Counter {
    let c = map.get(key);
    if (!c) map.set(key, (c = { failures: [], pending: 0, lockedUntilMs: 0 }));
    return this.fresh(c, now);
  }

  private fresh(c: Counter, now: number): Counter {
    c.failures = c.failures.filter((t) => t > now - this.windowMs);
    return c;
  }

  private bucket(user: string, now: number): Bucket {
    let b = this.users.get(user);
    if (!b) this.users.set(user, (b = { tokens: this.userBurst, atMs: now }));
    b.tokens = Math.min(this.userBurst, b.tokens + (now - b.atMs) / this.userRefillMs);
    b.atMs = now;
    return b;
  }

  private prune(now: number): void {
    for (const map of [this.pairs, this.addresses]) {
      for (const [k, c] of map) if (c.pending === 0 && c.lockedUntilMs <= now && c.failures.every((t) => t <= now - this.windowMs)) map.delete(k);
    }
    for (const [k, b] of this.users) if (b.tokens + (now - b.atMs) / this.userRefillMs >= this.userBurst) this.users.delete(k);
  }
}

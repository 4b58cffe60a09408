/**
 * Login sessions: random bearer tokens held in memory with an absolute expiry and an idle
 * timeout (a restart logs everyone out, which is acceptable for a local admin and keeps
 * tokens off disk).
 */
import type { Clock } from "../clock.ts";

export interface Session {
  token: string;
  user: string;
  createdAtMs: number;
  expiresAtMs: number;
  lastSeenMs: number;
}

export class Sessions {
  private map = new Map<string, Session>();
  constructor(
    private readonly clock: Clock,
    readonly ttlMs = 12 * 3_600_000,
    /** A session not used for this long ends, before its absolute expiry. */
    readonly idleMs = 30 * 60_000,
  ) {}

  create(user: string): Session {
    this.sweep();
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const now = this.clock.now();
    const s = { token, user, createdAtMs: now, expiresAtMs: now + this.ttlMs, lastSeenMs: now };
    this.map.set(token, s);
    return s;
  }

  /** The live session for a token (and marks it used); an expired or idle one is removed and not returned. */
  get(token: string | undefined): Session | undefined {
    if (!token) return undefined;
    const s = this.map.get(token);
    if (!s) return undefined;
    const now = this.clock.now();
    if (this.ended(s, now)) {
      this.map.delete(token);
      return undefined;
    }
    s.lastSeenMs = now;
    return s;
  }

  private ended(s: Session, now: number): boolean {
    return s.expiresAtMs <= now || now - s.lastSeenMs >= this.idleMs;
  }

  revoke(token: string): boolean {
    return this.map.delete(token);
  }

  get size(): number {
    return this.map.size;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [k, s] of this.map) if (this.ended(s, now)) this.map.delete(k);
  }
}

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
  /** When each session was last used, on the monotonic clock: a host clock step must not end (or extend) sessions. */
  private lastUsed = new Map<string, number>();
  /** Streams (live WebSockets) opened with a session: closed when it ends. */
  private streams = new Map<string, Set<(reason: string) => void>>();
  private timer: ReturnType<typeof setInterval> | undefined;
  constructor(
    private readonly clock: Clock,
    readonly ttlMs = 12 * 3_600_000,
    /** A session not used for this long ends, before its absolute expiry. */
    readonly idleMs = 30 * 60_000,
  ) {}

  private mono(): number {
    return this.clock.monotonic?.() ?? this.clock.now();
  }

  create(user: string): Session {
    this.sweep();
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const now = this.clock.now();
    const s = { token, user, createdAtMs: now, expiresAtMs: now + this.ttlMs, lastSeenMs: now };
    this.map.set(token, s);
    this.lastUsed.set(token, this.mono());
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
      this.lastUsed.delete(token);
      this.closeStreams(token, "session expired");
      return undefined;
    }
    s.lastSeenMs = now;
    this.lastUsed.set(token, this.mono());
    return s;
  }

  private ended(s: Session, now: number): boolean {
    if (s.expiresAtMs <= now) return true;
    const mono = this.mono();
    if (mono - (this.lastUsed.get(s.token) ?? mono) < this.idleMs) return false;
    if (!this.streams.has(s.token)) return true;
    s.lastSeenMs = now; // an open live stream is use
    this.lastUsed.set(s.token, mono);
    return false;
  }

  /**
   * Ties a stream to a session: `close` runs when the session ends (logout, expiry). Returns
   * the release for when the stream ends by itself. While streams are held, expiry is checked
   * every second so they close on time.
   */
  hold(token: string, close: (reason: string) => void): () => void {
    let set = this.streams.get(token);
    if (!set) this.streams.set(token, (set = new Set()));
    set.add(close);
    this.timer ??= setInterval(() => this.sweep(), 1000);
    return () => {
      set.delete(close);
      if (set.size === 0 && this.streams.get(token) === set) this.streams.delete(token);
      if (this.streams.size === 0 && this.timer) (clearInterval(this.timer), (this.timer = undefined));
    };
  }

  revoke(token: string): boolean {
    this.closeStreams(token, "logged out");
    this.lastUsed.delete(token);
    return this.map.delete(token);
  }

  private closeStreams(token: string, reason: string): void {
    const set = this.streams.get(token);
    if (!set) return;
    this.streams.delete(token);
    for (const close of set) close(reason);
    if (this.streams.size === 0 && this.timer) (clearInterval(this.timer), (this.timer = undefined));
  }

  get size(): number {
    return this.map.size;
  }

  /** Ends expired and idle sessions and closes their streams. */
  sweep(): void {
    const now = this.clock.now();
    for (const [k, s] of this.map) {
      if (!this.ended(s, now)) continue;
      this.map.delete(k);
      this.lastUsed.delete(k);
      this.closeStreams(k, "session expired");
    }
  }
}

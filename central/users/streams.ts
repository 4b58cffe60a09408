/**
 * What users hold open after the request that authorized it returned: live WebSockets and RTSP
 * sessions. A request is checked once; these streams are not, so Users tells this registry when
 * access ends (logout, session expiry, disable, password change, deletion, an admin's "end
 * sessions") or narrows (roles and grants change), and the registry closes what is no longer
 * allowed. Built first and handed to Users and to the stream servers at construction.
 */
import type { Subject } from "../rights/index.ts";

export interface HeldStream {
  user: string;
  /** The login session that opened it (Users' session id); none for RTSP Basic. */
  sessionId?: string;
  /** Is this stream still allowed for the user's current grants? */
  allowed(subject: Subject): boolean;
  /** Ends the stream now (the stream calls its release itself). */
  close(reason: string): void;
}

export class UserStreams {
  private byUser = new Map<string, Set<HeldStream>>();
  private seq = 0;
  /** "u:<user>" / "s:<session>" → seq when its access last ended (bounded, oldest dropped). */
  private ended = new Map<string, number>();

  /**
   * Take a mark when a request is authorized and pass it to hold(): if the user's or the
   * session's access ended in between (the stream was still opening), hold closes it at once.
   */
  mark(): number {
    return this.seq;
  }

  /** Registers a stream; returns its release (call when it ends by itself). */
  hold(s: HeldStream, since?: number): () => void {
    if (since !== undefined && (this.endedSince(`u:${s.user}`, since) || (s.sessionId !== undefined && this.endedSince(`s:${s.sessionId}`, since)))) {
      s.close("access ended while the stream was opening");
      return () => undefined;
    }
    let set = this.byUser.get(s.user);
    if (!set) this.byUser.set(s.user, (set = new Set()));
    set.add(s);
    return () => {
      set.delete(s);
      if (set.size === 0 && this.byUser.get(s.user) === set) this.byUser.delete(s.user);
    };
  }

  /** A session ended (logout, expiry): close the streams it opened. */
  endSession(user: string, sessionId: string, reason: string): number {
    this.tombstone(`s:${sessionId}`);
    return this.closeWhere(user, (s) => s.sessionId === sessionId, reason);
  }

  /** The user lost access (disabled, deleted, password changed, sessions ended by an admin). */
  endUser(user: string, reason: string): number {
    this.tombstone(`u:${user}`);
    return this.closeWhere(user, () => true, reason);
  }

  /** The user's grants changed: close what `subject` (null = no access at all) may no longer watch. */
  recheck(user: string, subject: Subject | null, reason: string): number {
    return this.closeWhere(user, (s) => !subject || !s.allowed(subject), reason);
  }

  /** Users whose streams are open (to recheck after a role or group change). */
  users(): string[] {
    return [...this.byUser.keys()];
  }

  /** Does this session have a stream open (an open live view counts as use, not idleness)? */
  inUse(sessionId: string): boolean {
    for (const set of this.byUser.values()) for (const s of set) if (s.sessionId === sessionId) return true;
    return false;
  }

  count(user?: string): number {
    if (user !== undefined) return this.byUser.get(user)?.size ?? 0;
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }

  private tombstone(key: string): void {
    this.ended.delete(key);
    this.ended.set(key, ++this.seq);
    if (this.ended.size > 10_000) this.ended.delete(this.ended.keys().next().value!);
  }

  private endedSince(key: string, since: number): boolean {
    return (this.ended.get(key) ?? -1) > since;
  }

  private closeWhere(user: string, match: (s: HeldStream) => boolean, reason: string): number {
    const set = this.byUser.get(user);
    if (!set) return 0;
    const doomed = [...set].filter(match);
    for (const s of doomed) {
      set.delete(s);
      try {
        s.close(reason);
      } catch {
        // already closed
      }
    }
    if (set.size === 0) this.byUser.delete(user);
    return doomed.length;
  }
}

/**
 * What every ONVIF PullPoint service keeps (camsim's cameras, central's bridge): per
 * subscription a bounded message queue (a subscriber that never pulls loses its oldest, it
 * does not grow without bound), an expiry (expired ones are swept on every call) and the long
 * poll that waits for the next message. `T` is what a subscription was made with (its owner,
 * its filter); the service decides from it who gets a message.
 */
import { randomUUID } from "node:crypto";

export const MAX_QUEUE = 1000;

interface Subscription<M, T> {
  queue: M[];
  expires: number;
  tag: T;
  waiter?: () => void;
}

export class PullPointSubscriptions<M, T = undefined> {
  private subs = new Map<string, Subscription<M, T>>();
  constructor(private readonly now: () => number) {}

  /** Live subscriptions. */
  get size(): number {
    this.prune();
    return this.subs.size;
  }

  /** A new subscription with `queue` already waiting (e.g. a device's current state). */
  create(ttlMs: number, tag: T, queue: M[] = []): { id: string; expires: number } {
    this.prune();
    const id = randomUUID();
    const expires = this.now() + ttlMs;
    this.subs.set(id, { queue, expires, tag });
    return { id, expires };
  }

  has(id: string): boolean {
    return this.live(id) !== undefined;
  }

  /** What the live subscription `id` was made with. */
  tag(id: string): T | undefined {
    return this.live(id)?.tag;
  }

  renew(id: string, ttlMs: number): number | undefined {
    const s = this.live(id);
    if (!s) return undefined;
    s.expires = this.now() + ttlMs;
    return s.expires;
  }

  expires(id: string): number | undefined {
    return this.live(id)?.expires;
  }

  /** Ends the subscription; a poll waiting on it returns at once. */
  unsubscribe(id: string): boolean {
    const s = this.subs.get(id);
    if (!s) return false;
    this.subs.delete(id);
    s.waiter?.();
    return true;
  }

  /** Queues `m` for every live subscription whose tag `to` accepts (default: all) and wakes its poll; how many got it. */
  push(m: M, to: (tag: T) => boolean = () => true): number {
    this.prune();
    let n = 0;
    for (const s of this.subs.values()) {
      if (!to(s.tag)) continue;
      s.queue.push(m);
      if (s.queue.length > MAX_QUEUE) s.queue.shift();
      s.waiter?.();
      n++;
    }
    return n;
  }

  /** Long poll: at once when messages wait, else on the next one or after waitMs; undefined for no such subscription. */
  async pull(id: string, waitMs: number, limit: number): Promise<M[] | undefined> {
    const s = this.live(id);
    if (!s) return undefined;
    if (s.queue.length === 0 && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done() {
          clearTimeout(timer);
          s!.waiter = undefined;
          resolve();
        }
        s.waiter = done;
      });
    }
    return s.queue.splice(0, Math.max(1, Math.min(limit, MAX_QUEUE)));
  }

  close(): void {
    for (const id of [...this.subs.keys()]) this.unsubscribe(id);
  }

  private live(id: string): Subscription<M, T> | undefined {
    this.prune();
    return this.subs.get(id);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, s] of this.subs) if (s.expires <= now) this.unsubscribe(id);
  }
}

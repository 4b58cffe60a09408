/**
 * ONVIF PullPoint subscriptions over central's alarms and the edges' events. Each
 * subscription belongs to one user and one site device; a notification reaches it only when
 * it is about that site and the user may see its camera (or the site, for camera-less ones),
 * checked when the message is queued with the grants the user had at subscription time.
 * Queues are bounded (oldest dropped); expired subscriptions are swept on every call.
 */
import { randomUUID } from "node:crypto";
import { xmlEscape } from "../../lib/onvif/index.ts";
import { xsDateTime } from "../../lib/onvif/index.ts";

export interface BridgeEvent {
  /** tns1:… topic, e.g. tns1:VideoSource/MotionAlarm or tns1:Outpost/Alarm. */
  topic: string;
  siteId: string;
  /** Central camera id `<site>.<camera>`, or null. */
  cameraId: string | null;
  timeMs: number;
  source: Record<string, string>;
  data: Record<string, string>;
}

interface Sub {
  id: string;
  siteId: string;
  user: string;
  may: (e: BridgeEvent) => boolean;
  queue: BridgeEvent[];
  expires: number;
  waiter?: () => void;
}

export const MAX_QUEUE = 1000;
export const MAX_SUBSCRIPTIONS = 256;

export class PullPoints {
  private subs = new Map<string, Sub>();
  constructor(private readonly now: () => number) {}

  create(siteId: string, user: string, may: (e: BridgeEvent) => boolean, ttlMs: number): { id: string; expires: number } | undefined {
    this.prune();
    if (this.subs.size >= MAX_SUBSCRIPTIONS) return undefined;
    const id = randomUUID();
    const expires = this.now() + ttlMs;
    this.subs.set(id, { id, siteId, user, may, queue: [], expires });
    return { id, expires };
  }

  owner(id: string): string | undefined {
    this.prune();
    return this.subs.get(id)?.user;
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

  unsubscribe(id: string): boolean {
    const s = this.subs.get(id);
    if (!s) return false;
    this.subs.delete(id);
    s.waiter?.();
    return true;
  }

  publish(e: BridgeEvent): number {
    this.prune();
    let n = 0;
    for (const s of this.subs.values()) {
      if (s.siteId !== e.siteId || !s.may(e)) continue;
      s.queue.push(e);
      if (s.queue.length > MAX_QUEUE) s.queue.shift();
      s.waiter?.();
      n++;
    }
    return n;
  }

  /** Long poll: at once when messages wait, else on the next one or after waitMs. */
  async pull(id: string, waitMs: number, limit: number): Promise<BridgeEvent[] | undefined> {
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

  private live(id: string): Sub | undefined {
    this.prune();
    return this.subs.get(id);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, s] of this.subs) if (s.expires <= now) this.unsubscribe(id);
  }
}

export function notificationXml(e: BridgeEvent, subscriptionUrl: string): string {
  const items = (o: Record<string, string>) => Object.entries(o).map(([k, v]) => `<tt:SimpleItem Name="${xmlEscape(k)}" Value="${xmlEscape(v)}"/>`).join("");
  return (
    `<wsnt:NotificationMessage>` +
    `<wsnt:SubscriptionReference><wsa:Address>${xmlEscape(subscriptionUrl)}</wsa:Address></wsnt:SubscriptionReference>` +
    `<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${xmlEscape(e.topic)}</wsnt:Topic>` +
    `<wsnt:Message><tt:Message UtcTime="${xsDateTime(e.timeMs)}" PropertyOperation="Changed">` +
    `<tt:Source>${items(e.source)}</tt:Source><tt:Data>${items(e.data)}</tt:Data>` +
    `</tt:Message></wsnt:Message></wsnt:NotificationMessage>`
  );
}

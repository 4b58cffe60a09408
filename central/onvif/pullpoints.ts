/**
 * ONVIF PullPoint subscriptions over central's alarms and the edges' events. Each
 * subscription belongs to one user and one site device; a notification reaches it only when
 * it is about that site and the user may see its camera (or the site, for camera-less ones),
 * checked when the message is queued with the grants the user had at subscription time.
 * Queues are bounded (oldest dropped); expired subscriptions are swept on every call.
 */
import { MAX_QUEUE, PullPointSubscriptions, xmlEscape, xsDateTime } from "../../lib/onvif/index.ts";

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

/** Who a subscription is for: one user on one site device, with the grants they had when subscribing. */
interface Subscriber {
  siteId: string;
  user: string;
  may: (e: BridgeEvent) => boolean;
}

export { MAX_QUEUE };
export const MAX_SUBSCRIPTIONS = 256;

export class PullPoints {
  private subs: PullPointSubscriptions<BridgeEvent, Subscriber>;
  constructor(now: () => number) {
    this.subs = new PullPointSubscriptions(now);
  }

  create(siteId: string, user: string, may: (e: BridgeEvent) => boolean, ttlMs: number): { id: string; expires: number } | undefined {
    if (this.subs.size >= MAX_SUBSCRIPTIONS) return undefined;
    return this.subs.create(ttlMs, { siteId, user, may });
  }

  owner(id: string): string | undefined {
    return this.subs.tag(id)?.user;
  }

  renew(id: string, ttlMs: number): number | undefined {
    return this.subs.renew(id, ttlMs);
  }

  expires(id: string): number | undefined {
    return this.subs.expires(id);
  }

  unsubscribe(id: string): boolean {
    return this.subs.unsubscribe(id);
  }

  publish(e: BridgeEvent): number {
    return this.subs.push(e, (s) => s.siteId === e.siteId && s.may(e));
  }

  /** Long poll: at once when messages wait, else on the next one or after waitMs. */
  pull(id: string, waitMs: number, limit: number): Promise<BridgeEvent[] | undefined> {
    return this.subs.pull(id, waitMs, limit);
  }

  close(): void {
    this.subs.close();
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

/**
 * ONVIF event state of one simulated camera and its PullPoint subscriptions: motion
 * (tns1:VideoSource/MotionAlarm) and a digital input (tns1:Device/Trigger/DigitalInput).
 * A new subscription first gets the current state as "Initialized" messages, like real devices.
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "../lib/clock.ts";
import { iso } from "../lib/clock.ts";

export type EventType = "motion" | "input";

export interface CamEvent {
  type: EventType;
  state: boolean;
  time: number;
  operation: "Initialized" | "Changed";
}

interface Subscription {
  id: string;
  queue: CamEvent[];
  expires: number;
  waiter?: () => void;
}

export const MAX_QUEUE = 1000;

export class EventHub {
  readonly state: Record<EventType, boolean> = { motion: false, input: false };
  private subs = new Map<string, Subscription>();

  constructor(private clock: Clock) {}

  create(ttlMs: number): { id: string; expires: number } {
    this.prune();
    const now = this.clock.now();
    const id = randomUUID();
    const queue: CamEvent[] = (["motion", "input"] as const).map((type) => ({ type, state: this.state[type], time: now, operation: "Initialized" }));
    this.subs.set(id, { id, queue, expires: now + ttlMs });
    return { id, expires: now + ttlMs };
  }

  has(id: string): boolean {
    this.prune();
    return this.subs.has(id);
  }

  renew(id: string, ttlMs: number): number | undefined {
    const s = this.live(id);
    if (!s) return undefined;
    s.expires = this.clock.now() + ttlMs;
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

  emit(type: EventType, state: boolean): CamEvent {
    this.state[type] = state;
    const ev: CamEvent = { type, state, time: this.clock.now(), operation: "Changed" };
    this.prune();
    for (const s of this.subs.values()) {
      s.queue.push(ev);
      // A subscriber that never pulls must not grow without bound: drop its oldest.
      if (s.queue.length > MAX_QUEUE) s.queue.shift();
      s.waiter?.();
    }
    return ev;
  }

  /** Long poll: resolves at once with queued messages, else on the next event or after waitMs. */
  async pull(id: string, waitMs: number, limit: number): Promise<CamEvent[] | undefined> {
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
    return s.queue.splice(0, Math.max(1, limit));
  }

  close(): void {
    for (const id of [...this.subs.keys()]) this.unsubscribe(id);
  }

  private live(id: string): Subscription | undefined {
    this.prune();
    return this.subs.get(id);
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [id, s] of this.subs) if (s.expires <= now) this.unsubscribe(id);
  }
}

export function notificationXml(ev: CamEvent, subscriptionUrl: string): string {
  const topic = ev.type === "motion" ? "tns1:VideoSource/MotionAlarm" : "tns1:Device/Trigger/DigitalInput";
  const source =
    ev.type === "motion"
      ? '<tt:SimpleItem Name="Source" Value="VideoSource_1"/>'
      : '<tt:SimpleItem Name="InputToken" Value="DigitalInput_1"/>';
  const data = `<tt:SimpleItem Name="${ev.type === "motion" ? "State" : "LogicalState"}" Value="${ev.state}"/>`;
  return (
    `<wsnt:NotificationMessage>` +
    `<wsnt:SubscriptionReference><wsa:Address>${subscriptionUrl}</wsa:Address></wsnt:SubscriptionReference>` +
    `<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${topic}</wsnt:Topic>` +
    `<wsnt:Message><tt:Message UtcTime="${iso(ev.time)}" PropertyOperation="${ev.operation}">` +
    `<tt:Source>${source}</tt:Source><tt:Data>${data}</tt:Data>` +
    `</tt:Message></wsnt:Message></wsnt:NotificationMessage>`
  );
}

/**
 * ONVIF event state of one simulated camera and its PullPoint subscriptions: motion
 * (tns1:VideoSource/MotionAlarm) and a digital input (tns1:Device/Trigger/DigitalInput).
 * A new subscription first gets the current state as "Initialized" messages, like real devices.
 */
import type { Clock } from "../lib/clock.ts";
import { iso } from "../lib/clock.ts";
import { PullPointSubscriptions } from "../lib/onvif/index.ts";

export type EventType = "motion" | "input";

export interface CamEvent {
  type: EventType;
  state: boolean;
  time: number;
  operation: "Initialized" | "Changed";
}

export class EventHub {
  readonly state: Record<EventType, boolean> = { motion: false, input: false };
  private subs: PullPointSubscriptions<CamEvent>;

  constructor(private clock: Clock) {
    this.subs = new PullPointSubscriptions<CamEvent>(() => clock.now());
  }

  create(ttlMs: number): { id: string; expires: number } {
    const now = this.clock.now();
    const queue: CamEvent[] = (["motion", "input"] as const).map((type) => ({ type, state: this.state[type], time: now, operation: "Initialized" }));
    return this.subs.create(ttlMs, undefined, queue);
  }

  has(id: string): boolean {
    return this.subs.has(id);
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

  emit(type: EventType, state: boolean): CamEvent {
    this.state[type] = state;
    const ev: CamEvent = { type, state, time: this.clock.now(), operation: "Changed" };
    this.subs.push(ev);
    return ev;
  }

  /** Long poll: resolves at once with queued messages, else on the next event or after waitMs. */
  pull(id: string, waitMs: number, limit: number): Promise<CamEvent[] | undefined> {
    return this.subs.pull(id, waitMs, limit);
  }

  close(): void {
    this.subs.close();
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

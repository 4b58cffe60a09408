/**
 * Test support for central/sites: a broker stand-in (MemoryBus) for control planes under test —
 * subscriptions by filter, the acks published to one site recorded, and an edge's messages
 * delivered to whoever subscribed the up topics.
 */
import { topics } from "../../federation/protocol/index.ts";
import type { Bus } from "./bus.ts";

export class MemoryBus implements Bus {
  readonly handlers = new Map<string, (topic: string, payload: Buffer) => void>();
  readonly acks: { ob: string; upTo: number }[] = [];
  constructor(private readonly site: string) {}
  async publish(topic: string, payload: string): Promise<void> {
    if (topic === topics.ack(this.site)) this.acks.push(JSON.parse(payload) as { ob: string; upTo: number });
  }
  async subscribe(filter: string, onMessage: (topic: string, payload: Buffer) => void): Promise<void> {
    this.handlers.set(filter, onMessage);
  }
  async unsubscribe(filter: string): Promise<void> {
    this.handlers.delete(filter);
  }
  async close(): Promise<void> {}
  /** The edge publishes one up message (any type) of outbox ob. */
  up(ob: string, seq: number, at: number, type: string, body: unknown): void {
    const h = this.handlers.get(topics.allUp);
    if (!h) throw new Error("not subscribed");
    h(topics.up(this.site), Buffer.from(JSON.stringify({ v: 1, ob, seq, at, type, body })));
  }
  /** The edge publishes event messages seq from..to of outbox ob (at = t0 + seq). */
  send(ob: string, from: number, to: number, t0: number): void {
    for (let seq = from; seq <= to; seq++) this.up(ob, seq, t0 + seq, "event", { eventId: `e${seq}`, kind: "door", atMs: t0 + seq });
  }
}

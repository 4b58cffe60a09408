/**
 * How central talks MQTT: in-process through the embedded aedes broker (no socket, no ACL),
 * or as a client of an external broker (Mosquitto/EMQX) with its own certificate from the
 * central CA (identity "central"; the broker's ACL must give it outpost/v1/sites/#).
 */
import mqtt, { type MqttClient } from "mqtt";
import type { Aedes } from "aedes";
import type { Logger } from "../../lib/log/index.ts";
import { TopicRouter } from "./topic-router.ts";

export { matches } from "./topic-router.ts";

export interface Bus {
  publish(topic: string, payload: string, retain?: boolean): Promise<void>;
  subscribe(filter: string, onMessage: (topic: string, payload: Buffer) => void): Promise<void>;
  /** Ends every subscription to exactly `filter` (central/cluster: a site's partition moved to another node). */
  unsubscribe(filter: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Called after the bus reconnected and is subscribed again (external broker): retained state may
   * need publishing again, and what edges published meanwhile was dropped by the broker.
   */
  onReconnect?: () => void;
  /**
   * Called when the external broker connection is lost, before anything of the next connection
   * is delivered (onReconnect's SUBACK callback runs as a microtask and can come after the first
   * messages of the new connection were handled).
   */
  onConnectionLost?: () => void;
}

export function aedesBus(broker: Aedes): Bus {
  const subs: [string, (p: { topic: string; payload: Buffer | string }, cb: () => void) => void][] = [];
  return {
    publish: (topic, payload, retain = false) =>
      new Promise((resolve, reject) =>
        broker.publish({ cmd: "publish", topic, payload: Buffer.from(payload), qos: 1, retain, dup: false } as Parameters<Aedes["publish"]>[0], (e) => (e ? reject(e) : resolve())),
      ),
    subscribe: (filter, onMessage) =>
      new Promise<void>((resolve) => {
        const deliver = (p: { topic: string; payload: Buffer | string }, cb: () => void) => {
          onMessage(p.topic, Buffer.isBuffer(p.payload) ? p.payload : Buffer.from(p.payload));
          cb();
        };
        subs.push([filter, deliver]);
        broker.subscribe(filter, deliver as Parameters<Aedes["subscribe"]>[1], () => resolve());
      }),
    async unsubscribe(filter) {
      for (let i = subs.length - 1; i >= 0; i--) {
        const [f, d] = subs[i]!;
        if (f !== filter) continue;
        subs.splice(i, 1);
        await new Promise<void>((r) => broker.unsubscribe(f, d as Parameters<Aedes["unsubscribe"]>[1], () => r()));
      }
    },
    async close() {
      for (const [f, d] of subs) await new Promise<void>((r) => broker.unsubscribe(f, d as Parameters<Aedes["unsubscribe"]>[1], () => r()));
    },
  };
}

export interface ExternalBusOptions {
  url: string;
  ca: string;
  cert: string;
  key: string;
  clientId?: string;
  log: Logger;
}

/** mqtt.js client with its own reconnect (central is a server: it retries forever). */
export async function externalBus(o: ExternalBusOptions): Promise<Bus> {
  // Thousands of exact per-site filters on a cluster node: found by topic, not scanned (topic-router.ts).
  const handlers = new TopicRouter<(topic: string, payload: Buffer) => void>();
  const client: MqttClient = mqtt.connect(o.url, {
    ca: o.ca,
    cert: o.cert,
    key: o.key,
    clientId: o.clientId ?? "central",
    protocolVersion: 4,
    clean: true,
    // Subscriptions are renewed below, with onReconnect after the SUBACK (mqtt.js's own
    // resubscribe would not tell us when central hears the edges again).
    resubscribe: false,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    rejectUnauthorized: true,
  });
  // Attached before CONNACK: brokers deliver retained/queued messages together with it.
  client.on("message", (topic, payload) => {
    for (const h of handlers.match(topic)) h(topic, payload);
  });
  let bus: Bus | null = null;
  let first = true;
  client.on("connect", () => {
    o.log.info("connected to external broker", { url: o.url });
    const again = !first;
    first = false;
    if (!handlers.size) return;
    client.subscribe(handlers.filters(), { qos: 1 }, (e, granted) => {
      const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic) ?? [];
      if (e || refused.length) return void o.log.error("re-subscribing at the external broker failed", { err: e?.message, refused });
      if (again) bus?.onReconnect?.();
    });
  });
  client.on("close", () => bus?.onConnectionLost?.());
  client.on("error", (e) => o.log.warn("external broker error", { err: e.message }));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`could not connect to the MQTT broker at ${o.url} within 10 s`)), 10_000);
    client.once("connect", () => (clearTimeout(t), resolve()));
  }).catch((e) => {
    client.end(true);
    throw e;
  });
  bus = {
    publish: (topic, payload, retain = false) => new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1, retain }, (e) => (e ? reject(e) : resolve()))),
    subscribe: (filter, onMessage) =>
      new Promise((resolve, reject) => {
        handlers.add(filter, onMessage);
        client.subscribe(filter, { qos: 1 }, (e, granted) => (e || granted?.some((g) => g.qos === 128) ? reject(e ?? new Error(`subscription to ${filter} refused by the broker`)) : resolve()));
      }),
    unsubscribe: (filter) =>
      new Promise((resolve, reject) => {
        handlers.remove(filter);
        client.unsubscribe(filter, (e) => (e ? reject(e) : resolve()));
      }),
    close: () => new Promise((r) => client.end(false, {}, () => r())),
  };
  return bus;
}

/**
 * One MQTT connection to central's broker (embedded aedes or an external Mosquitto), owned
 * here so the mqtt.js gotchas are handled once: a fresh client per attempt (no mqtt.js
 * in-memory resend queue competing with the durable outbox), the message handler attached
 * before CONNACK (brokers send queued/retained messages with it), connect raced against
 * close/error/timeout (a refused certificate can hang), and our own backoff with jitter.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "../../lib/log/index.ts";

export interface LinkOptions {
  url: string;
  clientId: string;
  tls: { ca: string; cert: string; key: string };
  log: Logger;
  /** Subscribed (QoS 1) before onConnect runs. */
  subscriptions: string[];
  onMessage(topic: string, payload: Buffer): void;
  onConnect(): void;
  onDisconnect(): void;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  connectTimeoutMs?: number;
  keepaliveS?: number;
}

export class Link {
  private client: MqttClient | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private backoff: number;
  private stopped = false;
  private up = false;
  connects = 0;

  constructor(private readonly o: LinkOptions) {
    this.backoff = o.backoffMinMs ?? 500;
  }

  get connected(): boolean {
    return this.up;
  }

  start(): void {
    this.stopped = false;
    this.attempt();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    this.up = false;
    if (c) await new Promise<void>((r) => c.end(true, {}, () => r()));
  }

  /** QoS 1 publish on the current connection; false when there is none. */
  publish(topic: string, payload: Uint8Array | string, cb?: (err?: Error) => void): boolean {
    const c = this.client;
    if (!c || !this.up) return false;
    c.publish(topic, Buffer.from(payload as Uint8Array), { qos: 1 }, (err) => cb?.(err ?? undefined));
    return true;
  }

  private attempt(): void {
    if (this.stopped) return;
    const o = this.o;
    const c = mqtt.connect(o.url, {
      ...o.tls,
      clientId: o.clientId,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      keepalive: o.keepaliveS ?? 30,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    } as mqtt.IClientOptions);
    this.client = c;
    let settled = false;
    const giveUp = setTimeout(() => fail("connect timed out"), (o.connectTimeoutMs ?? 10_000) + 1000);
    const fail = (why: string) => {
      clearTimeout(giveUp);
      if (this.client !== c) return;
      const wasUp = this.up;
      this.up = false;
      this.client = null;
      c.end(true);
      if (wasUp) {
        o.log.info("link down", { reason: why });
        o.onDisconnect();
      } else if (!settled) o.log.debug("connect failed", { reason: why, retryInMs: this.backoff });
      settled = true;
      this.schedule();
    };
    c.on("message", (topic, payload) => {
      if (this.client === c) o.onMessage(topic, payload);
    });
    c.on("error", (e) => fail(e.message));
    c.on("close", () => fail("connection closed"));
    c.on("connect", () => {
      clearTimeout(giveUp);
      if (this.client !== c) return;
      c.subscribe(
        o.subscriptions.map((t) => t),
        { qos: 1 },
        (err, granted) => {
          if (this.client !== c) return;
          const refused = granted?.filter((g) => g.qos === 128) ?? [];
          if (err || refused.length) {
            o.log.error("subscription refused", { err: err?.message, topics: refused.map((g) => g.topic) });
            fail("subscription refused");
            return;
          }
          settled = true;
          this.up = true;
          this.connects++;
          this.backoff = o.backoffMinMs ?? 500;
          o.log.info("link up", { url: o.url });
          o.onConnect();
        },
      );
    });
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    const max = this.o.backoffMaxMs ?? 30_000;
    const wait = Math.round(this.backoff * (0.75 + Math.random() * 0.5));
    this.backoff = Math.min(this.backoff * 2, max);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.attempt();
    }, wait);
  }
}

/**
 * One MQTT connection to central's broker (embedded aedes or an external Mosquitto), owned
 * here so the mqtt.js gotchas are handled once: a fresh client per attempt (no mqtt.js
 * in-memory resend queue competing with the durable outbox), the message handler attached
 * before CONNACK (brokers send queued/retained messages with it), connect raced against
 * close/error/timeout (a refused certificate can hang), and our own backoff with jitter.
 * With a Reachability (edge/reach), a failure starts the shared probe and "central reachable
 * again" reconnects at once with the backoff reset — an attempt stuck since the outage (its SYN
 * waiting for TCP's retransmission) is abandoned for a fresh one.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "../../lib/log/index.ts";
import type { Reachability } from "../reach/index.ts";

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
  reach?: Reachability;
}

export class Link {
  private client: MqttClient | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private backoff: number;
  private stopped = false;
  private up = false;
  private attemptAt = 0;
  private unreach: (() => void) | null = null;
  connects = 0;
  /** Why the last connection attempt failed or the last connection dropped (technician screen). */
  lastError: { reason: string; atMs: number } | null = null;

  constructor(private readonly o: LinkOptions) {
    this.backoff = o.backoffMinMs ?? 500;
  }

  get connected(): boolean {
    return this.up;
  }

  start(): void {
    this.stopped = false;
    this.unreach ??=
      this.o.reach?.onUp((u) => {
        if (this.stopped || this.up || !u.outage) return;
        // An outage ended: try now, and give up an attempt that has waited since the outage.
        this.backoff = this.o.backoffMinMs ?? 500;
        if (this.client && Date.now() - this.attemptAt < 1000) return;
        this.abandon();
        this.attempt();
      }) ?? null;
    this.attempt();
  }

  /** Drops the current connection (stuck through an outage) and connects again at once. */
  restart(reason: string): void {
    if (this.stopped) return;
    this.o.log.info("reconnecting", { reason });
    const wasUp = this.up;
    this.abandon();
    if (wasUp) this.o.onDisconnect();
    this.backoff = this.o.backoffMinMs ?? 500;
    this.attempt();
  }

  private abandon(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.client;
    this.client = null;
    this.up = false;
    c?.end(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unreach?.();
    this.unreach = null;
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
    this.attemptAt = Date.now();
    let settled = false;
    const giveUp = setTimeout(() => fail("connect timed out"), (o.connectTimeoutMs ?? 10_000) + 1000);
    const fail = (why: string) => {
      clearTimeout(giveUp);
      if (this.client !== c) return;
      const wasUp = this.up;
      this.up = false;
      this.client = null;
      this.lastError = { reason: why, atMs: Date.now() };
      c.end(true);
      if (wasUp) {
        o.log.info("link down", { reason: why });
        o.onDisconnect();
      } else if (!settled) o.log.debug("connect failed", { reason: why, retryInMs: this.backoff });
      settled = true;
      o.reach?.lost(`mqtt: ${why}`);
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
          o.reach?.reached();
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

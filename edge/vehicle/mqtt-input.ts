/**
 * Vehicle inputs over MQTT: the vehicle computer publishes `<topicPrefix><input>` (default
 * `inputs/ignition`, `inputs/door-front`, …) on a local broker. Payload: `{"state": true,
 * "at": "2026-…Z"}` (at = when the input changed, optional) or a bare `true`/`false`/`1`/`0`/
 * `on`/`off`. Each message becomes Vehicle.input(…, "mqtt") with its original time. The
 * subscription is QoS 1 on a persistent session (clean: false, a fixed client id), so changes
 * published while the edge was down or disconnected are delivered when it is back; mqtt.js
 * reconnects by itself. A malformed message is logged with the reason and counted, never guessed.
 */
import type { MqttClient } from "mqtt";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { InputBody } from "./vehicle.ts";

export interface MqttInputConfig {
  /** mqtt://host:port (or mqtts://) of the vehicle computer's broker. */
  url: string;
  /** Topics are `<topicPrefix><input name>`; default "inputs/". */
  topicPrefix: string;
  clientId?: string;
  username?: string;
  password?: string;
  reconnectMs: number;
}

export interface ParsedInput {
  input: string;
  state: boolean;
  atMs: number;
}

const NAME = InputBody.shape.input;
const AT = InputBody.shape.at;

/** A message on `<prefix><name>` → the input change, or the reason it is refused. */
export function parseInputMessage(prefix: string, topic: string, payload: string, nowMs: number): ParsedInput | { error: string } {
  if (!topic.startsWith(prefix)) return { error: `topic ${topic} is not under ${prefix}` };
  const name = NAME.safeParse(topic.slice(prefix.length));
  if (!name.success) return { error: `input name "${topic.slice(prefix.length)}": ${name.error.issues[0]?.message}` };
  const text = payload.trim();
  const bare = /^(true|1|on)$/i.test(text) ? true : /^(false|0|off)$/i.test(text) ? false : null;
  if (bare !== null) return { input: name.data, state: bare, atMs: nowMs };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { error: `payload is neither true/false/1/0/on/off nor JSON {"state": boolean, "at"?: ISO time}: ${JSON.stringify(text.slice(0, 80))}` };
  }
  if (typeof body !== "object" || body === null || typeof (body as { state?: unknown }).state !== "boolean") return { error: 'payload needs "state": true or false' };
  const at = (body as { at?: unknown }).at;
  if (at !== undefined) {
    const ok = AT.safeParse(at);
    if (!ok.success || typeof at !== "string") return { error: `"at" ${ok.success ? "" : ok.error.issues[0]?.message}`.trim() };
    return { input: name.data, state: (body as { state: boolean }).state, atMs: Date.parse(at) };
  }
  return { input: name.data, state: (body as { state: boolean }).state, atMs: nowMs };
}

export class MqttInput {
  private client: MqttClient | undefined;
  private starting: Promise<void> | undefined;
  private stopped = false;
  readonly stats = { received: 0, rejected: 0 };

  constructor(
    private readonly cfg: MqttInputConfig,
    private readonly d: { clock: Clock; log: Logger; input: (name: string, state: boolean, atMs: number, source: string) => Promise<void> },
  ) {}

  start(): void {
    this.starting = this.connect().catch((err) => this.d.log.error("vehicle inputs: MQTT client not started", { url: this.cfg.url, err: err as Error }));
  }

  private async connect(): Promise<void> {
    // mqtt.js and its streams (~100 modules, ~5 MB resident) load only on an edge that has an MQTT input.
    const { default: mqtt } = await import("mqtt");
    if (this.stopped) return;
    const c = mqtt.connect(this.cfg.url, {
      clientId: this.cfg.clientId ?? `outpost-edge-inputs`,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: this.cfg.reconnectMs,
      connectTimeout: 10_000,
      ...(this.cfg.username !== undefined ? { username: this.cfg.username } : {}),
      ...(this.cfg.password !== undefined ? { password: this.cfg.password } : {}),
    });
    this.client = c;
    const topic = `${this.cfg.topicPrefix}+`;
    c.on("connect", (ack) => {
      this.d.log.info("vehicle inputs: connected to the MQTT broker", { url: this.cfg.url, topic, sessionPresent: ack.sessionPresent });
      // Subscribe even with a session present: a broker that lost the session would otherwise deliver nothing.
      c.subscribe(topic, { qos: 1 }, (err) => err && this.d.log.error("vehicle inputs: subscription refused", { topic, err }));
    });
    c.on("error", (err) => this.d.log.warn("vehicle inputs: MQTT broker", { url: this.cfg.url, err }));
    // mqtt.js acknowledges a QoS 1 message after handleMessage calls back (one message at a time):
    // so only once the change is in the event log and outbox; a crash before that gets it again.
    c.handleMessage = (packet, done) => {
      this.handle(packet.topic, Buffer.from(packet.payload)).then(
        () => done(),
        () => done(), // logged in handle(); redelivering a message that cannot be recorded would loop
      );
    };
  }

  private async handle(topic: string, payload: Buffer): Promise<void> {
    const p = parseInputMessage(this.cfg.topicPrefix, topic, payload.toString("utf8"), this.d.clock.now());
    if ("error" in p) {
      this.stats.rejected++;
      this.d.log.warn("vehicle input message refused", { topic, reason: p.error });
      return;
    }
    this.stats.received++;
    await this.d.input(p.input, p.state, p.atMs, "mqtt").catch((err) => {
      this.d.log.error("vehicle input not recorded", { input: p.input, err: err as Error });
      throw err;
    });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting;
    await this.client?.endAsync().catch(() => undefined);
  }
}

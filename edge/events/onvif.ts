/**
 * ONVIF event listener of one camera: a PullPoint subscription (npm `onvif` Cam), long-poll
 * pulls, a renew timer, and a fresh subscription with backoff whenever a pull or the
 * connection fails (camera restarted, subscription expired, network). Notifications are mapped
 * to edge events: MotionAlarm → `motion` start/end, DigitalInput → `input`, anything else →
 * `onvif` with the topic. The package's xml2js shapes stay inside this file.
 */
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { parseAddress } from "../camera/index.ts";

export interface OnvifEventTarget {
  cameraId: string;
  /** host[:port] or device service URL, as in the camera config. */
  address: string;
  user?: string;
  password?: string;
}

export interface ObservedEvent {
  kind: string;
  atMs: number;
  data: Record<string, unknown>;
}

export interface OnvifListenerOptions {
  clock: Clock;
  log: Logger;
  emit: (e: ObservedEvent) => void;
  /** Renew the subscription (2 min lifetime) this often; default 60 s. */
  renewMs?: number;
  backoff?: { minMs?: number; maxMs?: number };
  /** ONVIF request timeout (not the pull's long-poll); default 5 s. */
  timeoutMs?: number;
}

interface LooseCam {
  connect(cb: (err: Error | null) => void): void;
  createPullPointSubscription(cb: (err: Error | null, data: unknown) => void): void;
  pullMessages(o: { messageLimit?: number }, cb: (err: Error | null, data: unknown) => void): void;
  renew(o: object, cb: (err: Error | null, data: unknown) => void): void;
  unsubscribe(cb: (err: Error | null) => void, preserveListeners?: boolean): void;
}

type Notification = { topic: string; operation: string; utcTime?: string; source: Record<string, unknown>; data: Record<string, unknown> };

export class OnvifEventListener {
  private stopped = false;
  private cam: LooseCam | undefined;
  private renewTimer: ReturnType<typeof setInterval> | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Last known state per topic+source, so a resubscription's "Initialized" reports only what changed meanwhile. */
  private readonly known = new Map<string, string>();
  subscriptions = 0;
  connected = false;

  constructor(
    readonly target: OnvifEventTarget,
    private readonly o: OnvifListenerOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.clearRenew();
    const cam = this.cam;
    this.cam = undefined;
    // Ends the camera's side (and wakes its pending long poll); a dead camera is not waited for.
    if (cam) await Promise.race([new Promise<void>((r) => cam.unsubscribe(() => r())), Bun.sleep(1000)]).catch(() => undefined);
  }

  private async run(): Promise<void> {
    const min = this.o.backoff?.minMs ?? 1000;
    const max = this.o.backoff?.maxMs ?? 30_000;
    let delay = min;
    while (!this.stopped) {
      try {
        await this.subscribe();
        delay = min;
        while (!this.stopped) {
          const res = await this.call<unknown>((cb) => this.cam!.pullMessages({ messageLimit: 50 }, cb), 90_000);
          if (this.stopped) return;
          this.connected = true;
          for (const n of notifications(res)) this.handle(n);
        }
      } catch (e) {
        if (this.stopped) return;
        if (this.connected) this.o.log.warn("ONVIF event subscription lost; resubscribing", { err: (e as Error).message, retryInMs: delay });
        else this.o.log.debug("ONVIF event subscription failed; retrying", { err: (e as Error).message, retryInMs: delay });
        this.connected = false;
        this.clearRenew();
        this.cam = undefined;
        await new Promise<void>((r) => {
          const t = setTimeout(r, delay);
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        this.wake = undefined;
        delay = Math.min(delay * 2, max);
      }
    }
  }

  private async subscribe(): Promise<void> {
    const a = parseAddress(this.target.address);
    const { Cam } = await import("onvif"); // loaded by the first camera with ONVIF events, not by every edge
    const cam = new Cam({
      hostname: a.hostname,
      port: a.port,
      path: a.path,
      username: this.target.user,
      password: this.target.password,
      timeout: this.o.timeoutMs ?? 5000,
      autoconnect: false,
      preserveAddress: true,
    }) as unknown as LooseCam;
    this.cam = cam;
    await this.call<void>((cb) => cam.connect((err) => cb(err, undefined)));
    await this.call<unknown>((cb) => cam.createPullPointSubscription(cb));
    if (this.stopped) return;
    this.subscriptions++;
    this.connected = true;
    this.o.log.info("ONVIF event subscription created", { subscriptions: this.subscriptions });
    this.renewTimer = setInterval(() => {
      if (this.cam !== cam) return;
      // A failed renew is not fatal here: the subscription then expires and the next pull fails and resubscribes.
      this.call<unknown>((cb) => cam.renew({}, cb)).catch((e) => this.o.log.debug("ONVIF subscription renew failed", { err: (e as Error).message }));
    }, this.o.renewMs ?? 60_000);
  }

  private clearRenew(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private call<T>(fn: (cb: (err: Error | null, data: T) => void) => void, timeoutMs = (this.o.timeoutMs ?? 5000) + 1000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ONVIF device did not answer within ${timeoutMs} ms`)), timeoutMs);
      try {
        fn((err, data) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(data);
        });
      } catch (e) {
        clearTimeout(timer);
        reject(e as Error);
      }
    });
  }

  private handle(n: Notification): void {
    const atMs = this.o.clock.now();
    const mapped = mapNotification(n);
    const key = `${n.topic}|${JSON.stringify(n.source)}`;
    const value = JSON.stringify(n.data);
    const prev = this.known.get(key);
    this.known.set(key, value);
    // "Initialized" is the camera's current state on a new subscription, not an event: report it only
    // when it differs from what was last seen (a change missed while resubscribing).
    if (n.operation === "Initialized" && (prev === undefined || prev === value)) return;
    if (n.operation === "Changed" && prev === value && (mapped.kind === "motion" || mapped.kind === "input")) return;
    this.o.emit({ kind: mapped.kind, atMs, data: { ...mapped.data, ...(n.utcTime ? { cameraTime: n.utcTime } : {}) } });
  }
}

/** ONVIF topic + items → edge event kind and data. */
export function mapNotification(n: Notification): { kind: string; data: Record<string, unknown> } {
  const topic = n.topic;
  if (/MotionAlarm$/.test(topic) || /CellMotionDetector\/Motion$/.test(topic)) {
    const v = n.data.State ?? n.data.IsMotion;
    const active = truthy(v);
    return { kind: "motion", data: { state: active ? "start" : "end", active, topic, ...(n.source.Source !== undefined ? { source: String(n.source.Source) } : n.source.VideoSourceConfigurationToken !== undefined ? { source: String(n.source.VideoSourceConfigurationToken) } : {}) } };
  }
  if (/DigitalInput$/.test(topic)) {
    const v = n.data.LogicalState ?? n.data.State;
    const token = n.source.InputToken ?? n.source.Index ?? Object.values(n.source)[0];
    return { kind: "input", data: { input: token === undefined ? null : String(token), state: truthy(v), topic } };
  }
  return { kind: "onvif", data: { topic, operation: n.operation, source: n.source, items: n.data } };
}

function truthy(v: unknown): boolean {
  return v === true || v === 1 || (typeof v === "string" && /^(true|1|on|active)$/i.test(v));
}

/** xml2js gives one child as an object and many as an array. */
function arr(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function items(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const it of arr((v as { simpleItem?: unknown } | undefined)?.simpleItem)) {
    const a = (it as { $?: { Name?: unknown; Value?: unknown } }).$;
    if (a && a.Name !== undefined) out[String(a.Name)] = a.Value;
  }
  return out;
}

/** PullMessagesResponse (as the package parses it) → notifications. */
export function notifications(res: unknown): Notification[] {
  const out: Notification[] = [];
  for (const raw of arr((res as { notificationMessage?: unknown } | undefined)?.notificationMessage)) {
    const m = raw as { topic?: { _?: unknown } | string; message?: { message?: { $?: Record<string, unknown>; source?: unknown; data?: unknown } } };
    const topic = typeof m.topic === "string" ? m.topic : String(m.topic?._ ?? "");
    if (!topic) continue;
    const inner = m.message?.message ?? {};
    const utc = inner.$?.UtcTime;
    out.push({
      topic,
      operation: String(inner.$?.PropertyOperation ?? ""),
      ...(utc !== undefined ? { utcTime: utc instanceof Date ? utc.toISOString() : String(utc) } : {}),
      source: items(inner.source),
      data: items(inner.data),
    });
  }
  return out;
}

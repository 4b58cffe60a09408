/**
 * Vehicle inputs and what the recorder does about them. Every input change (ignition, doors,
 * panic button, reverse gear, low voltage, or any named input) becomes an edge event with the
 * time it happened, through the events path (local log + durable outbox). Ignition off starts a
 * timer: when it runs out the cameras are stopped cleanly (segments closed, gap "stopped") and
 * the vehicle is "parked"; ignition on starts them again at once. Low voltage stops them
 * immediately (orderly, before the supply dies).
 */
import type { Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import { iso, type Clock } from "../../lib/clock.ts";
import { readJson } from "../../lib/http/problem.ts";
import type { Logger } from "../../lib/log/index.ts";
import { MAX_TIME_MS } from "../../lib/http/query.ts";

export type VehicleState = "running" | "stopping" | "parked" | "low-voltage";

export interface VehicleConfig {
  /** Keep recording this long after ignition off. */
  recordAfterOffMs: number;
}

export interface VehicleDeps {
  config: VehicleConfig;
  clock: Clock;
  log: Logger;
  /** Records an event (edge/events emit). */
  emit: (e: { kind: string; atMs: number; data: Record<string, unknown> }) => Promise<unknown>;
  /** Stops every camera cleanly (segments closed). */
  park: (reason: string) => Promise<void>;
  /** Starts the cameras again. */
  unpark: () => Promise<void>;
  /** Told after every state change (e.g. so central hears "parked" at once). */
  onState?: (st: VehicleState) => void;
}

export const InputBody = z
  .object({
    input: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "an input name like ignition, door-front, panic, reverse, low-voltage"),
    state: z.boolean().describe("true = active (ignition on, door open, button pressed, reverse engaged, voltage low)"),
    at: z
      .string()
      .refine((v) => /^\d{4}-\d{2}-\d{2}T/.test(v) && Number.isFinite(Date.parse(v)) && Date.parse(v) >= 0 && Date.parse(v) <= MAX_TIME_MS, "must be an ISO 8601 time")
      .optional()
      .describe("when the input changed (the vehicle computer's time); default: when the edge received it"),
  })
  .strict();

export const VehicleOut = z.object({
  state: z.enum(["running", "stopping", "parked", "low-voltage"]),
  since: z.string(),
  inputs: z.record(z.string(), z.object({ state: z.boolean(), time: z.string() })),
  /** When ignition-off recording ends (state "stopping"). */
  stopsAt: z.string().optional(),
});

export const InputAccepted = z.object({ input: z.string(), state: z.boolean(), time: z.string(), vehicle: VehicleOut.shape.state });

export class Vehicle {
  private inputs = new Map<string, { state: boolean; atMs: number }>();
  private st: VehicleState = "running";
  private sinceMs: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopsAtMs: number | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: VehicleDeps) {
    this.sinceMs = d.clock.now();
  }

  get state(): VehicleState {
    return this.st;
  }

  status(): z.infer<typeof VehicleOut> {
    return {
      state: this.st,
      since: iso(this.sinceMs),
      inputs: Object.fromEntries([...this.inputs].map(([k, v]) => [k, { state: v.state, time: iso(v.atMs) }])),
      ...(this.stopsAtMs !== undefined ? { stopsAt: iso(this.stopsAtMs) } : {}),
    };
  }

  /** One input change from any source; serialised so park/unpark never overlap. */
  input(name: string, state: boolean, atMs: number, source: string): Promise<void> {
    const run = async () => {
      const prev = this.inputs.get(name);
      this.inputs.set(name, { state, atMs });
      await this.d.emit({ kind: "input", atMs, data: { input: name, state, source } });
      if (prev?.state === state) return; // a repeat changes nothing
      if (name === "low-voltage" && state) await this.stop("low-voltage", "supply voltage low: orderly stop");
      else if (name === "ignition" && !state && this.st === "running") this.armOffTimer();
      else if (name === "ignition" && state) await this.resume();
      else if (name === "low-voltage" && !state && this.st === "low-voltage" && this.inputs.get("ignition")?.state !== false) await this.resume();
      else if (name === "low-voltage" && !state && this.st === "low-voltage") this.set("parked");
    };
    const p = this.chain.then(run);
    this.chain = p.catch((e) => this.d.log.error("vehicle input not handled", { err: e as Error }));
    return p;
  }

  private set(st: VehicleState): void {
    const changed = st !== this.st;
    this.st = st;
    this.sinceMs = this.d.clock.now();
    if (changed) this.d.onState?.(st);
  }

  private armOffTimer(): void {
    this.set("stopping");
    this.stopsAtMs = this.d.clock.now() + this.d.config.recordAfterOffMs;
    this.d.log.info("ignition off: recording continues, then stops", { stopsAt: iso(this.stopsAtMs) });
    this.timer = setTimeout(() => {
      this.chain = this.chain.then(() => (this.st === "stopping" ? this.stop("parked", "ignition off") : undefined)).catch((e) => this.d.log.error("parking failed", { err: e as Error }));
    }, this.d.config.recordAfterOffMs);
  }

  private async stop(st: "parked" | "low-voltage", why: string): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.stopsAtMs = undefined;
    if (this.st === "parked" || this.st === "low-voltage") {
      this.set(st);
      return;
    }
    await this.d.park(why);
    this.set(st);
    this.d.log.info("cameras stopped", { state: st, reason: why });
    await this.d.emit({ kind: `vehicle.${st}`, atMs: this.d.clock.now(), data: { reason: why } });
  }

  private async resume(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.stopsAtMs = undefined;
    const was = this.st;
    if (was === "running") return;
    this.set("running");
    if (was === "stopping") return; // still recording
    if (this.inputs.get("low-voltage")?.state) {
      this.set(was);
      return; // the supply is still low: stay stopped
    }
    await this.d.unpark();
    await this.d.emit({ kind: "vehicle.running", atMs: this.d.clock.now(), data: {} });
  }

  mount(app: Hono<any>, auth: MiddlewareHandler<any>): void {
    app.post("/api/v1/inputs", auth, async (c) => {
      const b = await readJson(c, InputBody);
      const atMs = b.at !== undefined ? Date.parse(b.at) : this.d.clock.now();
      await this.input(b.input, b.state, atMs, "http");
      return c.json({ input: b.input, state: b.state, time: iso(atMs), vehicle: this.st }, 202);
    });
    app.get("/api/v1/vehicle", auth, (c) => c.json(this.status()));
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

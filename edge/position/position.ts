/**
 * The edge's position service: gpsd fixes → thinning → the track (journal + index), the latest
 * fix for status and health, and GET /api/v1/position on the edge API.
 */
import type { Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import { iso, type Clock } from "../../lib/clock.ts";
import { badRequest } from "../../lib/http/problem.ts";
import { parseQuery, timeQuery } from "../../lib/http/query.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import { distanceM } from "../../lib/geo.ts";
import { GpsdClient, type Fix } from "./gpsd.ts";
import { TrackThinner, type ThinOptions } from "./thin.ts";
import { TrackStore } from "./track.ts";

export interface PositionConfig {
  /** gpsd to read; absent = this edge has no position source. */
  gpsd?: { host: string; port: number };
  backoffInitialMs: number;
  backoffMaxMs: number;
  staleMs: number;
  thin: ThinOptions;
  retentionDays: number;
}

export const PositionQuery = z.object({
  from: timeQuery().describe("kept points at ≥ this time"),
  to: timeQuery().describe("kept points before this time"),
});

const PointOut = z.object({
  time: z.string(),
  fix: z.enum(["no-source", "no-fix", "2d", "3d"]),
  lat: z.number().optional(),
  lon: z.number().optional(),
  speedMps: z.number().optional(),
  headingDeg: z.number().optional(),
});
export const PositionOut = z.object({
  source: z.enum(["gpsd", "none"]),
  connected: z.boolean(),
  current: PointOut.nullable(),
  points: z.array(PointOut),
});

const FIX = ["no-source", "no-fix", "2d", "3d"] as const;
export const pointOut = (f: Fix): z.infer<typeof PointOut> => ({
  time: iso(f.atMs),
  fix: FIX[f.mode],
  ...(f.lat !== undefined ? { lat: f.lat, lon: f.lon! } : {}),
  ...(f.speed !== undefined ? { speedMps: f.speed } : {}),
  ...(f.heading !== undefined ? { headingDeg: f.heading } : {}),
});

export class EdgePosition {
  private client: GpsdClient | undefined;
  private readonly thinner: TrackThinner;
  private listeners: ((f: Fix) => void)[] = [];
  private pruneTimer: ReturnType<typeof setInterval> | undefined;
  current: Fix | null = null;

  private constructor(
    readonly track: TrackStore,
    private readonly cfg: PositionConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.thinner = new TrackThinner(cfg.thin);
  }

  static async start(o: { config: PositionConfig; store: MediaStore; dataDir: string; clock: Clock; log: Logger }): Promise<EdgePosition> {
    const track = await TrackStore.open({ store: o.store, dataDir: o.dataDir, log: o.log });
    const p = new EdgePosition(track, o.config, o.clock, o.log);
    if (o.config.gpsd) {
      p.client = new GpsdClient({
        ...o.config.gpsd,
        clock: o.clock,
        log: o.log,
        backoff: { initialMs: o.config.backoffInitialMs, maxMs: o.config.backoffMaxMs },
        staleMs: o.config.staleMs,
        onFix: (f) => p.fix(f),
      });
      p.client.start();
    }
    const prune = () => track.prune(o.clock.now(), o.config.retentionDays * 86_400_000).catch((e) => o.log.warn("track pruning failed", { err: e as Error }));
    void prune();
    p.pruneTimer = setInterval(prune, 3_600_000);
    return p;
  }

  /** Called for every raw fix (after it was handed to the track). */
  onFix(fn: (f: Fix) => void): () => void {
    this.listeners.push(fn);
    return () => (this.listeners = this.listeners.filter((l) => l !== fn));
  }

  /** One fix from any source (gpsd; tests). */
  fix(f: Fix): void {
    this.current = f;
    this.track.observe(f);
    for (const k of this.thinner.push(f)) void this.track.add(k).catch((e) => this.log.error("track point not stored", { err: e as Error }));
    for (const l of this.listeners) l(f);
  }

  /**
   * Sends the live position (telemetry "position", droppable) every `everyMs` when it moved more
   * than 5 m, its fix or speed class or `state()` changed, or 5 minutes passed; returns the stopper.
   */
  report(everyMs: number, send: (atMs: number, data: Record<string, unknown>) => Promise<unknown>, extra: () => Record<string, unknown>): () => void {
    let last: { f: Fix; key: string; atMs: number } | undefined;
    const tick = () => {
      const f = this.current;
      if (!f) return;
      const x = extra();
      const key = JSON.stringify([f.mode, Math.round((f.speed ?? 0) * 2), x]);
      const moved = !last || last.f.lat === undefined || f.lat === undefined ? true : distanceM(last.f as { lat: number; lon: number }, f as { lat: number; lon: number }) > 5;
      if (last && !moved && last.key === key && f.atMs - last.atMs < 300_000) return;
      if (last && last.f === f && last.key === key) return;
      last = { f, key, atMs: f.atMs };
      const data = { mode: f.mode, ...(f.lat !== undefined ? { lat: f.lat, lon: f.lon } : {}), ...(f.speed !== undefined ? { speed: f.speed } : {}), ...(f.heading !== undefined ? { heading: f.heading } : {}), ...x };
      void send(f.atMs, data).catch((e) => this.log.warn("live position not queued", { err: e as Error }));
    };
    const t = setInterval(tick, everyMs);
    return () => clearInterval(t);
  }

  get source(): "gpsd" | "none" {
    return this.client ? "gpsd" : "none";
  }

  get connected(): boolean {
    return !!this.client?.connected;
  }

  mount(app: Hono<any>, auth: MiddlewareHandler<any>): void {
    app.get("/api/v1/position", auth, async (c) => {
      const q = parseQuery(c, PositionQuery);
      if (q.to <= q.from) throw badRequest("to must be after from");
      if (q.to - q.from > 31 * 86_400_000) throw badRequest("the window may be at most 31 days");
      const points = await this.track.points(q.from, q.to);
      return c.json({ source: this.source, connected: this.connected, current: this.current ? pointOut(this.current) : null, points: points.map(pointOut) });
    });
  }

  /** Stops gpsd, keeps the newest unkept fix (the track ends where the vehicle is). */
  async stop(): Promise<void> {
    this.client?.stop();
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    for (const k of this.thinner.flush()) await this.track.add(k).catch(() => undefined);
    await this.track.flush();
  }

  /** After the store's sessions ended (store.endSessions), before it closes: the last commits' boxes are stored, then nothing writes the index. */
  async close(): Promise<void> {
    await this.track.close();
  }
}

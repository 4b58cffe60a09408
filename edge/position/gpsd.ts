/**
 * gpsd client: speaks gpsd's JSON protocol over TCP (`?WATCH={"enable":true,"json":true}`),
 * turns TPV reports into fixes stamped with the edge's clock (the clock the video is filed by),
 * reconnects with backoff, and says "no source" when gpsd is gone or silent. A position is
 * only ever taken from a TPV with a 2D/3D fix and valid coordinates: no fix is recorded as
 * such, never filled in.
 */
import { connect, type Socket } from "node:net";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";

/** 0 = no source (gpsd unreachable or silent), 1 = no fix, 2 = 2D fix, 3 = 3D fix (gpsd's TPV modes). */
export type FixMode = 0 | 1 | 2 | 3;

export interface Fix {
  atMs: number;
  mode: FixMode;
  /** Present only with mode ≥ 2. */
  lat?: number;
  lon?: number;
  /** Metres per second over ground. */
  speed?: number;
  /** Degrees from true north, 0 ≤ heading < 360. */
  heading?: number;
}

export type GpsdReport =
  | { class: "TPV"; mode: FixMode; gpsTimeMs?: number; lat?: number; lon?: number; speed?: number; heading?: number }
  | { class: "other"; name: string };

export type Parsed = { ok: true; report: GpsdReport } | { ok: false; reason: string };

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** One line of gpsd output → a report, or why not. Never throws. */
export function parseGpsdLine(line: string): Parsed {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return { ok: false, reason: "not a JSON object" };
  const o = raw as Record<string, unknown>;
  if (typeof o.class !== "string") return { ok: false, reason: "no class" };
  if (o.class !== "TPV") return { ok: true, report: { class: "other", name: o.class.slice(0, 40) } };
  const m = o.mode;
  if (m !== 0 && m !== 1 && m !== 2 && m !== 3) return { ok: false, reason: "TPV without a valid mode (0-3)" };
  // gpsd's mode 0 means "not seen yet": for the track it is "no fix" (the source is there).
  const r: GpsdReport & { class: "TPV" } = { class: "TPV", mode: m === 0 ? 1 : m };
  if (typeof o.time === "string") {
    const t = Date.parse(o.time);
    if (Number.isFinite(t)) r.gpsTimeMs = t;
  }
  if (r.mode >= 2) {
    if (!finite(o.lat) || !finite(o.lon) || Math.abs(o.lat) > 90 || Math.abs(o.lon) > 180) {
      r.mode = 1; // a fix claimed without usable coordinates is no fix
    } else {
      r.lat = o.lat;
      r.lon = o.lon;
      if (finite(o.speed) && o.speed >= 0 && o.speed < 1000) r.speed = o.speed;
      if (finite(o.track) && o.track >= 0 && o.track <= 360) r.heading = o.track % 360;
    }
  }
  return { ok: true, report: r };
}

export interface GpsdOptions {
  host: string;
  port: number;
  clock: Clock;
  log: Logger;
  onFix: (f: Fix) => void;
  backoff?: { initialMs: number; maxMs: number };
  /** No TPV for this long = no source (gpsd up but no receiver). */
  staleMs?: number;
}

export class GpsdClient {
  private sock: Socket | undefined;
  private stopped = false;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private delayMs: number;
  private lastTpvMs = 0;
  private lastSilentMs = 0;
  private buf = "";
  private badLines = 0;
  connected = false;
  lastFix: Fix | undefined;

  constructor(private readonly o: GpsdOptions) {
    this.delayMs = o.backoff?.initialMs ?? 500;
  }

  start(): void {
    this.lastTpvMs = this.o.clock.now();
    this.dial();
    const staleMs = this.o.staleMs ?? 5000;
    this.watchdog = setInterval(() => {
      const now = this.o.clock.now();
      if (now - this.lastTpvMs >= staleMs && now - this.lastSilentMs >= staleMs) {
        this.lastSilentMs = now;
        this.emit({ atMs: now, mode: 0 });
      }
    }, Math.max(50, Math.min(1000, staleMs / 2)));
  }

  private emit(f: Fix): void {
    this.lastFix = f;
    try {
      this.o.onFix(f);
    } catch (e) {
      this.o.log.error("position not recorded", { err: e as Error });
    }
  }

  private dial(): void {
    if (this.stopped) return;
    const s = connect({ host: this.o.host, port: this.o.port });
    this.sock = s;
    this.buf = "";
    s.setEncoding("utf8");
    s.on("connect", () => {
      this.connected = true;
      this.o.log.info("gpsd connected", { host: this.o.host, port: this.o.port });
      s.write('?WATCH={"enable":true,"json":true};\n');
    });
    s.on("data", (chunk: string) => {
      this.buf += chunk;
      // gpsd lines are short; a runaway line without newline is dropped, not buffered forever.
      if (this.buf.length > 1 << 20) this.buf = "";
      let i: number;
      while ((i = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line) this.line(line);
      }
    });
    s.on("error", () => undefined); // "close" follows and reconnects
    s.on("close", () => {
      const was = this.connected;
      this.connected = false;
      if (this.stopped) return;
      if (was) {
        this.o.log.warn("gpsd connection lost; reconnecting", { host: this.o.host, port: this.o.port });
        this.emit({ atMs: this.o.clock.now(), mode: 0 });
        this.lastSilentMs = this.o.clock.now();
      }
      this.retry = setTimeout(() => this.dial(), this.delayMs);
      this.delayMs = Math.min(this.delayMs * 2, this.o.backoff?.maxMs ?? 30_000);
    });
  }

  private line(line: string): void {
    const r = parseGpsdLine(line);
    if (!r.ok) {
      if (this.badLines++ < 5) this.o.log.warn("gpsd sent a line this edge does not understand; skipped", { reason: r.reason });
      return;
    }
    if (r.report.class !== "TPV") return;
    this.delayMs = this.o.backoff?.initialMs ?? 500; // a working session resets the backoff
    const now = this.o.clock.now();
    this.lastTpvMs = now;
    const { mode, lat, lon, speed, heading } = r.report;
    this.emit({ atMs: now, mode, ...(lat !== undefined ? { lat, lon: lon! } : {}), ...(speed !== undefined ? { speed } : {}), ...(heading !== undefined ? { heading } : {}) });
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.watchdog) clearInterval(this.watchdog);
    this.sock?.destroy();
  }
}

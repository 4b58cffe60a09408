/**
 * Track thinning, streaming and independent of where fixes come from. A fix is dropped only
 * when the kept track still passes within `toleranceM` of it (an "opening window": the last
 * kept point is the anchor; when a buffered point would stray further than the tolerance from
 * the line anchor → newest, the point before the newest is kept and becomes the anchor).
 * Besides shape, a point is kept at least every `maxIntervalMs`, on a speed change of
 * `speedDeltaMps` or more (stops and starts stay visible), and on every change between
 * "position" and "no position" (no fix / no source), where the last point before and the first
 * point after are both kept.
 */
import { distanceToSegmentM } from "../../lib/geo.ts";
import type { Fix } from "./gpsd.ts";

export interface ThinOptions {
  toleranceM: number;
  maxIntervalMs: number;
  speedDeltaMps: number;
}

const hasPos = (f: Fix): f is Fix & { lat: number; lon: number } => f.mode >= 2 && f.lat !== undefined && f.lon !== undefined;

export class TrackThinner {
  private anchor: Fix | undefined;
  private buffer: (Fix & { lat: number; lon: number })[] = [];
  /** The newest fix not kept (a position one is also the buffer's last). */
  private unkept: Fix | undefined;

  constructor(private readonly o: ThinOptions) {}

  /** Feeds one fix (in time order); returns the fixes to keep, in order. */
  push(f: Fix): Fix[] {
    const out: Fix[] = [];
    const a = this.anchor;
    if (!a || f.atMs < a.atMs) {
      // first fix, or the clock went backwards: start a new run
      out.push(...this.drain());
      this.keep(f, out);
      return out;
    }
    if (hasPos(f) !== hasPos(a) || (!hasPos(f) && f.mode !== a.mode)) {
      out.push(...this.drain());
      this.keep(f, out);
      return out;
    }
    if (!hasPos(f)) {
      if (f.atMs - a.atMs >= this.o.maxIntervalMs) this.keep(f, out);
      else this.unkept = f;
      return out;
    }
    // Shape: would the line anchor → f leave a buffered point further than the tolerance?
    const anchorPos = a as Fix & { lat: number; lon: number };
    if (this.buffer.some((b) => distanceToSegmentM(b, anchorPos, f) > this.o.toleranceM)) {
      const prev = this.buffer.pop()!;
      this.buffer = [];
      this.keep(prev, out);
      this.unkept = f;
    }
    const cur = this.anchor!;
    const speedJump = f.speed !== undefined && cur.speed !== undefined ? Math.abs(f.speed - cur.speed) >= this.o.speedDeltaMps : f.speed !== cur.speed;
    if (f.atMs - cur.atMs >= this.o.maxIntervalMs || speedJump) {
      this.buffer = [];
      this.keep(f, out);
    } else {
      this.buffer.push(f);
      this.unkept = f;
    }
    return out;
  }

  /** The newest fix not yet kept (call at the end of a run, e.g. on stop). */
  flush(): Fix[] {
    return this.drain();
  }

  private drain(): Fix[] {
    const last = this.unkept;
    this.buffer = [];
    this.unkept = undefined;
    if (!last) return [];
    this.anchor = last;
    return [last];
  }

  private keep(f: Fix, out: Fix[]): void {
    this.anchor = f;
    this.unkept = undefined;
    out.push(f);
  }
}

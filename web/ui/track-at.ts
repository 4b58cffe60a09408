/** The vehicle at a moment, from its kept track points (pure: playback's position panel, unit-tested). */
import type { TrackPoint } from "./fleet-data.ts";

export interface At {
  fix: string;
  lat?: number;
  lon?: number;
  speedMps?: number;
  headingDeg?: number;
  /** Time of the kept point the answer rests on. */
  timeMs: number;
}

/** The vehicle at `ms` from kept points (time order): interpolated between two fixes, else the last point at or before it. */
export function positionAt(points: readonly TrackPoint[], ms: number): At | null {
  let i = -1;
  for (let k = 0; k < points.length && Date.parse(points[k]!.time) <= ms; k++) i = k;
  if (i < 0) return null;
  const a = points[i]!;
  const b = points[i + 1];
  const ta = Date.parse(a.time);
  if (a.lat === undefined || a.lon === undefined) return { fix: a.fix, timeMs: ta };
  if (!b || b.lat === undefined || b.lon === undefined) return { ...a, timeMs: ta };
  const f = (ms - ta) / (Date.parse(b.time) - ta || 1);
  const lerp = (x: number | undefined, y: number | undefined) => (x === undefined ? y : y === undefined ? x : x + (y - x) * f);
  return { fix: a.fix, lat: a.lat + (b.lat - a.lat) * f, lon: a.lon + (b.lon - a.lon) * f, ...(lerp(a.speedMps, b.speedMps) !== undefined ? { speedMps: lerp(a.speedMps, b.speedMps)! } : {}), ...(a.headingDeg !== undefined ? { headingDeg: a.headingDeg } : {}), timeMs: ta };
}


/**
 * When did a track enter an area? The kept track is a polyline whose dropped fixes lie within
 * the edge's thinning tolerance of it, so a vehicle that drove through a small area may have no
 * kept point inside: each line piece between two consecutive fixes is tested against the area,
 * and a piece that touches it counts for its whole time span (the footage to look at). A line
 * is never drawn across "no fix" or "no source" points: where the vehicle was is not invented.
 */
import { distanceToSegmentM, inArea, type Area, type LatLon } from "../../lib/geo.ts";

/** [atMs, mode, lat, lon, speed, heading] as the edge sends them. */
export type TrackPoint = [number, number, number | null, number | null, number | null, number | null];

export interface TimeRange {
  fromMs: number;
  toMs: number;
}

const orient = (a: LatLon, b: LatLon, c: LatLon) => Math.sign((b.lon - a.lon) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lon - a.lon));
function segmentsCross(p1: LatLon, p2: LatLon, q1: LatLon, q2: LatLon): boolean {
  const o1 = orient(p1, p2, q1);
  const o2 = orient(p1, p2, q2);
  const o3 = orient(q1, q2, p1);
  const o4 = orient(q1, q2, p2);
  return o1 !== o2 && o3 !== o4;
}

/** Does the line piece a–b touch the area? */
export function pieceTouches(area: Area, a: LatLon, b: LatLon): boolean {
  if ("circle" in area) return distanceToSegmentM(area.circle, a, b) <= area.circle.radiusM;
  if (inArea(area, a) || inArea(area, b)) return true;
  const ring = area.polygon;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) if (segmentsCross(a, b, ring[j]!, ring[i]!)) return true;
  return false;
}

const pos = (p: TrackPoint): LatLon | null => (p[1] >= 2 && p[2] !== null && p[3] !== null ? { lat: p[2], lon: p[3] } : null);

/** The time ranges (clipped to [fromMs, toMs), merged when they touch) during which the track was in the area. */
export function visits(area: Area, points: readonly TrackPoint[], fromMs: number, toMs: number): TimeRange[] {
  const out: TimeRange[] = [];
  const add = (a: number, b: number) => {
    const f = Math.max(a, fromMs);
    const t = Math.min(Math.max(b, a + 1), toMs);
    if (t <= f) return;
    const last = out.at(-1);
    if (last && f <= last.toMs) last.toMs = Math.max(last.toMs, t);
    else out.push({ fromMs: f, toMs: t });
  };
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    const a = pos(p);
    if (!a) continue;
    const next = points[i + 1];
    const b = next ? pos(next) : null;
    if (b && next) {
      if (next[0] >= fromMs && p[0] < toMs && pieceTouches(area, a, b)) add(p[0], next[0]);
    } else if (p[0] >= fromMs && p[0] < toMs && inArea(area, a)) {
      // the last fix before "no fix" (or the end): the vehicle was there at that moment
      add(p[0], p[0] + 1);
    }
  }
  return out;
}

/** Points of several chunks in time order without duplicates (a re-sent chunk repeats points). */
export function mergeChunks(chunks: readonly TrackPoint[][]): TrackPoint[] {
  const all = chunks.flat().sort((x, y) => x[0] - y[0]);
  return all.filter((p, i) => i === 0 || p[0] !== all[i - 1]![0]);
}

/**
 * Small plane geometry on WGS84 positions, shared by the edge (track thinning, segment boxes)
 * and central (place-and-time search): distances on a local equirectangular projection, which
 * is exact enough (well under 1 %) for the few kilometres a search area or a thinning step spans.
 */

export interface LatLon {
  lat: number;
  lon: number;
}

export interface BBox {
  minLat: number;
  maxLat: number;
  minLon: number;
  maxLon: number;
}

const R = 6_371_008.8; // mean Earth radius, metres
const RAD = Math.PI / 180;

/** Great-circle distance in metres (haversine). */
export function distanceM(a: LatLon, b: LatLon): number {
  const dLat = (b.lat - a.lat) * RAD;
  const dLon = (b.lon - a.lon) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Projects onto a plane in metres around `origin` (x east, y north). */
export function project(origin: LatLon, p: LatLon): { x: number; y: number } {
  return { x: (p.lon - origin.lon) * RAD * R * Math.cos(origin.lat * RAD), y: (p.lat - origin.lat) * RAD * R };
}

/** Distance in metres from p to the segment a–b (local projection around a). */
export function distanceToSegmentM(p: LatLon, a: LatLon, b: LatLon): number {
  const q = project(a, p);
  const e = project(a, b);
  const len2 = e.x * e.x + e.y * e.y;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, (q.x * e.x + q.y * e.y) / len2));
  return Math.hypot(q.x - t * e.x, q.y - t * e.y);
}

export function bboxOf(points: readonly LatLon[]): BBox | null {
  if (!points.length) return null;
  let minLat = Infinity;
  let maxLat = -Infinity;
  let minLon = Infinity;
  let maxLon = -Infinity;
  for (const p of points) {
    if (p.lat < minLat) minLat = p.lat;
    if (p.lat > maxLat) maxLat = p.lat;
    if (p.lon < minLon) minLon = p.lon;
    if (p.lon > maxLon) maxLon = p.lon;
  }
  return { minLat, maxLat, minLon, maxLon };
}

/** A search area: a circle (centre + radius in metres) or a polygon (ring of at least 3 corners). */
export type Area = { circle: { lat: number; lon: number; radiusM: number } } | { polygon: LatLon[] };

/** The area's bounding box (a circle's box is widened by its radius). */
export function areaBBox(a: Area): BBox {
  if ("circle" in a) {
    const { lat, lon, radiusM } = a.circle;
    const dLat = radiusM / (R * RAD);
    const dLon = radiusM / (R * RAD * Math.max(Math.cos(lat * RAD), 1e-6));
    return { minLat: lat - dLat, maxLat: lat + dLat, minLon: lon - dLon, maxLon: lon + dLon };
  }
  return bboxOf(a.polygon)!;
}

/** Whether p lies inside the area (polygon: even-odd rule; points on an edge may go either way). */
export function inArea(a: Area, p: LatLon): boolean {
  if ("circle" in a) return distanceM(a.circle, p) <= a.circle.radiusM;
  const ring = a.polygon;
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const pi = ring[i]!;
    const pj = ring[j]!;
    if (pi.lat > p.lat !== pj.lat > p.lat && p.lon < ((pj.lon - pi.lon) * (p.lat - pi.lat)) / (pj.lat - pi.lat) + pi.lon) inside = !inside;
  }
  return inside;
}

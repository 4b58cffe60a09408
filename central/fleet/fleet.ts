/**
 * Fleet queries over the mirror's track chunks (cp_track) and live positions (cp_position):
 * a vehicle's track for a window, every vehicle's latest position, and place-and-time search.
 * Search is two steps: SQL picks chunks whose box and time span meet the area's box and the
 * window (bound parameters; lat/lon in 1e-7 degrees), then each chunk's line pieces are tested
 * exactly (visits.ts). Footage per hit comes from the mirror's merged timeline.
 */
import type { Area } from "../../lib/geo.ts";
import { areaBBox } from "../../lib/geo.ts";
import type { Db } from "../db.ts";
import { mergeChunks, pieceTouches, type TimeRange, type TrackPoint } from "./visits.ts";
import { pieceEnds } from "./pieces.ts";

export interface SiteVisits {
  siteId: string;
  visits: TimeRange[];
}

export interface FootagePiece {
  fromMs: number;
  toMs: number;
  at: "central" | "edge" | "gone";
}

const e7 = (v: number) => Math.round(v * 1e7);

export class FleetStore {
  constructor(private readonly db: () => Db) {}

  async track(siteId: string, fromMs: number, toMs: number, limit = 50_000): Promise<TrackPoint[]> {
    const rows = await this.db().all<{ points: string }>(`SELECT points FROM cp_track WHERE site_id = $1 AND start_ms < $2 AND end_ms >= $3 ORDER BY start_ms LIMIT $4`, [siteId, toMs, fromMs, Math.ceil(limit / 10)]);
    return mergeChunks(rows.map((r) => JSON.parse(r.points) as TrackPoint[]))
      .filter((p) => p[0] >= fromMs && p[0] < toMs)
      .slice(0, limit);
  }

  /** The track of a window for an export sidecar: the last point before it, its points, the first after (chunks hold ≤ 10 minutes). */
  async around(siteId: string, fromMs: number, toMs: number): Promise<TrackPoint[]> {
    const pts = await this.track(siteId, fromMs - 600_000, toMs + 600_000);
    const before = pts.filter((p) => p[0] < fromMs).at(-1);
    const after = pts.find((p) => p[0] >= toMs);
    return [...(before ? [before] : []), ...pts.filter((p) => p[0] >= fromMs && p[0] < toMs), ...(after ? [after] : [])];
  }

  async positions(): Promise<{ siteId: string; atMs: number; receivedMs: number; data: Record<string, unknown> }[]> {
    const rows = await this.db().all<{ site_id: string; at_ms: string; received_ms: string; data: string }>(`SELECT site_id, at_ms, received_ms, data FROM cp_position`);
    return rows.map((r) => ({ siteId: r.site_id, atMs: Number(r.at_ms), receivedMs: Number(r.received_ms), data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  /**
   * Sites whose track entered `area` during [fromMs, toMs), with the time ranges; `siteOk` filters
   * (rights). Reads the piece index (pieces.ts: narrow integer rows, finished days sorted by
   * place), then tests each candidate piece exactly, as visits.ts does on a chunk.
   */
  async search(area: Area, fromMs: number, toMs: number, siteOk: (siteId: string) => boolean): Promise<SiteVisits[]> {
    const b = areaBBox(area);
    const rows = await this.db().all<{ site_id: string; t0: string; t1: string; min_lat: number; max_lat: number; min_lon: number; max_lon: number; dir: number }>(
      `SELECT site_id, t0, t1, min_lat, max_lat, min_lon, max_lon, dir FROM fleet_pieces WHERE t1 >= $1 AND t0 < $2 AND max_lat >= $3 AND min_lat <= $4 AND max_lon >= $5 AND min_lon <= $6
       UNION ALL
       SELECT site_id, t0, t1, min_lat, max_lat, min_lon, max_lon, dir FROM fleet_pieces_recent WHERE t1 >= $1 AND t0 < $2 AND max_lat >= $3 AND min_lat <= $4 AND max_lon >= $5 AND min_lon <= $6`,
      [fromMs, toMs, e7(b.minLat), e7(b.maxLat), e7(b.minLon), e7(b.maxLon)],
    );
    const bySite = new Map<string, TimeRange[]>();
    for (const r of rows) {
      if (!siteOk(r.site_id)) continue;
      const [a, z] = pieceEnds(r);
      if (!pieceTouches(area, a, z)) continue;
      // As visits.ts: the piece's whole span, clipped to the window; a point lasts 1 ms.
      const t0 = Number(r.t0);
      const t1 = Number(r.t1);
      const f = Math.max(t0, fromMs);
      const t = Math.min(Math.max(t1, t0 + 1), toMs);
      if (t <= f) continue;
      let list = bySite.get(r.site_id);
      if (!list) bySite.set(r.site_id, (list = []));
      list.push({ fromMs: f, toMs: t });
    }
    return [...bySite].map(([siteId, vs]) => ({ siteId, visits: mergeTimes(vs) })).sort((x, y) => x.siteId.localeCompare(y.siteId));
  }
}

export function mergeTimes(rs: TimeRange[]): TimeRange[] {
  const out: TimeRange[] = [];
  for (const r of [...rs].sort((a, b) => a.fromMs - b.fromMs)) {
    const last = out.at(-1);
    if (last && r.fromMs <= last.toMs) last.toMs = Math.max(last.toMs, r.toMs);
    else out.push({ ...r });
  }
  return out;
}

/** Where the footage of [fromMs, toMs) is: timeline pieces held by central (or both) / only the edge, the rest gone. */
export function footageOf(ranges: { startMs: number; endMs: number; held: "edge" | "central" | "both" }[], fromMs: number, toMs: number): FootagePiece[] {
  const out: FootagePiece[] = [];
  let t = fromMs;
  for (const r of [...ranges].sort((a, b) => a.startMs - b.startMs)) {
    const a = Math.max(r.startMs, fromMs);
    const b = Math.min(r.endMs, toMs);
    if (b <= a) continue;
    if (a > t) out.push({ fromMs: t, toMs: a, at: "gone" });
    const at = r.held === "edge" ? "edge" : "central";
    const last = out.at(-1);
    if (last && last.at === at && last.toMs >= a) last.toMs = Math.max(last.toMs, b);
    else out.push({ fromMs: Math.max(a, t), toMs: b, at });
    t = Math.max(t, b);
  }
  if (t < toMs) out.push({ fromMs: t, toMs, at: "gone" });
  return out;
}

/**
 * Retention of central's previews. A preview is kept while it is useful: while central still
 * knows the segment at the edge (the index mirror lists it — the operator may yet pull it), or
 * while it is inside the camera's central retention (config `retention`, the same per-camera
 * policy as central's footage): younger than `maxAgeHours`, and among the newest `maxBytes` of
 * the camera's previews. A preview goes only when both are over: the edge no longer has the
 * segment and it is past retention. Runs with central's store retention (central/retention.ts).
 */
import type { RetentionPolicy } from "../../lib/store/index.ts";
import type { Sql } from "../db/index.ts";
import type { PreviewStore } from "./store.ts";

export interface PreviewRetentionDeps {
  store: PreviewStore;
  now: () => number;
  /** Central's retention policy of a central camera id `<site>.<camera>`. */
  policyOf: (centralCameraId: string) => RetentionPolicy;
  /** Start times of the segments central knows at the edge for this camera/stream in [fromMs, toMs]. */
  edgeHas: (siteId: string, cameraId: string, stream: string, fromMs: number, toMs: number) => Promise<Set<number>>;
}

export interface PrunedCamera {
  siteId: string;
  cameraId: string;
  previews: number;
  bytes: number;
  fromMs: number;
  toMs: number;
}

/** The edge's segments as central's index mirror knows them (central/sites' cp_segments). */
export function mirrorEdgeHas(mirror: () => Pick<Sql, "query"> | null): PreviewRetentionDeps["edgeHas"] {
  return async (siteId, cameraId, stream, fromMs, toMs) => {
    const db = mirror();
    // No mirror yet (central starting): know everything, delete nothing.
    if (!db) return everything;
    const rows = await db.query<{ s: number }>(
      `SELECT start_ms AS s FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms >= $4 AND start_ms <= $5`,
      [siteId, cameraId, stream, fromMs, toMs],
    );
    return new Set(rows.map((r) => Number(r.s)));
  };
}

/** A set that holds every start time: "the edge may still have it" when the mirror is not open. */
const everything = new Proxy(new Set<number>(), { get: (t, k) => (k === "has" ? () => true : Reflect.get(t, k, t)) });

/** One pass: deletes the previews past retention whose segment the edge no longer has. */
export async function prunePreviews(d: PreviewRetentionDeps): Promise<PrunedCamera[]> {
  const out: PrunedCamera[] = [];
  const now = d.now();
  for (const cam of await d.store.cameras()) {
    const policy = d.policyOf(`${cam.siteId}.${cam.cameraId}`);
    if (policy.maxAgeMs === undefined && policy.maxBytes === undefined) continue;
    const past: { stream: string; startMs: number; endMs: number; bytes: number }[] = [];
    let kept = 0;
    for (const s of await d.store.segmentsOf(cam.siteId, cam.cameraId)) {
      kept += s.bytes;
      const old = policy.maxAgeMs !== undefined && s.endMs <= now - policy.maxAgeMs;
      const over = policy.maxBytes !== undefined && kept > policy.maxBytes;
      if (old || over) past.push(s);
    }
    if (!past.length) continue;
    const done: typeof past = [];
    for (const stream of new Set(past.map((p) => p.stream))) {
      const mine = past.filter((p) => p.stream === stream);
      const known = await d.edgeHas(cam.siteId, cam.cameraId, stream, Math.min(...mine.map((p) => p.startMs)), Math.max(...mine.map((p) => p.startMs)));
      for (const p of mine) {
        if (known.has(p.startMs)) continue;
        await d.store.remove(cam.siteId, cam.cameraId, p.stream, p.startMs);
        done.push(p);
      }
    }
    if (done.length)
      out.push({
        ...cam,
        previews: done.length,
        bytes: done.reduce((a, p) => a + p.bytes, 0),
        fromMs: Math.min(...done.map((p) => p.startMs)),
        toMs: Math.max(...done.map((p) => p.endMs)),
      });
  }
  return out;
}

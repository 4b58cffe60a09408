/**
 * A vehicle's track coloured by where its video is: the track's line pieces cut wherever the
 * footage changes between "central" (central holds it), "edge" (only the edge does) and "gone"
 * (nobody: never recorded, or overwritten). With several cameras a moment counts as its best
 * holding (central > edge > gone): the map answers "is there video of this place at central?".
 * As in visits.ts, no line is drawn across "no fix" / "no source": a run ends there.
 */
import type { FootagePiece } from "./fleet.ts";
import type { TrackPoint } from "./visits.ts";

export type Holding = FootagePiece["at"];
const RANK: Record<Holding, number> = { gone: 0, edge: 1, central: 2 };

/** [atMs, lat, lon, speedMps, headingDeg] */
export type RunPoint = [number, number, number, number | null, number | null];
export interface TrackRun {
  fromMs: number;
  toMs: number;
  at: Holding;
  points: RunPoint[];
}

/** Per moment of [fromMs, toMs), the best holding over the cameras' footage pieces (each camera's pieces cover the window). */
export function bestHolding(perCamera: readonly FootagePiece[][], fromMs: number, toMs: number): FootagePiece[] {
  const cuts = [...new Set([fromMs, toMs, ...perCamera.flat().flatMap((p) => [p.fromMs, p.toMs])])].filter((t) => t >= fromMs && t <= toMs).sort((a, b) => a - b);
  const out: FootagePiece[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const a = cuts[i]!;
    const b = cuts[i + 1]!;
    let at: Holding = "gone";
    for (const cam of perCamera) {
      const p = cam.find((x) => x.fromMs <= a && x.toMs > a);
      if (p && RANK[p.at] > RANK[at]) at = p.at;
    }
    const last = out.at(-1);
    if (last && last.at === at) last.toMs = b;
    else out.push({ fromMs: a, toMs: b, at });
  }
  return out;
}

const fixOf = (p: TrackPoint): RunPoint | null => (p[1] >= 2 && p[2] !== null && p[3] !== null ? [p[0], p[2], p[3], p[4], p[5]] : null);
const holdingAt = (h: readonly FootagePiece[], t: number): Holding => h.find((x) => x.fromMs <= t && x.toMs > t)?.at ?? "gone";

/** The track as runs of one holding each; a run's ends are interpolated where the holding changes mid-piece. */
export function splitTrack(points: readonly TrackPoint[], holdings: readonly FootagePiece[]): TrackRun[] {
  const runs: TrackRun[] = [];
  let cur: TrackRun | null = null;
  const open = (p: RunPoint, at: Holding) => {
    cur = { fromMs: p[0], toMs: p[0], at, points: [p] };
    runs.push(cur);
  };
  const extend = (p: RunPoint) => {
    cur!.points.push(p);
    cur!.toMs = p[0];
  };
  for (let i = 0; i < points.length; i++) {
    const a = fixOf(points[i]!);
    if (!a) {
      cur = null; // no line across "no fix"
      continue;
    }
    if (!cur) open(a, holdingAt(holdings, a[0]));
    const next = points[i + 1];
    const b = next ? fixOf(next) : null;
    if (!b) continue;
    // cut the piece a→b at every holding boundary inside it
    for (const h of holdings) {
      if (h.fromMs <= a[0] || h.fromMs >= b[0]) continue;
      const f = (h.fromMs - a[0]) / (b[0] - a[0]);
      const m: RunPoint = [h.fromMs, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f, a[3], a[4]];
      extend(m);
      open(m, h.at);
    }
    extend(b);
    // a boundary exactly at b: the next piece starts a run of the new holding
    const atB = holdingAt(holdings, b[0]);
    if (atB !== (cur as TrackRun | null)!.at) open(b, atB);
  }
  return runs;
}

import { expect, test } from "bun:test";
import fc from "fast-check";
import { bestHolding, splitTrack } from "./track-holdings.ts";
import type { TrackPoint } from "./visits.ts";

const fix = (t: number, lat: number, lon: number): TrackPoint => [t, 3, lat, lon, 10, 90];
const nofix = (t: number): TrackPoint => [t, 1, null, null, null, null];

test("bestHolding: per moment the best camera's holding (central > edge > gone)", () => {
  const camA = [{ fromMs: 0, toMs: 50, at: "edge" as const }, { fromMs: 50, toMs: 100, at: "gone" as const }];
  const camB = [{ fromMs: 0, toMs: 20, at: "gone" as const }, { fromMs: 20, toMs: 30, at: "central" as const }, { fromMs: 30, toMs: 100, at: "gone" as const }];
  expect(bestHolding([camA, camB], 0, 100)).toEqual([
    { fromMs: 0, toMs: 20, at: "edge" },
    { fromMs: 20, toMs: 30, at: "central" },
    { fromMs: 30, toMs: 50, at: "edge" },
    { fromMs: 50, toMs: 100, at: "gone" },
  ]);
  expect(bestHolding([], 0, 100)).toEqual([{ fromMs: 0, toMs: 100, at: "gone" }]);
});

test("splitTrack: a piece is cut where the holding changes (interpolated), and no line crosses 'no fix'", () => {
  const pts = [fix(0, 47, 8), fix(100, 47, 8.01), nofix(150), fix(200, 47.01, 8.01), fix(300, 47.02, 8.01)];
  const h = [{ fromMs: 0, toMs: 50, at: "central" as const }, { fromMs: 50, toMs: 250, at: "edge" as const }, { fromMs: 250, toMs: 400, at: "gone" as const }];
  const runs = splitTrack(pts, h);
  expect(runs.map((r) => [r.at, r.fromMs, r.toMs])).toEqual([
    ["central", 0, 50],
    ["edge", 50, 100],
    ["edge", 200, 250],
    ["gone", 250, 300],
  ]);
  // the cut point lies halfway along the first piece
  expect(runs[0]!.points.at(-1)![2]).toBeCloseTo(8.005, 9);
  expect(runs[1]!.points[0]![2]).toBeCloseTo(8.005, 9);
});

test("splitTrack property: runs cover exactly the fixes' time, in order, each within one holding", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.boolean()), { minLength: 1, maxLength: 40 }),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 80 }), fc.constantFrom("central", "edge", "gone") as fc.Arbitrary<"central" | "edge" | "gone">), { minLength: 1, maxLength: 20 }),
      (steps, hs) => {
        let t = 0;
        const pts = steps.map(([d, ok], i) => ((t += d), ok ? fix(t, 47 + i * 1e-4, 8) : nofix(t)));
        let h0 = 0;
        const holdings = hs.map(([d, at]) => ({ fromMs: h0, toMs: (h0 += d), at }));
        holdings.at(-1)!.toMs = Math.max(h0, t + 1);
        const runs = splitTrack(pts, holdings);
        for (const r of runs) {
          for (const p of r.points) expect(p[0]).toBeGreaterThanOrEqual(r.fromMs);
          // every point strictly inside the run has the run's holding
          for (const p of r.points.slice(0, -1)) expect(holdings.find((x) => x.fromMs <= p[0] && x.toMs > p[0])?.at).toBe(r.at);
        }
        // every fix appears in some run
        for (const p of pts.filter((x) => x[1] >= 2)) expect(runs.some((r) => r.points.some((q) => q[0] === p[0]))).toBe(true);
      },
    ),
  );
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { distanceToSegmentM } from "../../lib/geo.ts";
import type { Fix } from "./gpsd.ts";
import { TrackThinner } from "./thin.ts";

const opts = { toleranceM: 10, maxIntervalMs: 30_000, speedDeltaMps: 3 };

/** Random tracks: steps of 0.2-3 s, moves of up to ~60 m, losses of fix, a few jumps. */
const track = fc
  .array(
    fc.record({
      dtMs: fc.integer({ min: 200, max: 3000 }),
      dLat: fc.double({ min: -0.0005, max: 0.0005, noNaN: true }),
      dLon: fc.double({ min: -0.0005, max: 0.0005, noNaN: true }),
      speed: fc.double({ min: 0, max: 30, noNaN: true }),
      mode: fc.constantFrom<0 | 1 | 2 | 3>(3, 3, 3, 3, 3, 2, 1, 0),
    }),
    { minLength: 1, maxLength: 300 },
  )
  .map((steps) => {
    let t = 1_700_000_000_000;
    let lat = 47;
    let lon = 8;
    return steps.map((s): Fix => {
      t += s.dtMs;
      lat += s.dLat;
      lon += s.dLon;
      return s.mode >= 2 ? { atMs: t, mode: s.mode, lat, lon, speed: s.speed } : { atMs: t, mode: s.mode };
    });
  });

function thin(fixes: Fix[]): Fix[] {
  const t = new TrackThinner(opts);
  return [...fixes.flatMap((f) => t.push(f)), ...t.flush()];
}

describe("TrackThinner", () => {
  test("keeps an ordered subsequence that starts with the first fix and ends with the last", () => {
    fc.assert(
      fc.property(track, (fixes) => {
        const kept = thin(fixes);
        let i = 0;
        for (const k of kept) {
          while (i < fixes.length && fixes[i] !== k) i++;
          expect(i).toBeLessThan(fixes.length); // k is one of the input fixes, in order
          i++;
        }
        expect(kept[0]).toBe(fixes[0]!);
        expect(kept.at(-1)).toBe(fixes.at(-1)!);
      }),
    );
  });

  test("every dropped fix lies within the tolerance of the kept track, and position/no-position changes are kept on both sides", () => {
    fc.assert(
      fc.property(track, (fixes) => {
        const kept = new Set(thin(fixes));
        let prevKept: Fix | undefined;
        for (let i = 0; i < fixes.length; i++) {
          const f = fixes[i]!;
          const pos = f.mode >= 2;
          const prev = fixes[i - 1];
          if (prev && (prev.mode >= 2) !== pos) {
            expect(kept.has(f)).toBe(true);
            expect(kept.has(prev)).toBe(true);
          }
          if (kept.has(f)) {
            prevKept = f;
            continue;
          }
          if (!pos) continue;
          const next = fixes.slice(i + 1).find((x) => kept.has(x))!;
          expect(prevKept!.mode >= 2 && next.mode >= 2).toBe(true);
          expect(distanceToSegmentM(f as { lat: number; lon: number }, prevKept as { lat: number; lon: number }, next as { lat: number; lon: number })).toBeLessThanOrEqual(opts.toleranceM + 1e-6);
        }
      }),
    );
  });

  test("kept points are at most maxInterval apart (plus one input step), and speed changes of speedDelta are kept", () => {
    fc.assert(
      fc.property(track, (fixes) => {
        const kept = thin(fixes);
        for (let i = 1; i < kept.length; i++) expect(kept[i]!.atMs - kept[i - 1]!.atMs).toBeLessThanOrEqual(opts.maxIntervalMs + 3000);
        const keptSet = new Set(kept);
        // a fix whose speed differs by ≥ speedDelta from the kept fix before it is kept
        let anchor: Fix | undefined;
        for (const f of fixes) {
          if (keptSet.has(f)) {
            anchor = f;
            continue;
          }
          if (anchor && f.speed !== undefined && anchor.speed !== undefined) expect(Math.abs(f.speed - anchor.speed)).toBeLessThan(opts.speedDeltaMps);
        }
      }),
    );
  });

  test("a straight drive at constant speed thins to its ends and one point per maxInterval", () => {
    const fixes: Fix[] = [];
    for (let i = 0; i <= 120; i++) fixes.push({ atMs: i * 1000, mode: 3, lat: 47 + i * 0.0001, lon: 8, speed: 11 });
    const kept = thin(fixes);
    expect(kept.map((k) => k.atMs)).toEqual([0, 30_000, 60_000, 90_000, 120_000]);
  });

  test("a right-angle turn keeps the corner", () => {
    const fixes: Fix[] = [];
    for (let i = 0; i <= 10; i++) fixes.push({ atMs: i * 1000, mode: 3, lat: 47 + i * 0.0001, lon: 8, speed: 11 });
    for (let i = 1; i <= 10; i++) fixes.push({ atMs: (10 + i) * 1000, mode: 3, lat: 47.001, lon: 8 + i * 0.00015, speed: 11 });
    const kept = thin(fixes);
    expect(kept.map((k) => k.atMs)).toEqual([0, 10_000, 20_000]);
  });
});

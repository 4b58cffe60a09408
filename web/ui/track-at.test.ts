import { expect, test } from "bun:test";
import { positionAt } from "./track-at.ts";

const pt = (s: number, lat?: number, lon?: number, speedMps?: number, headingDeg?: number) => ({ time: new Date(s * 1000).toISOString(), fix: lat === undefined ? "no-fix" : "3d", ...(lat !== undefined ? { lat, lon, speedMps, headingDeg } : {}) });

test("positionAt: interpolated between two fixes, the last point before a no-fix, nothing before the track", () => {
  const pts = [pt(10, 47, 8, 10, 90), pt(20, 47, 8.001, 20, 90), pt(30), pt(40, 47.1, 8.1, 0, 180)];
  expect(positionAt(pts, 5000)).toBeNull();
  const mid = positionAt(pts, 15_000)!;
  expect(mid.lon).toBeCloseTo(8.0005, 9);
  expect(mid.speedMps).toBeCloseTo(15, 9);
  expect(mid.headingDeg).toBe(90);
  // after the last fix before "no fix": that fix, not a line drawn into the tunnel
  expect(positionAt(pts, 25_000)).toMatchObject({ lat: 47, lon: 8.001, speedMps: 20 });
  expect(positionAt(pts, 35_000)).toEqual({ fix: "no-fix", timeMs: 30_000 });
  expect(positionAt(pts, 99_000)).toMatchObject({ lat: 47.1, headingDeg: 180 });
});

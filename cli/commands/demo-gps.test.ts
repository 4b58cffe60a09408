import { expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { DEMO_TOWN, demoRoute, startDemoGps } from "./demo-gps.ts";
import { routeEpochs } from "../../camsim/gps.ts";

test("each demo bus drives its own closed loop through the town (no jump when the replay starts over)", () => {
  const loops = [0, 1, 2, 3, 4].map((n) => routeEpochs(demoRoute(n).start, demoRoute(n).steps));
  for (const e of loops) {
    const first = e[0]!;
    const last = e.at(-1)!;
    expect(Math.abs(first.lat - last.lat) + Math.abs(first.lon - last.lon)).toBeLessThan(1e-9);
    expect(e.some((x) => x.speedMps > 0)).toBe(true);
    for (const x of e) {
      expect(Math.abs(x.lat - DEMO_TOWN.lat)).toBeLessThan(0.03);
      expect(Math.abs(x.lon - DEMO_TOWN.lon)).toBeLessThan(0.03);
    }
  }
  // different routes: no two buses share a start
  const starts = loops.map((e) => `${e[0]!.lat.toFixed(5)},${e[0]!.lon.toFixed(5)}`);
  expect(new Set(starts).size).toBe(starts.length);
});

test("without gpsfake the demo's GPS says why instead of failing", async () => {
  const r = await startDemoGps(0, tmpdir(), () => null);
  expect(r).toEqual({ why: expect.stringContaining("gpsfake is not installed") });
});

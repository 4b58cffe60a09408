import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { Db } from "../db.ts";
import type { SiteEvent } from "../sites/index.ts";
import { footageOf, mergeTimes } from "./fleet.ts";
import { Geofences } from "./geofences.ts";
import { visits, type TrackPoint } from "./visits.ts";

const fix = (t: number, lat: number, lon: number): TrackPoint => [t, 3, lat, lon, 10, 90];
const nofix = (t: number): TrackPoint => [t, 1, null, null, null, null];
const circle = { circle: { lat: 47.372, lon: 8.542, radiusM: 40 } };

describe("visits", () => {
  test("a piece that passes through a circle counts though no kept point is inside", () => {
    const pts = [fix(1000, 47.372, 8.54), fix(31_000, 47.372, 8.546)];
    expect(visits(circle, pts, 0, 100_000)).toEqual([{ fromMs: 1000, toMs: 31_000 }]);
  });

  test("no line is drawn across 'no fix'; the window clips; an area beside the route finds nothing", () => {
    const pts = [fix(1000, 47.372, 8.54), nofix(10_000), fix(31_000, 47.372, 8.546)];
    expect(visits(circle, pts, 0, 100_000)).toEqual([]);
    expect(visits(circle, [fix(1000, 47.372, 8.54), fix(31_000, 47.372, 8.546)], 5000, 20_000)).toEqual([{ fromMs: 5000, toMs: 20_000 }]);
    expect(visits({ circle: { lat: 47.373, lon: 8.542, radiusM: 40 } }, [fix(1000, 47.372, 8.54), fix(31_000, 47.372, 8.546)], 0, 100_000)).toEqual([]);
  });

  test("a polygon crossed by a piece, and one containing a point", () => {
    const poly = { polygon: [{ lat: 47.3715, lon: 8.541 }, { lat: 47.3725, lon: 8.541 }, { lat: 47.3725, lon: 8.543 }, { lat: 47.3715, lon: 8.543 }] };
    expect(visits(poly, [fix(0, 47.372, 8.54), fix(10, 47.372, 8.546)], 0, 100)).toEqual([{ fromMs: 0, toMs: 10 }]);
    expect(visits(poly, [fix(0, 47.372, 8.542)], 0, 100)).toEqual([{ fromMs: 0, toMs: 1 }]);
  });

  test("property: a straight piece through the centre of any circle is found, one far away never is", () => {
    fc.assert(
      fc.property(fc.double({ min: -60, max: 60, noNaN: true }), fc.double({ min: -170, max: 170, noNaN: true }), fc.integer({ min: 5, max: 2000 }), (lat, lon, r) => {
        const c = { circle: { lat, lon, radiusM: r } };
        const d = 0.05; // about 5 km on either side
        expect(visits(c, [fix(0, lat - d, lon), fix(60_000, lat + d, lon)], 0, 60_000).length).toBe(1);
        expect(visits(c, [fix(0, lat + 0.5, lon), fix(60_000, lat + 0.6, lon)], 0, 60_000)).toEqual([]);
      }),
    );
  });
});

test("footageOf: central (or both), edge only, gone", () => {
  expect(footageOf([{ startMs: 10, endMs: 20, held: "both" }, { startMs: 20, endMs: 30, held: "edge" }], 0, 40)).toEqual([
    { fromMs: 0, toMs: 10, at: "gone" },
    { fromMs: 10, toMs: 20, at: "central" },
    { fromMs: 20, toMs: 30, at: "edge" },
    { fromMs: 30, toMs: 40, at: "gone" },
  ]);
  expect(mergeTimes([{ fromMs: 5, toMs: 9 }, { fromMs: 0, toMs: 6 }, { fromMs: 20, toMs: 30 }])).toEqual([{ fromMs: 0, toMs: 9 }, { fromMs: 20, toMs: 30 }]);
});

test("geofences: a passage is an entry and an exit, once, across chunks and a restart", async () => {
  const db = await Db.open(":memory:");
  const events: SiteEvent[] = [];
  const log = new Logger({ component: "t", sink: new MemorySink() });
  let g = new Geofences({ db: () => db, emit: (e) => events.push(e), log });
  await g.init();
  await db.run(`INSERT INTO fleet_geofences VALUES ('m5', 'Main & 5th', $1, 0)`, [JSON.stringify(circle)]);
  g = new Geofences({ db: () => db, emit: (e) => events.push(e), log });
  await g.init();
  // chunk 1 stops inside; chunk 2 (repeating chunk 1's last point first) leaves
  await g.onTrack("bus", [fix(1000, 47.372, 8.538), fix(2000, 47.372, 8.542)]);
  expect(events.map((e) => [e.kind, e.atMs])).toEqual([["geofence.enter", 1000]]);
  g = new Geofences({ db: () => db, emit: (e) => events.push(e), log }); // restart: the inside state is kept
  await g.init();
  await g.onTrack("bus", [fix(2000, 47.372, 8.542), fix(3000, 47.372, 8.546)]);
  expect(events.map((e) => [e.kind, e.atMs])).toEqual([["geofence.enter", 1000], ["geofence.leave", 3000]]);
  // another bus passes straight through without a kept point inside; a no-fix gap draws no line
  await g.onTrack("bus2", [fix(5000, 47.372, 8.54), fix(6000, 47.372, 8.546), nofix(7000), fix(8000, 47.372, 8.54)]);
  expect(events.filter((e) => e.siteId === "bus2").map((e) => [e.kind, e.atMs])).toEqual([["geofence.enter", 5000], ["geofence.leave", 6000]]);
  await db.close();
});

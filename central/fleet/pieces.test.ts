import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { join } from "node:path";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { removeTempDirs, tempDir } from "../../tests/helpers.ts";
import type { Db } from "../db.ts";
import { openFleetTables } from "../mirror/tables.ts";
import { FleetStore, mergeTimes } from "./fleet.ts";
import { TrackIndex, piecesOf } from "./pieces.ts";
import { visits, type TrackPoint } from "./visits.ts";

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 5, 1, 22, 0, 0); // chunks on both sides of midnight
let db: Db;
const log = new Logger({ component: "test", sink: new MemorySink(), level: "error" });

beforeAll(async () => {
  db = await openFleetTables(join(await tempDir("fleet-pieces"), "sites.duckdb"));
});
afterAll(async () => {
  await db.close();
  await removeTempDirs();
});

// Coordinates on the 1e-7 grid the index stores, in a 2 × 2 km town; fix modes as the edge sends them.
const coord = (base: number) => fc.integer({ min: 0, max: 20_000 }).map((d) => Math.round((base + d / 1e6) * 1e7) / 1e7);
const point = fc.tuple(fc.integer({ min: 1, max: 120_000 }), fc.constantFrom(0, 1, 2, 3, 3, 3), coord(47.37), coord(8.53));
const chunk = fc.array(point, { minLength: 1, maxLength: 12 });
const area = fc.oneof(
  fc.record({ circle: fc.record({ lat: coord(47.37), lon: coord(8.53), radiusM: fc.integer({ min: 5, max: 800 }) }) }),
  fc.tuple(coord(47.37), coord(8.53), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 })).map(([lat, lon, h, w]) => ({
    polygon: [{ lat, lon }, { lat: lat + h / 1e6, lon }, { lat: lat + h / 1e6, lon: lon + w / 1e6 }, { lat, lon: lon + w / 1e6 }],
  })),
);

test("property: search over the piece index (recent and place-sorted days) finds exactly what visits() finds over the chunks", async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom("bus-a", "bus-b", "bus-c"), chunk), { minLength: 1, maxLength: 8 }), area, fc.integer({ min: 0, max: 3 * 3_600_000 }), fc.integer({ min: 1, max: 3 * 3_600_000 }), fc.boolean(), async (raw, a, from, len, settle) => {
      await db.run(`DELETE FROM fleet_pieces`).catch(() => undefined);
      await db.run(`DELETE FROM fleet_pieces_recent`).catch(() => undefined);
      const now = T0 + 3 * DAY;
      const index = new TrackIndex({ db: () => db, log, now: () => now });
      await index.init();
      // Each site's chunks follow in time; a chunk repeats the previous chunk's last point (as track sync does).
      const bySite = new Map<string, TrackPoint[][]>();
      const t = new Map<string, number>();
      for (const [site, pts] of raw) {
        let at = t.get(site) ?? T0 + run;
        const prev = bySite.get(site)?.at(-1)?.at(-1);
        const c: TrackPoint[] = [...(prev ? [prev] : []), ...pts.map(([dt, mode, lat, lon]) => [(at += dt), mode, mode >= 2 ? lat : null, mode >= 2 ? lon : null, 5, 90] as TrackPoint)];
        t.set(site, at);
        bySite.set(site, [...(bySite.get(site) ?? []), c]);
        await index.add(site, c);
      }
      if (settle) expect(await index.settle()).toBeGreaterThanOrEqual(0);
      const fromMs = T0 + from;
      const toMs = fromMs + len;
      const got = await new FleetStore(() => db).search(a, fromMs, toMs, () => true);
      const want = [...bySite]
        .map(([siteId, chunks]) => ({ siteId, visits: mergeTimes(chunks.flatMap((c) => visits(a, c, fromMs, toMs))) }))
        .filter((s) => s.visits.length)
        .sort((x, y) => x.siteId.localeCompare(y.siteId));
      expect(got).toEqual(want);
      run++;
    }),
    { numRuns: 60 },
  );
}, 120_000);

test("settle moves only finished UTC days, sorted by place; a late chunk for an old day is found before and after the next settle", async () => {
  await db.run(`DELETE FROM fleet_pieces`);
  await db.run(`DELETE FROM fleet_pieces_recent`);
  let now = T0 + 2 * DAY;
  const index = new TrackIndex({ db: () => db, log, now: () => now });
  await index.init();
  const old: TrackPoint[] = [[T0, 3, 47.37, 8.53, 5, 0], [T0 + 30_000, 3, 47.371, 8.53, 5, 0]];
  const today: TrackPoint[] = [[now, 3, 47.37, 8.53, 5, 0], [now + 30_000, 3, 47.371, 8.53, 5, 0]];
  await index.add("bus-a", old);
  await index.add("bus-a", today);
  expect(await index.settle()).toBe(2); // a piece and the chunk's last fix (a point), of the old day
  const count = async (t: string) => Number((await db.all<{ n: string }>(t === "recent" ? `SELECT count(*) AS n FROM fleet_pieces_recent` : `SELECT count(*) AS n FROM fleet_pieces`))[0]!.n);
  expect([await count("sorted"), await count("recent")]).toEqual([2, 2]);
  const fleet = new FleetStore(() => db);
  const at = { circle: { lat: 47.3705, lon: 8.53, radiusM: 20 } };
  // A bus back after days offline: its chunk from the old day arrives now.
  await index.add("bus-b", [[T0 + 60_000, 3, 47.37, 8.53, 5, 0], [T0 + 90_000, 3, 47.371, 8.53, 5, 0]]);
  expect((await fleet.search(at, T0, T0 + DAY, () => true)).map((s) => s.siteId)).toEqual(["bus-a", "bus-b"]);
  now += DAY;
  expect(await index.settle()).toBe(4); // yesterday's and the late chunk's
  expect(await count("recent")).toBe(0);
  expect((await fleet.search(at, T0, T0 + DAY, () => true)).map((s) => s.siteId)).toEqual(["bus-a", "bus-b"]);
  expect((await fleet.search(at, T0, T0 + DAY, (s) => s === "bus-b")).map((s) => s.siteId)).toEqual(["bus-b"]);
  expect(piecesOf("x", [[T0, 1, null, null, null, null]])).toEqual([]);
});

test("an older mirror (chunks, no index) gets its index built from the chunks at start", async () => {
  const dir = await tempDir("fleet-pieces-upgrade");
  const m = await openFleetTables(join(dir, "sites.duckdb"));
  const pts: TrackPoint[] = [[T0, 3, 47.37, 8.53, 5, 0], [T0 + 30_000, 3, 47.371, 8.53, 5, 0]];
  await m.run(`INSERT INTO cp_track VALUES ($1, $2, $3, 473700000, 473710000, 85300000, 85300000, $4)`, ["bus-z", T0, T0 + 30_000, JSON.stringify(pts)]);
  const index = new TrackIndex({ db: () => m, log, now: () => T0 + 5 * DAY });
  await index.init();
  expect((await new FleetStore(() => m).search({ circle: { lat: 47.3705, lon: 8.53, radiusM: 20 } }, T0, T0 + DAY, () => true)).map((s) => s.siteId)).toEqual(["bus-z"]);
  await m.close();
});

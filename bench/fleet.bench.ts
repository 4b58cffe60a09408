/**
 * Benchmark (not a test): place-and-time search over 2,000 vehicles × 30 days of synthetic
 * tracks in central's sites mirror, through the same code central runs: the piece index
 * (central/fleet/pieces.ts) and FleetStore.search. Each vehicle drives 16 h a day in a 30 × 30
 * km town; one chunk per 5 minutes with 11 kept points (a point per 30 s) on a straight piece
 * (≤ 15 m/s × 300 s ≈ 4.5 km), i.e. 10 pieces and the chunk's last fix per chunk. Each day's
 * pieces are written in arrival order (time, then vehicle) into `fleet_pieces_recent` with one
 * bulk INSERT … SELECT, then TrackIndex.settle() (the hourly job) moves the finished day into
 * the place-sorted table, as at central; the last day stays in `recent` ("today").
 * Reports the time of searches for a 100 m circle and a 330 × 380 m polygon over windows of 2
 * hours, 1 day and 30 days (median and max of 7 runs, the first included).
 * Usage: bun bench/fleet.bench.ts [--vehicles 2000] [--days 30] [--keep FILE (reuse it if it exists)]
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openFleetTables } from "../central/mirror/tables.ts";
import { FleetStore, TrackIndex } from "../central/fleet/index.ts";
import type { Area } from "../lib/geo.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";

const { values } = parseArgs({ options: { vehicles: { type: "string", default: "2000" }, days: { type: "string", default: "30" }, keep: { type: "string" } } });
const V = Number(values.vehicles);
const D = Number(values.days);
const CHUNKS_PER_DAY = 16 * 12; // 16 h of service, 5-minute chunks
const T0 = Date.UTC(2026, 5, 1, 5, 0, 0); // 05:00 UTC on day 0
const DAY = 86_400_000;
// town: 47.2..47.47 N, 8.4..8.8 E (about 30 × 30 km)
const LAT0 = 47.2;
const LON0 = 8.4;

const dir = values.keep ? "" : await mkdtemp(join(tmpdir(), "fleet-bench-"));
const file = values.keep ?? join(dir, "sites.duckdb");
const reuse = values.keep !== undefined && (await stat(file).catch(() => null)) !== null;
const db = await openFleetTables(file);
let day = 0;
const index = new TrackIndex({ db: () => db, log: new Logger({ component: "bench", sink: new MemorySink(), level: "error" }), now: () => T0 + day * DAY });
await index.init();
let t = performance.now();
let settleMs = 0;
for (day = 0; day < (reuse ? 0 : D); day++) {
  // The day's pieces in arrival order. Per vehicle and chunk a straight piece from a hashed start,
  // heading and speed; point i at start + 30 s · i; pieces i → i+1 (i < 10) and the last fix (i = 10) as a point.
  await db.run(
    `INSERT INTO fleet_pieces_recent
     SELECT day, (floor(least(a, b) / 100000.0)::INTEGER + 9000) * 36001 + (floor(least(c, d) / 100000.0)::INTEGER + 18000),
            site, t0, t1, least(a, b), greatest(a, b), least(c, d), greatest(c, d), (CASE WHEN a <= b THEN 1 ELSE 0 END) + (CASE WHEN c <= d THEN 2 ELSE 0 END)
     FROM (
       SELECT (t0 // 86400000)::INTEGER AS day, site, t0, t1,
              CAST(round((la0 + (la1 - la0) * i / 10) * 1e7) AS INTEGER) AS a, CAST(round((la0 + (la1 - la0) * j / 10) * 1e7) AS INTEGER) AS b,
              CAST(round((lo0 + (lo1 - lo0) * i / 10) * 1e7) AS INTEGER) AS c, CAST(round((lo0 + (lo1 - lo0) * j / 10) * 1e7) AS INTEGER) AS d
       FROM (
         SELECT site, start_ms + i * 30000 AS t0, start_ms + j * 30000 AS t1, la0, la1, lo0, lo1, i, j
         FROM (
           SELECT 'bus-' || v AS site, $1::BIGINT + c * 300000 AS start_ms,
                  $2 + (hash(v, c, $3) % 27000) / 100000.0 AS la0, $4 + (hash(c, v, $3) % 40000) / 100000.0 AS lo0,
                  (hash(v + c, $3) % 1500) / 100.0 AS spd, (hash(v * 7 + c, $3) % 360) AS hdg
           FROM range($5::BIGINT) rv(v), range($6::BIGINT) rc(c)
         ) s, LATERAL (SELECT la0 + spd * 300 * cos(radians(hdg)) / 111320 AS la1, lo0 + spd * 300 * sin(radians(hdg)) / (111320 * cos(radians(la0))) AS lo1),
         LATERAL (SELECT i, least(i + 1, 10) AS j FROM range(0, 11) r(i))
       )
     )
     ORDER BY t0, site`,
    [BigInt(T0 + day * DAY), LAT0, day, LON0, BigInt(V), BigInt(CHUNKS_PER_DAY)],
  );
  // The next day begins: the hourly job sorts the finished day by place (not after the last day: "today").
  if (day < D - 1) {
    const s = performance.now();
    const prev = day;
    day++;
    await index.settle();
    day = prev;
    settleMs += performance.now() - s;
  }
}
await db.run(`CHECKPOINT`);
const [n] = await db.all<{ n: string }>(`SELECT (SELECT count(*) FROM fleet_pieces) + (SELECT count(*) FROM fleet_pieces_recent) AS n`);
console.log(
  `${V} vehicles × ${D} days: ${(V * D * CHUNKS_PER_DAY).toLocaleString()} chunks, ${Number(n!.n).toLocaleString()} index rows; written in ${((performance.now() - t) / 1000).toFixed(1)} s (settle ${(settleMs / 1000).toFixed(1)} s of it); file ${((await stat(file)).size / 1e9).toFixed(2)} GB`,
);
await db.close();

const reopened = await openFleetTables(file);
const fleet = new FleetStore(() => reopened);
const all = () => true;
const circle: Area = { circle: { lat: 47.33, lon: 8.6, radiusM: 100 } };
const poly: Area = { polygon: [{ lat: 47.33, lon: 8.6 }, { lat: 47.333, lon: 8.6 }, { lat: 47.333, lon: 8.605 }, { lat: 47.33, lon: 8.605 }] };
const mid = T0 + Math.floor(D / 2) * DAY + 9 * 3_600_000; // 14:00 UTC mid-month
const today = T0 + (D - 1) * DAY + 9 * 3_600_000; // 14:00 UTC on the last day (not yet sorted by place)
const cases: [string, Area, number, number][] = [
  ["circle 100 m, 2 h", circle, mid, mid + 2 * 3_600_000],
  ["circle 100 m, 2 h today", circle, today, today + 2 * 3_600_000],
  ["circle 100 m, 1 day", circle, mid - 9 * 3_600_000, mid + 15 * 3_600_000],
  ["polygon 330 × 380 m, 1 day", poly, mid - 9 * 3_600_000, mid + 15 * 3_600_000],
  ["circle 100 m, 30 days", circle, T0, T0 + D * DAY],
  ["polygon 330 × 380 m, 30 days", poly, T0, T0 + D * DAY],
];
for (const [name, area, from, to] of cases) {
  const times: number[] = [];
  let hits = 0;
  let visits = 0;
  for (let i = 0; i < 7; i++) {
    t = performance.now();
    const r = await fleet.search(area, from, to, all);
    times.push(performance.now() - t);
    hits = r.length;
    visits = r.reduce((a, x) => a + x.visits.length, 0);
  }
  times.sort((a, b) => a - b);
  console.log(`${name}: ${hits} vehicles, ${visits} passages; median ${times[3]!.toFixed(0)} ms, max ${times[6]!.toFixed(0)} ms (7 runs, first included)`);
}
await reopened.close();
if (!values.keep) await rm(dir, { recursive: true, force: true });

/**
 * Benchmark (not a test): place-and-time search over 2,000 vehicles × 30 days of synthetic
 * tracks in central's sites mirror (cp_track, the same schema and query FleetStore.search
 * runs). Each vehicle drives 16 h a day in a 30 × 30 km town; one chunk per 5 minutes with 11
 * kept points (a point per 30 s), rows in arrival (time) order. Reports the time of searches
 * for a 100 m circle and a polygon over windows of 2 hours, 1 day and 30 days.
 * Usage: bun bench/fleet.bench.ts [--vehicles 2000] [--days 30]
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openMirror } from "../central/sites/mirror.ts";
import { FleetStore } from "../central/fleet/index.ts";
import type { Area } from "../lib/geo.ts";

const { values } = parseArgs({ options: { vehicles: { type: "string", default: "2000" }, days: { type: "string", default: "30" }, keep: { type: "string" } } });
const V = Number(values.vehicles);
const D = Number(values.days);
const CHUNKS_PER_DAY = 16 * 12; // 16 h of service, 5-minute chunks
const T0 = Date.UTC(2026, 5, 1, 5, 0, 0); // 05:00 UTC on day 0
const DAY = 86_400_000;
// town: 47.2..47.47 N, 8.4..8.8 E (about 30 × 30 km)
const LAT0 = 47.2;
const LON0 = 8.4;

// --keep FILE: write the data set there (or reuse it if it exists) and leave it for the next run.
const dir = values.keep ? "" : await mkdtemp(join(tmpdir(), "fleet-bench-"));
const file = values.keep ?? join(dir, "sites.duckdb");
const reuse = values.keep !== undefined && (await stat(file).catch(() => null)) !== null;
const db = await openMirror(file);
let t = performance.now();
// Per vehicle and chunk a straight piece from a hashed start, heading and speed (≤ 15 m/s × 300 s ≈ 4.5 km).
// Rows come day by day, chunk by chunk, vehicle by vehicle: the order central receives them in.
for (let d = 0; d < (reuse ? 0 : D); d++) {
  await db.run(
    `INSERT INTO cp_track
     SELECT site, start_ms, end_ms,
            CAST(least(la0, la1) * 1e7 AS BIGINT), CAST(greatest(la0, la1) * 1e7 AS BIGINT),
            CAST(least(lo0, lo1) * 1e7 AS BIGINT), CAST(greatest(lo0, lo1) * 1e7 AS BIGINT),
            '[' || array_to_string(list_transform(range(0, 11), i -> '[' || (start_ms + i * 30000) || ',3,' || round(la0 + (la1 - la0) * i / 10, 7) || ',' || round(lo0 + (lo1 - lo0) * i / 10, 7) || ',' || spd || ',' || hdg || ']'), ',') || ']'
     FROM (
       SELECT 'bus-' || v AS site, $1::BIGINT + c * 300000 AS start_ms, $1::BIGINT + c * 300000 + 300000 AS end_ms,
              $2 + (hash(v, c, $3) % 27000) / 100000.0 AS la0, $4 + (hash(c, v, $3) % 40000) / 100000.0 AS lo0,
              (hash(v + c, $3) % 1500) / 100.0 AS spd, (hash(v * 7 + c, $3) % 360) AS hdg
       FROM range($5::BIGINT) rv(v), range($6::BIGINT) rc(c)
     ) s, LATERAL (SELECT la0 + spd * 300 * cos(radians(hdg)) / 111320 AS la1, lo0 + spd * 300 * sin(radians(hdg)) / (111320 * cos(radians(la0))) AS lo1)
     ORDER BY start_ms, site`,
    [BigInt(T0 + d * DAY), LAT0, d, LON0, BigInt(V), BigInt(CHUNKS_PER_DAY)],
  );
}
await db.close();
const rows = V * D * CHUNKS_PER_DAY;
console.log(`${V} vehicles × ${D} days: ${rows.toLocaleString()} chunks (${(rows * 11).toLocaleString()} points) written in ${((performance.now() - t) / 1000).toFixed(1)} s; file ${((await stat(file)).size / 1e9).toFixed(2)} GB`);

const reopened = await openMirror(file);
const fleet = new FleetStore(() => reopened);
const all = () => true;
const circle: Area = { circle: { lat: 47.33, lon: 8.6, radiusM: 100 } };
const poly: Area = { polygon: [{ lat: 47.33, lon: 8.6 }, { lat: 47.333, lon: 8.6 }, { lat: 47.333, lon: 8.605 }, { lat: 47.33, lon: 8.605 }] };
const mid = T0 + Math.floor(D / 2) * DAY + 9 * 3_600_000; // 14:00 UTC mid-month
const cases: [string, Area, number, number][] = [
  ["circle 100 m, 2 h", circle, mid, mid + 2 * 3_600_000],
  ["circle 100 m, 1 day", circle, mid - 9 * 3_600_000, mid + 15 * 3_600_000],
  ["polygon 330 × 380 m, 1 day", poly, mid - 9 * 3_600_000, mid + 15 * 3_600_000],
  ["circle 100 m, 30 days", circle, T0, T0 + D * DAY],
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

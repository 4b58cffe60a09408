/**
 * Alarm list paging on a real DuckDB file, checked against a plain in-memory sort: the newest /
 * oldest pages come from a time-bounded slice when the table is large, and must be exactly the
 * rows the whole-table sort gives — with runs of equal event times across page boundaries,
 * late (old) alarms appended last, filters that leave the bounded slice short, and deep offsets.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Db, type AppendValue } from "../db.ts";
import { systemClock } from "../../lib/clock.ts";
import { AlarmQuery, Alarms } from "./index.ts";

interface Ref {
  id: number;
  eventMs: number;
  camera: string;
  state: string;
}

let dir: string;
let db: Db;
let alarms: Alarms;
const ref: Ref[] = [];
const T0 = Date.UTC(2026, 5, 1);
const ALL = { sql: "TRUE", params: [] as string[] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "alarm-list-"));
  db = await Db.open(join(dir, "c.duckdb"));
  alarms = new Alarms(db, systemClock);
  await alarms.init();
  const rows: AppendValue[][] = [];
  const add = (id: number, eventMs: number, camera: string) => {
    const state = id % 7 === 0 ? "new" : "closed";
    ref.push({ id, eventMs, camera, state });
    rows.push([BigInt(id), state, 1 + (id % 5), `a${id}`, "", "site-1", camera, `e${id}`, "motion", BigInt(eventMs), false, "r1", null, BigInt(T0), BigInt(T0), null, "[]"]);
  };
  // 6,000 alarms, 7 per event time (so every page boundary falls inside a run of equal times),
  // ids not in time order within a run; then 300 late alarms with old event times, appended last.
  let id = 1;
  for (let i = 0; i < 6000; i++) add(id++, T0 + Math.floor(i / 7) * 1000, `cam-${i % 40}`);
  for (let i = 0; i < 300; i++) add(id++, T0 + (i % 50) * 1000 - 5_000, "cam-late");
  // One rare camera with alarms spread over the whole range: a bounded newest slice holds too few.
  for (let i = 0; i < 60; i++) add(id++, T0 + i * 14_000, "cam-rare");
  await db.append("alarms", rows);
});

afterAll(async () => {
  await alarms.close();
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

function expected(q: AlarmQuery): { ids: number[]; total: number } {
  let xs = ref.filter((r) => (!q.camera || r.camera === q.camera) && (!q.state || q.state.split(",").includes(r.state)));
  const asc = q.sort === "time";
  xs = [...xs].sort((a, b) => (asc ? a.eventMs - b.eventMs || a.id - b.id : b.eventMs - a.eventMs || b.id - a.id));
  return { ids: xs.slice(q.offset, q.offset + q.limit).map((r) => r.id), total: xs.length };
}

describe("alarm list pages equal the whole-table sort", () => {
  const cases: Record<string, string>[] = [
    {},
    { sort: "time" },
    { limit: "7" },
    { limit: "3", offset: "2" },
    { limit: "50", offset: "4" },
    { limit: "10", offset: "6350" },
    { limit: "500", offset: "5600" },
    { offset: "6355" },
    { offset: "7000" },
    { sort: "time", offset: "290", limit: "20" },
    { camera: "cam-rare" },
    { camera: "cam-rare", sort: "time", limit: "5", offset: "50" },
    { camera: "cam-late", limit: "500" },
    { camera: "cam-3", offset: "100" },
    { state: "new", limit: "25", offset: "30" },
    { camera: "cam-none" },
  ];
  for (const c of cases) {
    test(JSON.stringify(c), async () => {
      const q = AlarmQuery.parse(c);
      const r = await alarms.list(q, ALL);
      const want = expected(q);
      expect(r.alarms.map((a) => a.id)).toEqual(want.ids);
      expect(r.total).toBe(want.total);
    });
  }

  test("walking every page of 50 (newest first) visits each alarm once, in order", async () => {
    const seen: number[] = [];
    for (let off = 0; ; off += 50) {
      const r = await alarms.list(AlarmQuery.parse({ offset: String(off) }), ALL);
      seen.push(...r.alarms.map((a) => a.id));
      if (r.alarms.length < 50) break;
    }
    expect(seen).toEqual(expected(AlarmQuery.parse({ limit: "500", offset: "0" })).ids.length ? [...ref].sort((a, b) => b.eventMs - a.eventMs || b.id - a.id).map((r) => r.id) : []);
  });

  test("an alarm raised after the list was read shows on the next newest page", async () => {
    const id = alarms.raise({ priority: 1, title: "fresh", instructions: "", siteId: "site-1", cameraId: "cam-0", eventId: "fresh", eventType: "motion", eventTimeMs: T0 + 10_000_000, late: false, ruleId: "r1" });
    ref.push({ id, eventMs: T0 + 10_000_000, camera: "cam-0", state: "new" });
    const r = await alarms.list(AlarmQuery.parse({ limit: "1" }), ALL);
    expect(r.alarms.map((a) => a.id)).toEqual([id]);
  });
});

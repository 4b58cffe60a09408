/**
 * Alarm list paging on a real DuckDB file, checked against a plain in-memory sort: the newest /
 * oldest pages come from a time-bounded slice when the table is large, and must be exactly the
 * rows the whole-table sort gives — with runs of equal event times across page boundaries,
 * late (old) alarms appended last, filters that leave the bounded slice short, and deep offsets.
 */
/**
 * Alarm list paging on both drivers of central's database (embedded PGlite and a real
 * PostgreSQL 15), checked against a plain in-memory sort: pages must be exactly the rows the
 * whole-table sort gives — with runs of equal event times across page boundaries, late (old)
 * alarms appended last, filters, deep offsets — and totals exact, including the kept count of
 * the unfiltered list (alarm_count).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrateUp, openServer, type Database, type SqlValue } from "../db/index.ts";
import { syncIdentity } from "../db/from-duckdb.ts";
import { postgresUnavailable, startPostgres, testEmbedded, type TestPostgres } from "../db/testkit.ts";
import { systemClock } from "../../lib/clock.ts";
import { AlarmQuery, Alarms } from "./index.ts";

interface Ref {
  id: number;
  eventMs: number;
  camera: string;
  state: string;
}

let dir: string;
/** The second node's database handle (a second pool on the server; PGlite is one process's: the same handle). */
let secondHandle: (db: Database) => Promise<Database>;
let pg: TestPostgres | null = null;
const noServer = postgresUnavailable();
const T0 = Date.UTC(2026, 5, 1);
const ALL = { sql: "TRUE", params: [] as string[] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "alarm-list-"));
  if (!noServer) pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

const drivers: { name: string; skip: boolean; open: () => Promise<Database> }[] = [
  { name: "embedded (PGlite)", skip: false, open: () => testEmbedded(join(dir, "pg")) },
  { name: "server (PostgreSQL 15)", skip: !!noServer, open: async () => openServer((lastUrl = await pg!.createDatabase())) },
];
let lastUrl: string | null = null;
secondHandle = async (db) => (db.driver === "server" ? openServer(lastUrl!) : db);

/** 6,360 alarms with their ids (as an upgrade copies them), and the reference the pages are checked against. */
async function load(db: Database): Promise<Ref[]> {
  const ref: Ref[] = [];
  const rows: SqlValue[][] = [];
  const add = (id: number, eventMs: number, camera: string) => {
    const state = id % 7 === 0 ? "new" : "closed";
    ref.push({ id, eventMs, camera, state });
    rows.push([id, state, 1 + (id % 5), `a${id}`, "", "site-1", camera, `e${id}`, "motion", eventMs, false, "r1", null, T0, T0, null, "[]"]);
  };
  // 6,000 alarms, 7 per event time (so every page boundary falls inside a run of equal times),
  // ids not in time order within a run; then 300 late alarms with old event times, appended last.
  let id = 1;
  for (let i = 0; i < 6000; i++) add(id++, T0 + Math.floor(i / 7) * 1000, `cam-${i % 40}`);
  for (let i = 0; i < 300; i++) add(id++, T0 + (i % 50) * 1000 - 5_000, "cam-late");
  // One rare camera with alarms spread over the whole range.
  for (let i = 0; i < 60; i++) add(id++, T0 + i * 14_000, "cam-rare");
  const cols = ["id", "state", "priority", "title", "instructions", "site_id", "camera_id", "event_id", "event_type", "event_ms", "late", "rule_id", "assignee", "created_ms", "updated_ms", "clip", "actions"];
  await db.copyRows("alarms", cols, rows);
  await syncIdentity(db, "alarms", "id");
  return ref;
}

function expected(ref: Ref[], q: AlarmQuery): { ids: number[]; total: number } {
  let xs = ref.filter((r) => (!q.camera || r.camera === q.camera) && (!q.state || q.state.split(",").includes(r.state)));
  const asc = q.sort === "time";
  xs = [...xs].sort((a, b) => (asc ? a.eventMs - b.eventMs || a.id - b.id : b.eventMs - a.eventMs || b.id - a.id));
  return { ids: xs.slice(q.offset, q.offset + q.limit).map((r) => r.id), total: xs.length };
}

for (const d of drivers) describe.skipIf(d.skip)(`alarms (list pages equal the whole-table sort; change feed across nodes): ${d.name}`, () => {
  let db: Database;
  let alarms: Alarms;
  let ref: Ref[] = [];
  beforeAll(async () => {
    db = await d.open();
    await migrateUp(db);
    ref = await load(db);
    alarms = new Alarms(db, systemClock);
    await alarms.init();
  });
  afterAll(async () => {
    await alarms?.close();
    await db?.close();
  });

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
      const want = expected(ref, q);
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
    expect(seen).toEqual(expected(ref, AlarmQuery.parse({ limit: "500", offset: "0" })).ids.length ? [...ref].sort((a, b) => b.eventMs - a.eventMs || b.id - a.id).map((r) => r.id) : []);
  });

  test("an alarm raised after the list was read shows on the next newest page", async () => {
    const id = alarms.raise({ priority: 1, title: "fresh", instructions: "", siteId: "site-1", cameraId: "cam-0", eventId: "fresh", eventType: "motion", eventTimeMs: T0 + 10_000_000, late: false, ruleId: "r1" });
    ref.push({ id, eventMs: T0 + 10_000_000, camera: "cam-0", state: "new" });
    expect(id).toBeGreaterThan(6360); // the sequence moved past the copied ids
    const r = await alarms.list(AlarmQuery.parse({ limit: "1" }), ALL);
    expect(r.alarms.map((a) => a.id)).toEqual([id]);
    expect(r.total).toBe(ref.length);
    expect((await alarms.list(AlarmQuery.parse({ limit: "1", offset: "10" }), ALL)).total).toBe(ref.length);
  });

  test("another node's alarms reach this node's change feed: raised and updated, heard through NOTIFY", async () => {
    const db2 = await secondHandle(db);
    const other = new Alarms(db2, systemClock);
    await other.init();
    try {
      const heard: { kind: string; id: number; state: string; title: string }[] = [];
      const off = alarms.subscribe((c) => heard.push({ kind: c.kind, id: c.alarm.id, state: c.alarm.state, title: c.alarm.title }));
      const id = other.raise({ priority: 2, title: "door forced", instructions: "", siteId: "site-2", cameraId: "cam-9", eventId: "ev-remote", eventType: "input", eventTimeMs: T0, late: false, ruleId: "r2" });
      await other.flush();
      await other.update(id, { state: "in-progress", comment: "on my way" }, "op-b");
      for (let i = 0; i < 300 && heard.length < 2; i++) await Bun.sleep(10);
      off();
      expect(heard).toEqual([
        { kind: "created", id, state: "new", title: "door forced" },
        { kind: "updated", id, state: "in-progress", title: "door forced" },
      ]);
      // Ids of both nodes come from one sequence: never the same.
      const mine = alarms.raise({ priority: 2, title: "mine", instructions: "", siteId: "site-2", cameraId: "cam-9", eventId: "ev-mine", eventType: "input", eventTimeMs: T0, late: false, ruleId: "r2" });
      await alarms.flush();
      expect(mine).not.toBe(id);
      expect((await alarms.get(id))!.comments!.map((c) => c.text)).toEqual(["on my way"]);
      ref.push({ id, eventMs: T0, camera: "cam-9", state: "in-progress" }, { id: mine, eventMs: T0, camera: "cam-9", state: "new" });
    } finally {
      await other.close();
      if (db2 !== db) await db2.close();
    }
  });
});

/**
 * Rules and time profiles in central's database on both drivers (embedded PGlite and a real
 * PostgreSQL 15): stored, loaded at start, and — with two nodes on one database — a rule put
 * or deleted on one node fires (or stops firing) on the other, which hears the change through
 * NOTIFY and reloads the tables.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { openServer, type Database } from "../db/index.ts";
import { migratedDbForDescribe } from "../database-testkit.ts";
import { postgresUnavailable, startPostgres, testEmbedded, type TestPostgres } from "../db/testkit.ts";
import { Alarms } from "../alarms/index.ts";
import type { EventRec } from "../events/index.ts";
import { Actions } from "./actions.ts";
import { Rules } from "./index.ts";

let dir: string;
let pg: TestPostgres | null = null;
let url: string | null = null;
const noServer = postgresUnavailable();
const clock = new ManualClock(Date.UTC(2026, 2, 2, 12));
const log = new Logger({ component: "test", sink: new MemorySink() });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rules-db-"));
  if (!noServer) pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

const drivers: { name: string; skip: boolean; open: () => Promise<Database>; second: (db: Database) => Promise<Database> }[] = [
  { name: "embedded (PGlite)", skip: false, open: () => testEmbedded(join(dir, "pg")), second: async (db) => db },
  { name: "server (PostgreSQL 15)", skip: !!noServer, open: async () => openServer((url = await pg!.createDatabase())), second: () => openServer(url!) },
];

/** One node's rule engine: rules → actions → alarms on `db`. */
async function node(db: Database): Promise<{ rules: Rules; alarms: Alarms; close(): Promise<void> }> {
  const alarms = new Alarms(db, clock);
  await alarms.init();
  const actions = new Actions({ alarms, clock, log, publish: async () => {}, hooks: {}, audit: () => {} });
  const rules = new Rules(db, actions);
  await rules.init({ rules: [], timeProfiles: [] });
  return { rules, alarms, close: async () => (await rules.close(), await alarms.close()) };
}

const event = (id: string, type: string): EventRec => {
  const t = clock.now();
  return { id, type, time: new Date(t).toISOString(), arrivedAt: new Date(t).toISOString(), late: false, source: "edge", origin: null, siteId: "bus-1", cameraId: "bus-1.cam1", data: {}, timeMs: t, arrivedMs: t };
};

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await Bun.sleep(10);
}

for (const d of drivers) {
  describe.skipIf(d.skip)(`rules in the database: ${d.name}`, () => {
    const db = migratedDbForDescribe(d);

    test("rules and profiles are stored and loaded at the next start; a replaced rule is one row", async () => {
      let a = await node(db());
      await a.rules.putProfile({ name: "days", windows: [{ days: ["mon", "tue", "wed", "thu", "fri"], from: "08:00", to: "18:00" }] });
      await a.rules.put({ id: "r1", name: "one", match: { types: ["motion"] }, timeProfile: "days", actions: [{ kind: "alarm", priority: 3 }] });
      await a.rules.put({ id: "r1", name: "one, renamed", match: { types: ["motion"] }, timeProfile: "days", actions: [{ kind: "alarm", priority: 2 }] });
      await a.close();
      a = await node(db());
      try {
        expect(a.rules.list().map((r) => [r.id, r.name, r.source])).toEqual([["r1", "one, renamed", "api"]]);
        expect(a.rules.listProfiles().map((p) => p.name)).toEqual(["days"]);
        expect(await db().query(`SELECT count(*) AS n FROM rules`)).toEqual([{ n: 1 }]);
        await expect(a.rules.deleteProfile("days")).rejects.toThrow(/used by rule r1/);
        await a.rules.delete("r1");
        await a.rules.deleteProfile("days");
      } finally {
        await a.close();
      }
    });

    test("a rule put on one node fires on the other; deleted there, it stops", async () => {
      const db2 = await d.second(db());
      const a = await node(db());
      const b = await node(db2);
      try {
        expect(b.rules.dryRun(event("x", "panic")).filter((v) => v.fires)).toEqual([]);
        await a.rules.put({ id: "panic", name: "Panic", match: { types: ["panic"] }, actions: [{ kind: "alarm", priority: 1 }] });
        await until(() => b.rules.get("panic") !== null);
        expect(b.rules.get("panic")?.name).toBe("Panic");
        b.rules.onEvent(event("ev-b-1", "panic"));
        await b.alarms.flush();
        expect(await db().query(`SELECT event_id, rule_id FROM alarms WHERE event_id = $1`, ["ev-b-1"])).toEqual([{ event_id: "ev-b-1", rule_id: "panic" }]);
        await a.rules.delete("panic");
        await until(() => b.rules.get("panic") === null);
        expect(b.rules.dryRun(event("x", "panic")).filter((v) => v.fires)).toEqual([]);
      } finally {
        await b.close();
        await a.close();
        if (db2 !== db()) await db2.close();
      }
    });
  });
}

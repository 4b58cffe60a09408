/**
 * The edge-index mirror's reader (EdgeIndexReader) on both drivers, and an upgraded
 * installation: the mirror tables an older central kept in sites.duckdb move into the database
 * once at the first start (event numbers continue), the fleet's tables stay in DuckDB.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { Db } from "../db.ts";
import { migrateUp } from "../db/index.ts";
import { driversInTempDir } from "../database-testkit.ts";
import { EdgeIndex, writeRows } from "./index.ts";

const quiet = () => new Logger({ component: "test", sink: new MemorySink() });
const { drivers, tmp } = driversInTempDir("mirror");

for (const d of drivers) {
  describe.skipIf(d.skip)(`edge-index mirror: ${d.name}`, () => {
    let m: EdgeIndex;
    const tag = d.name.split(" ")[0]!;
    beforeAll(async () => {
      const db = await d.open();
      await migrateUp(db);
      m = await EdgeIndex.open(db, join(tmp(), `sites-${tag}.duckdb`), quiet());
      const seg = (site: string, cam: string, stream: string, s: number, e: number, b: number) => [site, cam, stream, s, e, b];
      await writeRows(m.db, "cp_segments", [
        seg("s1", "cam1", "main", 3000, 4000, 30),
        seg("s1", "cam1", "main", 1000, 2000, 10),
        seg("s1", "cam1", "main", 2000, 3000, 20),
        seg("s1", "cam1", "sub", 1000, 9000, 99), // another stream
        seg("s2", "cam1", "main", 1000, 9000, 99), // another site
      ]);
      await writeRows(m.db, "cp_gaps", [["s1", "cam1", "main", 4000, 6000, "stall"]]);
      await writeRows(m.db, "cp_locks", [
        ["s1", "cam1", "lk-1", 1500, 2500, "evidence", null],
        ["s1", "cam1", "lk-2", 3000, 3500, "old", 100],
      ]);
      await writeRows(m.db, "cp_retention", [["s1", "cam1", "main", 86_400_000, 1]]);
    });
    afterAll(async () => {
      await m.close();
      await m.db.close();
    });

    test("segments: only the stream's pieces overlapping the window, by start", async () => {
      expect(await m.segments("s1", "cam1", "main", 1500, 3000)).toEqual([
        { startMs: 1000, endMs: 2000, bytes: 10 },
        { startMs: 2000, endMs: 3000, bytes: 20 },
      ]);
      expect(await m.segments("s1", "cam1", "main", 4000, 5000)).toEqual([]); // touching the end is not overlapping
    });

    test("gaps, index end (segment or gap), horizon; nothing known gives 0 / null", async () => {
      expect(await m.gaps("s1", "cam1", "main", 0, 10_000)).toEqual([{ startMs: 4000, endMs: 6000, reason: "stall" }]);
      expect(await m.indexEnd("s1", "cam1", "main")).toBe(6000);
      expect(await m.indexEnd("s1", "nope", "main")).toBe(0);
      expect(await m.horizon("s1", "cam1", "main")).toBe(86_400_000);
      expect(await m.horizon("s1", "cam1", "sub")).toBeNull();
    });

    test("locks: all of a camera's, with expiry; hasLock by id within the site", async () => {
      const locks = (await m.locks("s1", "cam1")).sort((a, b) => a.startMs - b.startMs);
      expect(locks).toEqual([
        { startMs: 1500, endMs: 2500, expiresMs: null },
        { startMs: 3000, endMs: 3500, expiresMs: 100 },
      ]);
      expect(await m.hasLock("s1", "lk-1")).toBe(true);
      expect(await m.hasLock("s2", "lk-1")).toBe(false);
    });

    test("an upgraded installation's mirror moves once from sites.duckdb; event numbers continue; tracks stay in DuckDB", async () => {
      const file = join(tmp(), `old-sites-${tag}.duckdb`);
      const old = await Db.open(file);
      // The tables as the previous version created them in sites.duckdb (a selection; the rest were empty).
      await old.run(`CREATE TABLE cp_seq (site_id VARCHAR, ob VARCHAR, last_seq BIGINT, PRIMARY KEY (site_id, ob))`);
      await old.run(`CREATE SEQUENCE cp_event_n`);
      await old.run(`CREATE TABLE cp_events (n BIGINT DEFAULT nextval('cp_event_n'), site_id VARCHAR, ob VARCHAR, seq BIGINT, event_id VARCHAR, camera_id VARCHAR, kind VARCHAR, at_ms BIGINT, data VARCHAR, received_ms BIGINT)`);
      await old.run(`CREATE TABLE cp_segments (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, start_ms BIGINT, end_ms BIGINT, bytes BIGINT, PRIMARY KEY (site_id, camera_id, stream, start_ms))`);
      await old.run(`CREATE TABLE cp_cameras (site_id VARCHAR, camera_id VARCHAR, name VARCHAR, enabled BOOLEAN, streams VARCHAR, updated_ms BIGINT, PRIMARY KEY (site_id, camera_id))`);
      await old.run(`CREATE TABLE cp_desired (site_id VARCHAR, version BIGINT, config VARCHAR, created_ms BIGINT, created_by VARCHAR, PRIMARY KEY (site_id, version))`);
      await old.run(`CREATE TABLE cp_track (site_id VARCHAR, start_ms BIGINT, end_ms BIGINT, min_lat BIGINT, max_lat BIGINT, min_lon BIGINT, max_lon BIGINT, points VARCHAR)`);
      await old.run(`INSERT INTO cp_seq VALUES ('bus-1', 'ob1', 41)`);
      await old.run(`INSERT INTO cp_events (site_id, ob, seq, event_id, camera_id, kind, at_ms, data, received_ms) VALUES ('bus-1', 'ob1', 40, 'e40', 'bus-1.cam1', 'motion', 5, '{}', 6), ('bus-1', 'ob1', 41, 'e41', NULL, 'door', 7, '{"a":1}', 8)`);
      await old.run(`INSERT INTO cp_segments VALUES ('bus-1', 'cam1', 'main', 1000, 2000, 10)`);
      await old.run(`INSERT INTO cp_cameras VALUES ('bus-1', 'cam1', 'Door', true, '[]', 3)`);
      await old.run(`INSERT INTO cp_desired VALUES ('bus-1', 3, '{"policy":null}', 9, 'admin')`);
      await old.run(`INSERT INTO cp_track VALUES ('bus-1', 1, 2, 0, 0, 0, 0, '[]')`);
      await old.close();

      const db = await d.open();
      await migrateUp(db);
      const up = await EdgeIndex.open(db, file, quiet());
      try {
        expect(await up.segments("bus-1", "cam1", "main", 0, 5000)).toEqual([{ startMs: 1000, endMs: 2000, bytes: 10 }]);
        expect(await db.query(`SELECT last_seq FROM cp_seq WHERE site_id = 'bus-1'`)).toEqual([{ last_seq: 41 }]);
        expect(await db.query(`SELECT name, enabled FROM cp_cameras`)).toEqual([{ name: "Door", enabled: true }]);
        expect(await db.query(`SELECT version, config FROM cp_desired`)).toEqual([{ version: 3, config: '{"policy":null}' }]);
        expect(await db.query(`SELECT n, event_id FROM cp_events ORDER BY n`)).toEqual([
          { n: 1, event_id: "e40" },
          { n: 2, event_id: "e41" },
        ]);
        // A new event continues after the moved ones (clients page by n).
        await writeRows(db, "cp_events", [["bus-1", "ob1", 42, "e42", null, "door", 9, "{}", 10]]);
        expect(await db.query(`SELECT n FROM cp_events WHERE event_id = 'e42'`)).toEqual([{ n: 3 }]);
        expect(await up.fleet.all(`SELECT site_id FROM cp_track`)).toEqual([{ site_id: "bus-1" }]);
      } finally {
        await up.close();
      }
      // Once: the next start moves nothing (the database's cp_seq is no longer empty).
      const again = await EdgeIndex.open(db, file, quiet());
      expect(await db.query(`SELECT count(*)::int AS n FROM cp_segments`)).toEqual([{ n: 1 }]);
      await again.close();
      await db.close();
    });
  });
}

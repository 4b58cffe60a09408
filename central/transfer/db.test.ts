/**
 * An upgraded installation on both drivers: the transfer tables of DATA/transfer/transfer.duckdb
 * (as versions before migration 0006 wrote them) are copied into the database once, with their
 * values typed (BIGINT text → numbers); a restart copies nothing again, also when some tables
 * were empty (a fleet without retrievals); a fresh installation has nothing to copy.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { removeTempDirs, tempDir } from "../../tests/helpers.ts";
import { Db } from "../db.ts";
import { moveTransferFromDuckdb } from "./db.ts";
import { transferTestDrivers } from "./test-db.ts";

const t = transferTestDrivers();
// The first test of a driver starts its PostgreSQL server or PGlite; a loaded machine takes a while.
setDefaultTimeout(120_000);
afterAll(async () => {
  await t.stop();
  await removeTempDirs();
});
const quiet = () => new Logger({ component: "t", sink: new MemorySink(), level: "error" });

/** The tables as transfer.duckdb had them before 0006 (a copy of the old CREATE statements). */
const OLD_SCHEMA = [
  `CREATE TABLE tr_retrievals (id VARCHAR PRIMARY KEY, site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, from_ms BIGINT, to_ms BIGINT, priority VARCHAR, reason VARCHAR, created_by VARCHAR, created_ms BIGINT, state VARCHAR, done_ms BIGINT, detail VARCHAR)`,
  `CREATE TABLE tr_commits (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, start_ms BIGINT, bytes BIGINT, sha256 VARCHAR, committed_ms BIGINT, cls VARCHAR, link VARCHAR, PRIMARY KEY (site_id, camera_id, stream, start_ms))`,
  `CREATE TABLE tr_usage (site_id VARCHAR, month VARCHAR, link VARCHAR, bytes BIGINT, PRIMARY KEY (site_id, month, link))`,
  `CREATE TABLE tr_usage_daily (site_id VARCHAR, day VARCHAR, link VARCHAR, bytes BIGINT, PRIMARY KEY (site_id, day, link))`,
  `CREATE TABLE tr_live_usage (site_id VARCHAR, month VARCHAR, link VARCHAR, bytes BIGINT, PRIMARY KEY (site_id, month, link))`,
  `CREATE TABLE tr_live_override (site_id VARCHAR PRIMARY KEY, until_ms BIGINT, created_by VARCHAR, created_ms BIGINT, reason VARCHAR)`,
  `CREATE TABLE tr_retrieval_quality (id VARCHAR PRIMARY KEY, quality VARCHAR)`,
  `CREATE TABLE tr_offload (site_id VARCHAR PRIMARY KEY, started_ms BIGINT, done_ms BIGINT, bytes BIGINT)`,
  `CREATE TABLE tr_edge_usage (site_id VARCHAR PRIMARY KEY, month VARCHAR, by_link VARCHAR, link VARCHAR, updated_ms BIGINT)`,
  `CREATE TABLE tr_locks (id VARCHAR PRIMARY KEY, site_id VARCHAR, camera_id VARCHAR, from_ms BIGINT, to_ms BIGINT, reason VARCHAR, created_by VARCHAR, created_ms BIGINT, expires_ms BIGINT, ended_ms BIGINT, retrieval_id VARCHAR)`,
  `CREATE TABLE tr_lost (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, start_ms BIGINT, reported_ms BIGINT, PRIMARY KEY (site_id, camera_id, stream, start_ms))`,
  `CREATE TABLE tr_alarms (key VARCHAR PRIMARY KEY, at_ms BIGINT)`,
];
const T = 1_764_800_000_123;

for (const d of t.drivers) {
  describe.skipIf(d.skip)(`transfer.duckdb → database: ${d.name}`, () => {
    test("an old installation's tables are copied once with typed values, also when its retrievals table is empty", async () => {
      const dir = await tempDir("transfer-move");
      const duck = await Db.open(join(dir, "transfer.duckdb"));
      const { a, close } = await d.open();
      try {
        for (const s of OLD_SCHEMA) await duck.run(s);
        // No retrievals ever (continuous policies only): commits, usage, an edge count, a lock, a lost segment, an alarm.
        await duck.run(`INSERT INTO tr_commits VALUES ('bus-1', 'cam1', 'main', $1, 123456, $2, $3, 'backfill', 'cellular'), ('bus-1', 'cam1', 'main', $4, 99, $2, $3, NULL, NULL)`, [T, "ab".repeat(32), T + 5, T + 2000]);
        await duck.run(`INSERT INTO tr_usage_daily VALUES ('bus-1', '2026-12-03', 'cellular', 5000000000)`);
        await duck.run(`INSERT INTO tr_edge_usage VALUES ('bus-1', '2026-12', '{"cellular":7}', 'cellular', $1)`, [T]);
        await duck.run(`INSERT INTO tr_locks VALUES ('lk-1', 'bus-1', 'cam1', $1, $2, 'it''s evidence', 'ada', $1, NULL, NULL, 'rt-lk-1')`, [T, T + 60_000]);
        await duck.run(`INSERT INTO tr_lost VALUES ('bus-1', 'cam1', 'sub', $1, $1)`, [T]);
        await duck.run(`INSERT INTO tr_alarms VALUES ('lost/bus-1/cam1/sub/1', $1)`, [T]);
        const moved = await moveTransferFromDuckdb(duck, a, T, quiet());
        expect(moved).toMatchObject({ tr_moved_from_duckdb: 1, tr_retrievals: 0, tr_commits: 2, tr_usage_daily: 1, tr_edge_usage: 1, tr_locks: 1, tr_lost: 1, tr_alarms: 1 });
        expect(await a.query(`SELECT * FROM tr_commits ORDER BY start_ms`)).toEqual([
          { site_id: "bus-1", camera_id: "cam1", stream: "main", start_ms: T, bytes: 123456, sha256: "ab".repeat(32), committed_ms: T + 5, cls: "backfill", link: "cellular" },
          { site_id: "bus-1", camera_id: "cam1", stream: "main", start_ms: T + 2000, bytes: 99, sha256: "ab".repeat(32), committed_ms: T + 5, cls: null, link: null },
        ]);
        expect(await a.query(`SELECT bytes FROM tr_usage_daily`)).toEqual([{ bytes: 5_000_000_000 }]);
        expect(await a.query(`SELECT reason, expires_ms, retrieval_id FROM tr_locks`)).toEqual([{ reason: "it's evidence", expires_ms: null, retrieval_id: "rt-lk-1" }]);
        // The next start: nothing again (tr_retrievals is still empty in the database; the marker decides).
        await duck.run(`INSERT INTO tr_retrievals VALUES ('rt-late', 'bus-1', 'cam1', 'main', 1, 2, 'request', 'null', 'ada', 3, 'queued', NULL, NULL)`);
        expect(await moveTransferFromDuckdb(duck, a, T + 1, quiet())).toEqual({});
        const [n] = await a.query<{ n: number }>(`SELECT (SELECT count(*) FROM tr_commits)::int + (SELECT count(*) FROM tr_retrievals)::int AS n`);
        expect(n!.n).toBe(2);
      } finally {
        await duck.close();
        await close();
      }
    });

    test("a fresh installation (transfer.duckdb without transfer tables) copies nothing", async () => {
      const dir = await tempDir("transfer-fresh");
      const duck = await Db.open(join(dir, "transfer.duckdb"));
      const { a, close } = await d.open();
      try {
        expect(await moveTransferFromDuckdb(duck, a, T, quiet())).toEqual({});
        expect(await a.query(`SELECT * FROM tr_moved_from_duckdb`)).toEqual([]);
      } finally {
        await duck.close();
        await close();
      }
    });
  });
}

/**
 * Operations in central's database (central/db), end to end through startCentral: an
 * installation that kept events, alarms, comments, rules, time profiles, the audit chain and
 * the system log in central.duckdb finds them all on its first start with the database (moved
 * once, the chain still verifying and continuing, new ids after the old ones); and with
 * database.url central keeps them on a real PostgreSQL server, where `outpost central audit
 * verify` reads the chain while central runs.
 */
import { describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import path from "node:path";
import { startCentral, type Central } from "../index.ts";
import type { Db } from "../db.ts";
import { auditHash, GENESIS, verifyAudit } from "../audit/index.ts";
import { AlarmQuery } from "../alarms/index.ts";
import { lockDataDir } from "../../lib/lock/index.ts";
import { centralDbTest, noPostgres, oldCentralDuckdb, postgresForDescribe } from "../database-testkit.ts";

const { root, log, cfg, moved } = centralDbTest("opsdb");
const ALL = { sql: "TRUE", params: [] as string[] };
const T = Date.UTC(2026, 0, 1);

/** central.duckdb's operations tables as the previous version left them: its own CREATE statements, its rows. */
async function oldInstallation(duck: Db, dataDir: string): Promise<void> {
  await duck.run(`CREATE TABLE events (id VARCHAR NOT NULL, time_ms BIGINT NOT NULL, arrived_ms BIGINT NOT NULL, late BOOLEAN NOT NULL, source VARCHAR NOT NULL, origin VARCHAR, type VARCHAR NOT NULL, site_id VARCHAR, camera_id VARCHAR, data VARCHAR NOT NULL)`);
  await duck.run(`INSERT INTO events VALUES ('old-ev-1', $1, $2, true, 'edge', NULL, 'panic', 'bus-1', 'bus-1.cam1', '{"button":2}')`, [BigInt(T), BigInt(T + 120_000)]);
  await duck.run(
    `CREATE TABLE alarms (id BIGINT NOT NULL, state VARCHAR NOT NULL, priority INTEGER NOT NULL, title VARCHAR NOT NULL, instructions VARCHAR NOT NULL, site_id VARCHAR, camera_id VARCHAR, event_id VARCHAR NOT NULL, event_type VARCHAR NOT NULL, event_ms BIGINT NOT NULL, late BOOLEAN NOT NULL, rule_id VARCHAR NOT NULL, assignee VARCHAR, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL, clip VARCHAR, actions VARCHAR NOT NULL)`,
  );
  await duck.run(`CREATE TABLE alarm_comments (alarm_id BIGINT NOT NULL, at_ms BIGINT NOT NULL, user_name VARCHAR NOT NULL, text VARCHAR NOT NULL, state VARCHAR)`);
  const clip = JSON.stringify({ state: "requested", retrievalId: "ret-old", from: new Date(T - 30_000).toISOString(), to: new Date(T + 30_000).toISOString(), url: null, detail: "asking the transfer engine" });
  for (const id of [1, 2, 41])
    await duck.run(`INSERT INTO alarms VALUES ($1, $2, 1, $3, 'call', 'bus-1', 'bus-1.cam1', 'old-ev-1', 'panic', $4, true, 'panic-rule', $5, $4, $4, $6, '[]')`, [
      BigInt(id),
      id === 2 ? "in-progress" : "new",
      `old alarm ${id}`,
      BigInt(T + id),
      id === 2 ? "admin" : null,
      id === 41 ? clip : null,
    ]);
  await duck.run(`INSERT INTO alarm_comments VALUES (2, $1, 'admin', 'first', 'in-progress'), (2, $2, 'admin', 'second', NULL)`, [BigInt(T + 10), BigInt(T + 20)]);
  await duck.run(`CREATE TABLE rules (id VARCHAR PRIMARY KEY, json VARCHAR NOT NULL, source VARCHAR NOT NULL)`);
  await duck.run(`CREATE TABLE time_profiles (name VARCHAR PRIMARY KEY, json VARCHAR NOT NULL)`);
  await duck.run(`INSERT INTO time_profiles VALUES ('always', $1)`, [JSON.stringify({ name: "always", timezone: "UTC", windows: [{ days: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], from: "00:00", to: "24:00" }] })]);
  await duck.run(`INSERT INTO rules VALUES ('panic-rule', $1, 'api')`, [JSON.stringify({ id: "panic-rule", name: "Panic", enabled: true, match: { types: ["panic"] }, timeProfile: "always", actions: [{ kind: "alarm", priority: 1, instructions: "call" }] })]);
  // The audit chain as the old code wrote it, and its head file.
  await duck.run(
    `CREATE TABLE audit_log (seq BIGINT NOT NULL, at_ms BIGINT NOT NULL, user_name VARCHAR NOT NULL, action VARCHAR NOT NULL, subject VARCHAR, site_id VARCHAR, camera_id VARCHAR, from_ms BIGINT, to_ms BIGINT, outcome VARCHAR NOT NULL, detail VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL)`,
  );
  let prev = GENESIS;
  for (let seq = 1; seq <= 3; seq++) {
    const detail = JSON.stringify({ seq });
    const hash = auditHash(prev, seq, T + seq, "admin", "playback", null, "bus-1", "bus-1.cam1", T, T + 1000, "ok", detail);
    await duck.run(`INSERT INTO audit_log VALUES ($1, $2, 'admin', 'playback', NULL, 'bus-1', 'bus-1.cam1', $3, $4, 'ok', $5, $6, $7)`, [BigInt(seq), BigInt(T + seq), BigInt(T), BigInt(T + 1000), detail, prev, hash]);
    prev = hash;
  }
  await fs.writeFile(path.join(dataDir, "audit-head.json"), JSON.stringify({ seq: 3, hash: prev }) + "\n");
  await duck.run(`CREATE TABLE syslog (id BIGINT NOT NULL, at_ms BIGINT NOT NULL, level VARCHAR NOT NULL, source VARCHAR NOT NULL, component VARCHAR NOT NULL, msg VARCHAR NOT NULL, fields VARCHAR NOT NULL)`);
  await duck.run(`INSERT INTO syslog VALUES (77, $1, 'error', 'bus-1', 'edge.ingest', 'old disk error', '{"disk":"sda"}')`, [BigInt(Date.now() - 3_600_000)]);
}

describe("upgrade from central.duckdb", () => {
  test("the first start moves every operations table once: events, alarms with comments, rules, profiles, the audit chain and the system log carry over; new ids follow the old", async () => {
    const dataDir = path.join(root(), "upgraded");
    await oldCentralDuckdb(dataDir, (duck) => oldInstallation(duck, dataDir));
    let c: Central = await startCentral(cfg(dataDir), { log });
    let raised: number;
    try {
      const ops = c.ops;
      const ev = await ops.events.query({ limit: 10, offset: 0, camera: "bus-1.cam1" }, ALL);
      expect(ev.events).toEqual([expect.objectContaining({ id: "old-ev-1", type: "panic", late: true, time: new Date(T).toISOString(), data: { button: 2 } })]);
      expect((await ops.ingestEvent({ id: "old-ev-1", type: "panic", time: new Date(T).toISOString(), source: "edge", siteId: "bus-1" })).duplicate).toBe(true);
      const a2 = await ops.alarms.get(2);
      expect(a2).toMatchObject({ state: "in-progress", assignee: "admin", title: "old alarm 2", late: true });
      expect(a2!.comments!.map((x) => [x.text, x.state])).toEqual([
        ["first", "in-progress"],
        ["second", null],
      ]);
      expect((await ops.alarms.list(AlarmQuery.parse({}), ALL)).total).toBe(3);
      // A retrieval finishing for an old alarm's clip finds it (JSON read in SQL).
      expect(await ops.alarms.attachClip("ret-old", { state: "ready", url: "/x" })).toEqual([41]);
      expect(ops.rules.get("panic-rule")).toMatchObject({ source: "api", timeProfile: "always" });
      expect(ops.rules.listProfiles().map((p) => p.name)).toEqual(["always"]);
      // The old rule fires on a new event: the new alarm's id comes after the copied ones.
      await ops.ingestEvent({ id: "new-ev", type: "panic", time: new Date().toISOString(), source: "edge", siteId: "bus-1", cameraId: "bus-1.cam1" });
      await ops.alarms.flush();
      const newest = (await ops.alarms.list(AlarmQuery.parse({ limit: "1" }), ALL)).alarms[0]!;
      expect(newest.eventId).toBe("new-ev");
      raised = newest.id;
      expect(raised).toBeGreaterThan(41);
      // The chain continues from the old head: verify walks old and new records.
      ops.recordAudit({ user: "admin", action: "config", subject: "after.upgrade" });
      await ops.audit.flush();
      const v = await verifyAudit(c.database, path.join(dataDir, "audit-head.json"));
      expect(v.ok).toBe(true);
      expect(v.checked).toBeGreaterThanOrEqual(4);
      expect((await ops.audit.query({ limit: 1000 })).records.filter((r) => r.seq <= 3).map((r) => r.seq)).toEqual([3, 2, 1]);
      const logs = await ops.syslog.query({ limit: 100, source: "bus-1" }, null);
      expect(logs.entries).toEqual([expect.objectContaining({ id: 77, msg: "old disk error", fields: { disk: "sda" } })]);
      ops.ingestEdgeLogs("bus-1", [{ t: new Date().toISOString(), level: "warn", component: "edge.x", msg: "new one" }]);
      const after = await ops.syslog.query({ limit: 100, source: "bus-1" }, null);
      expect(after.entries[0]!.msg).toBe("new one");
      expect(after.entries[0]!.id).toBeGreaterThan(77);
      expect(moved()).toBe(6); // events, alarms (+comments), rules, profiles, audit, syslog
    } finally {
      await c.close();
    }
    // Once: a restart copies nothing again (no duplicate rows, no new log line).
    c = await startCentral(cfg(dataDir), { log });
    try {
      expect((await c.ops.alarms.list(AlarmQuery.parse({}), ALL)).total).toBe(4);
      expect(await c.database.query(`SELECT count(*) AS n FROM alarm_comments WHERE alarm_id = $1`, [2])).toEqual([{ n: 2 }]);
      expect(await c.database.query(`SELECT count(*) AS n FROM events WHERE id = $1`, ["old-ev-1"])).toEqual([{ n: 1 }]);
      expect((await verifyAudit(c.database, path.join(dataDir, "audit-head.json"))).ok).toBe(true);
      expect(moved()).toBe(6);
      // The embedded database is central's own: the CLI says so instead of opening it under central.
      // A central process holds its data directory (composeCentral; startCentral here is its inner part).
      const cfgFile = path.join(dataDir, "central.yaml");
      await fs.writeFile(cfgFile, `dataDir: ${dataDir}\n`);
      const held = lockDataDir(dataDir, "central");
      try {
        const run = Bun.spawnSync(["bun", "cli/outpost.ts", "central", "audit", "verify", "--config", cfgFile], { cwd: path.join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe" });
        expect(run.exitCode).toBe(75);
        expect(run.stderr.toString() + run.stdout.toString()).toContain(`is in use by central PID ${process.pid}`);
      } finally {
        held.release();
      }
    } finally {
      await c.close();
    }
  }, 180_000);
});

describe.skipIf(!!noPostgres)("database.url: a PostgreSQL server", () => {
  const pg = postgresForDescribe();

  test("operations live on the server across a restart; audit verify reads the chain while central runs", async () => {
    const url = await pg().createDatabase();
    const dataDir = path.join(root(), "server");
    const rules = [{ id: "panic", name: "Panic", match: { types: ["panic"] }, actions: [{ kind: "alarm" as const, priority: 1 }] }];
    let c = await startCentral(cfg(dataDir, { database: { url }, operations: { rules } }), { log });
    let id: number;
    try {
      await c.ops.ingestEvent({ id: "s-ev", type: "panic", time: new Date().toISOString(), source: "edge", siteId: "bus-9", cameraId: "bus-9.cam1" });
      await c.ops.alarms.flush();
      id = (await c.ops.alarms.list(AlarmQuery.parse({}), ALL)).alarms[0]!.id;
      await c.ops.alarms.update(id, { state: "closed", comment: "false alarm" }, "admin");
      c.ops.recordAudit({ user: "admin", action: "config", subject: "server.test" });
      await c.ops.audit.flush();
    } finally {
      await c.close();
    }
    expect(await fs.stat(path.join(dataDir, "pg")).catch(() => null)).toBeNull();
    c = await startCentral(cfg(dataDir, { database: { url }, operations: { rules } }), { log });
    try {
      const a = await c.ops.alarms.get(id);
      expect(a).toMatchObject({ state: "closed", eventId: "s-ev" });
      expect(a!.comments!.map((x) => x.text)).toContain("false alarm");
      expect((await c.ops.ingestEvent({ id: "s-ev", type: "panic", time: new Date().toISOString(), source: "edge", siteId: "bus-9" })).duplicate).toBe(true);
      // While central runs: the CLI reads the server (database.url), not central's process.
      const cfgFile = path.join(dataDir, "central.yaml");
      await fs.writeFile(cfgFile, `dataDir: ${dataDir}\ndatabase:\n  url: "${url}"\n`);
      const run = Bun.spawnSync(["bun", "cli/outpost.ts", "central", "audit", "verify", "--config", cfgFile], { cwd: path.join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe" });
      expect(run.stdout.toString()).toMatch(/audit log intact: \d+ records/);
      expect(run.exitCode).toBe(0);
    } finally {
      await c.close();
    }
  }, 180_000);
});

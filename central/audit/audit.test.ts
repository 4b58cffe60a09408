/**
 * The audit chain on both drivers of central's database (embedded PGlite and a real
 * PostgreSQL 15): tampering is found and named, the chain continues across restarts, two
 * central nodes (two database handles on one server) appending at once never fork it, and
 * `outpost central audit verify` reads either database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { migrateUp, openServer, type Database } from "../db/index.ts";
import { postgresUnavailable, startPostgres, testEmbedded, type TestPostgres } from "../db/testkit.ts";
import { lockDataDir } from "../../lib/lock/index.ts";
import { Audit, verifyAudit } from "./index.ts";

const root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-audit-"));
const sink = new MemorySink();
const log = new Logger({ component: "test", sink });
const noServer = postgresUnavailable();
let pg: TestPostgres | null = null;

beforeAll(async () => {
  if (!noServer) pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
  await fs.rm(root, { recursive: true, force: true });
});

const drivers: { name: string; skip: boolean; open: (dir: string) => Promise<{ db: Database; url?: string }> }[] = [
  { name: "embedded (PGlite)", skip: false, open: async (dir) => ({ db: await testEmbedded(path.join(dir, "pg")) }) },
  {
    name: "server (PostgreSQL 15)",
    skip: !!noServer,
    open: async () => {
      const url = await pg!.createDatabase();
      return { db: await openServer(url), url };
    },
  },
];

const cli = (cfgFile: string) => Bun.spawnSync(["bun", "cli/outpost.ts", "central", "audit", "verify", "--config", cfgFile], { cwd: path.join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe" });

for (const d of drivers) {
  describe.skipIf(d.skip)(`audit chain: ${d.name}`, () => {
    let db: Database;
    let url: string | undefined;
    let dir: string;
    let head: string;
    let audit: Audit;

    beforeAll(async () => {
      dir = await fs.mkdtemp(path.join(root, "d-"));
      ({ db, url } = await d.open(dir));
      await migrateUp(db);
    });
    afterAll(async () => {
      await db?.close();
    });

    /** The database as verifyAudit reads it, running `meanwhile` once the walk's last page came back empty (central writing during the check). */
    function whenWalked(meanwhile: () => Promise<void>): Pick<Database, "query"> {
      let done = false;
      return {
        query: (async (sql: string, params?: unknown[]) => {
          const rows = await db.query(sql, params as never);
          if (rows.length === 0 && !done) {
            done = true;
            await meanwhile();
          }
          return rows;
        }) as Database["query"],
      };
    }

    /** An empty log, then 20 records. */
    async function fresh(records = 20): Promise<void> {
      await db.exec(`TRUNCATE audit_log`);
      head = path.join(dir, "audit-head.json");
      await fs.rm(head, { force: true });
      audit = new Audit({ db, clock: new ManualClock(Date.UTC(2026, 0, 1)), log, headFile: head });
      await audit.init();
      for (let i = 0; i < records; i++) audit.record({ user: i % 2 ? "alice" : "bob", action: i % 3 ? "playback" : "login", cameraId: `cam${i % 4}`, fromMs: 1000 * i, toMs: 1000 * i + 500, detail: { i } });
      await audit.flush();
    }

    test("an untouched log verifies; queries by user and camera", async () => {
      await fresh();
      const r = await verifyAudit(db, head);
      expect(r).toMatchObject({ ok: true, checked: 20, lastSeq: 20, problems: [] });
      const byCam = await audit.query({ camera: "cam1", limit: 100 });
      expect(byCam.records.map((x) => x.seq)).toEqual([18, 14, 10, 6, 2]);
      expect(byCam.records[0]).toMatchObject({ user: "alice", action: "playback", cameraId: "cam1", from: new Date(17_000).toISOString(), detail: { i: 17 } });
      const page = await audit.query({ user: "alice", limit: 3 });
      expect(page.records).toHaveLength(3);
      const page2 = await audit.query({ user: "alice", limit: 3, before: page.next! });
      expect(page2.records[0]!.seq).toBeLessThan(page.records[2]!.seq);
    });

    test("an edited record is found by its seq", async () => {
      await fresh();
      await db.run(`UPDATE audit_log SET user_name = $1 WHERE seq = $2`, ["mallory", 7]);
      const r = await verifyAudit(db, head);
      expect(r.ok).toBe(false);
      expect(r.problems[0]).toMatchObject({ seq: 7 });
      expect(r.problems[0]!.problem).toContain("edited");
    });

    test("a deleted record is found", async () => {
      await fresh();
      await db.run(`DELETE FROM audit_log WHERE seq = $1`, [12]);
      const r = await verifyAudit(db, head);
      expect(r.ok).toBe(false);
      expect(r.problems.some((p) => p.seq === 13 && p.problem.includes("12..12 are missing"))).toBe(true);
    });

    test("reordered records (seq swapped) are found", async () => {
      await fresh();
      // Three steps: the primary key refuses a duplicate seq even for a moment.
      for (const [from, to] of [[5, -5], [6, 5], [-5, 6]]) await db.run(`UPDATE audit_log SET seq = $2 WHERE seq = $1`, [from!, to!]);
      const r = await verifyAudit(db, head);
      expect(r.ok).toBe(false);
      expect(r.problems[0]!.seq).toBe(5);
    });

    test("deleting the newest records is found through the head file", async () => {
      await fresh();
      await db.run(`DELETE FROM audit_log WHERE seq >= $1`, [18]);
      const r = await verifyAudit(db, head);
      expect(r.ok).toBe(false);
      expect(r.problems[0]!.problem).toContain("18..20 are missing at the end");
    });

    test("a record re-hashed by someone without the chain still breaks the next link", async () => {
      await fresh();
      const rows = await db.query<{ hash: string }>(`SELECT hash FROM audit_log WHERE seq = $1`, [9]);
      await db.run(`UPDATE audit_log SET hash = $1 WHERE seq = $2`, ["f".repeat(64), 9]);
      const r = await verifyAudit(db, head);
      expect(rows[0]!.hash).not.toBe("f".repeat(64));
      expect(r.problems.map((p) => p.seq)).toEqual([9, 10]);
    });

    test("the chain continues across restarts (a new Audit reads the head from the table)", async () => {
      await fresh();
      audit = new Audit({ db, clock: new ManualClock(Date.UTC(2026, 0, 2)), log, headFile: head });
      await audit.init();
      audit.record({ user: "carol", action: "export", cameraId: "cam9" });
      await audit.flush();
      expect(await verifyAudit(db, head)).toMatchObject({ ok: true, checked: 21 });
    });

    test("two appenders at once (two nodes on a server: two database handles) take turns: one chain, nothing lost", async () => {
      await fresh(0);
      // On the server a second handle is a second pool, as a second central node has; PGlite is one
      // process's, so there both appenders share the handle (and PGlite's one connection).
      const other = url ? await openServer(url) : db;
      try {
        const a = new Audit({ db, clock: new ManualClock(Date.UTC(2026, 0, 3)), log, headFile: path.join(dir, "head-a.json"), flushMs: 1 });
        const b = new Audit({ db: other, clock: new ManualClock(Date.UTC(2026, 0, 4)), log, headFile: path.join(dir, "head-b.json"), flushMs: 1 });
        await Promise.all([a.init(), b.init()]);
        const rounds = 30;
        for (let i = 0; i < rounds; i++) {
          for (let k = 0; k < 5; k++) {
            a.record({ user: "node-a", action: "playback", detail: { i, k } });
            b.record({ user: "node-b", action: "view-live", detail: { i, k } });
          }
          await Promise.all([a.flush(), b.flush()]);
        }
        const r = await verifyAudit(db, null);
        expect(r).toMatchObject({ ok: true, checked: rounds * 10, lastSeq: rounds * 10 });
        const by = await db.query<{ u: string; n: number }>(`SELECT user_name AS u, count(*) AS n FROM audit_log GROUP BY user_name ORDER BY 1`);
        expect(by).toEqual([
          { u: "node-a", n: rounds * 5 },
          { u: "node-b", n: rounds * 5 },
        ]);
        expect(sink.records.filter((x) => x.msg.includes("audit records could not be stored"))).toEqual([]);
        // Each node's head file names the last record it wrote, which the chain holds.
        for (const f of ["head-a.json", "head-b.json"]) expect(await verifyAudit(db, path.join(dir, f))).toMatchObject({ ok: true });
      } finally {
        if (other !== db) await other.close();
      }
    });

    test("records appended while the chain is verified (central running) are not reported as deleted", async () => {
      await fresh();
      let appended = false;
      // Central flushes between the walk's last page and its end: rows committed, then the head file rewritten.
      const busy = whenWalked(async () => {
        appended = true;
        for (let i = 0; i < 3; i++) audit.record({ user: "carol", action: "login" });
        await audit.flush();
      });
      const r = await verifyAudit(busy, head);
      expect(appended).toBe(true);
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(await verifyAudit(db, head)).toMatchObject({ ok: true, checked: 23 });
    });

    test("central's first flush during the check (rows committed, then the head file written) is not a missing head file; one still missing at the end is", async () => {
      await fresh();
      const written = await fs.readFile(head, "utf8");
      await fs.rm(head);
      const firstFlush = whenWalked(() => fs.writeFile(head, written));
      expect(await verifyAudit(firstFlush, head)).toMatchObject({ ok: true, checked: 20 });
      await fs.rm(head);
      const r = await verifyAudit(db, head);
      expect(r.ok).toBe(false);
      expect(r.problems.map((p) => p.problem)).toEqual([`the head file ${head} is missing, so deletion of the newest records cannot be ruled out`]);
    });

    test("CLI: outpost central audit verify passes, then fails and names the record", async () => {
      await fresh();
      const cfgFile = path.join(dir, "central.yaml");
      await fs.writeFile(cfgFile, `dataDir: ${dir}\n${url ? `database:\n  url: "${url}"\n` : ""}`);
      // The embedded database is one process's: the CLI opens it only while nobody else does.
      if (!url) await db.close();
      const ok = cli(cfgFile);
      expect(ok.stdout.toString()).toContain("audit log intact: 20 records");
      expect(ok.exitCode).toBe(0);
      if (!url) db = (await d.open(dir)).db;
      await db.run(`UPDATE audit_log SET detail = $1 WHERE seq = $2`, ['{"i":99}', 3]);
      if (!url) await db.close();
      const bad = cli(cfgFile);
      expect(bad.stdout.toString()).toContain("at record 3: record 3 was edited");
      expect(bad.exitCode).toBe(1);
      if (!url) db = (await d.open(dir)).db;
    });

    test.skipIf(d.name.startsWith("server"))("CLI: refused while central holds the data directory (its embedded database is central's own), as a second central is; the database is not opened", async () => {
      await fresh();
      const cfgFile = path.join(dir, "central.yaml");
      await fs.writeFile(cfgFile, `dataDir: ${dir}\n`);
      // What a running central holds (lib/lock), and its database open in its process.
      const held = lockDataDir(dir, "central");
      try {
        const r = cli(cfgFile);
        expect(r.stderr.toString()).toContain(`${dir} is in use by central PID ${process.pid}; stop it first`);
        expect(r.stderr.toString()).toContain("GET /api/v1/audit/verify");
        expect(r.stdout.toString()).toBe("");
        expect(r.exitCode).toBe(75);
      } finally {
        held.release();
      }
      // Central's database is as it was.
      expect(await verifyAudit(db, head)).toMatchObject({ ok: true, checked: 20 });
    });
  });
}

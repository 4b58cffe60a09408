import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { Db } from "../db.ts";
import { Audit, verifyAudit } from "./index.ts";

const root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-audit-"));
const log = new Logger({ component: "test", sink: new MemorySink() });
let n = 0;
let db: Db;
let audit: Audit;
let head: string;
let dir: string;

async function fresh(records = 20): Promise<void> {
  dir = path.join(root, String(++n));
  await fs.mkdir(dir);
  db = await Db.open(path.join(dir, "central.duckdb"));
  head = path.join(dir, "audit-head.json");
  audit = new Audit({ db, clock: new ManualClock(Date.UTC(2026, 0, 1)), log, headFile: head });
  await audit.init();
  for (let i = 0; i < records; i++) audit.record({ user: i % 2 ? "alice" : "bob", action: i % 3 ? "playback" : "login", cameraId: `cam${i % 4}`, fromMs: 1000 * i, toMs: 1000 * i + 500, detail: { i } });
  await audit.flush();
}

beforeEach(async () => {
  await fresh();
});

afterAll(async () => {
  await db?.close();
  await fs.rm(root, { recursive: true, force: true });
});

const close = () => db.close();

describe("audit chain", () => {
  test("an untouched log verifies; queries by user and camera", async () => {
    const r = await verifyAudit(db, head);
    expect(r).toMatchObject({ ok: true, checked: 20, lastSeq: 20, problems: [] });
    const byCam = await audit.query({ camera: "cam1", limit: 100 });
    expect(byCam.records.map((x) => x.seq)).toEqual([18, 14, 10, 6, 2]);
    const page = await audit.query({ user: "alice", limit: 3 });
    expect(page.records).toHaveLength(3);
    const page2 = await audit.query({ user: "alice", limit: 3, before: page.next! });
    expect(page2.records[0]!.seq).toBeLessThan(page.records[2]!.seq);
    await close();
  });

  test("an edited record is found by its seq", async () => {
    await db.run(`UPDATE audit_log SET user_name = 'mallory' WHERE seq = 7`);
    const r = await verifyAudit(db, head);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ seq: 7 });
    expect(r.problems[0]!.problem).toContain("edited");
    await close();
  });

  test("a deleted record is found", async () => {
    await db.run(`DELETE FROM audit_log WHERE seq = 12`);
    const r = await verifyAudit(db, head);
    expect(r.ok).toBe(false);
    expect(r.problems.some((p) => p.seq === 13 && p.problem.includes("12..12 are missing"))).toBe(true);
    await close();
  });

  test("reordered records (seq swapped) are found", async () => {
    await db.run(`UPDATE audit_log SET seq = CASE seq WHEN 5 THEN 6 ELSE 5 END WHERE seq IN (5, 6)`);
    const r = await verifyAudit(db, head);
    expect(r.ok).toBe(false);
    expect(r.problems[0]!.seq).toBe(5);
    await close();
  });

  test("deleting the newest records is found through the head file", async () => {
    await db.run(`DELETE FROM audit_log WHERE seq >= 18`);
    const r = await verifyAudit(db, head);
    expect(r.ok).toBe(false);
    expect(r.problems[0]!.problem).toContain("18..20 are missing at the end");
    await close();
  });

  test("a record re-hashed by someone without the chain still breaks the next link", async () => {
    const rows = await db.all<{ hash: string }>(`SELECT hash FROM audit_log WHERE seq = 9`);
    await db.run(`UPDATE audit_log SET hash = $1 WHERE seq = 9`, ["f".repeat(64)]);
    const r = await verifyAudit(db, head);
    expect(rows[0]!.hash).not.toBe("f".repeat(64));
    expect(r.problems.map((p) => p.seq)).toEqual([9, 10]);
    await close();
  });

  test("the chain continues across restarts", async () => {
    await db.close();
    db = await Db.open(path.join(dir, "central.duckdb"));
    audit = new Audit({ db, clock: new ManualClock(Date.UTC(2026, 0, 2)), log, headFile: head });
    await audit.init();
    audit.record({ user: "carol", action: "export", cameraId: "cam9" });
    await audit.flush();
    expect(await verifyAudit(db, head)).toMatchObject({ ok: true, checked: 21 });
    await close();
  });

  test("CLI: outpost central audit verify passes, then fails and names the record", async () => {
    await db.close();
    const cfgFile = path.join(dir, "central.yaml");
    await fs.writeFile(cfgFile, `dataDir: ${dir}\n`);
    const run = () => Bun.spawnSync(["bun", "cli/outpost.ts", "central", "audit", "verify", "--config", cfgFile], { cwd: path.join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe" });
    const ok = run();
    expect(ok.stdout.toString()).toContain("audit log intact: 20 records");
    expect(ok.exitCode).toBe(0);
    db = await Db.open(path.join(dir, "central.duckdb"));
    await db.run(`UPDATE audit_log SET detail = '{"i":99}' WHERE seq = 3`);
    await db.close();
    const bad = run();
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout.toString()).toContain("at record 3: record 3 was edited");
    db = await Db.open(path.join(dir, "x.duckdb"));
    await close();
  });
});

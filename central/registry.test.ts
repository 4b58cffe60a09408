/**
 * The registry across nodes: two Registry instances on one real PostgreSQL 15 (two central
 * nodes) see each other's enrollments, rotations and revocations through NOTIFY, and through
 * the periodic re-read when a notification is missed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Database } from "./db/index.ts";
import { postgresUnavailable, twoNodesOnServer } from "./db/testkit.ts";
import { driversInTempDir, migratedPairForDescribe } from "./database-testkit.ts";
import { Registry, type CertRef } from "./registry.ts";

const noServer = postgresUnavailable();
let dbA: Database;
let dbB: Database;
let stopNodes: (() => Promise<void>) | undefined;
beforeAll(async () => {
  if (noServer) return;
  const nodes = await twoNodesOnServer();
  [dbA, dbB, stopNodes] = [nodes.a, nodes.b, nodes.stop];
});
afterAll(() => stopNodes?.());

const cert = (serial: string): CertRef => ({ serial, notBefore: "2026-01-01T00:00:00Z", notAfter: "2027-01-01T00:00:00Z", pem: `pem ${serial}` });
async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await Bun.sleep(20);
  }
}

describe.skipIf(!!noServer)("registry on two nodes (PostgreSQL 15)", () => {
  test("a site enrolled on A is accepted on B; a revocation on A refuses it on B and cuts B's sessions", async () => {
    const a = new Registry(dbA);
    const b = new Registry(dbB);
    await a.init();
    await b.init();
    const cutOnB: string[] = [];
    // A long safety-net interval: only the notification can make this quick.
    const stopB = await b.follow({ intervalMs: 600_000, onCut: (id) => cutOnB.push(id), onError: (e) => console.error(e) });
    await a.enroll("bus-1", "Bus 1", cert("s1"), "2026-01-01T00:00:00Z");
    await until("B accepts the site A enrolled", () => b.accepts("bus-1", "s1") === "current");
    await a.setPending("bus-1", cert("s2"), "2026-01-02T00:00:00Z");
    await until("B accepts the pending certificate", () => b.accepts("bus-1", "s2") === "pending");
    await a.confirm("bus-1", "s2");
    await until("B refuses the replaced certificate", () => b.accepts("bus-1", "s1") === null);
    expect(b.accepts("bus-1", "s2")).toBe("current");
    expect(cutOnB).toEqual(["bus-1"]); // sessions on the old serial end on B too
    await a.revoke("bus-1", "2026-01-03T00:00:00Z", "stolen");
    await until("B refuses the revoked site", () => b.accepts("bus-1", "s2") === null);
    expect(b.get("bus-1")!.state).toBe("revoked");
    expect(cutOnB).toEqual(["bus-1", "bus-1"]);
    await stopB();
  });

  test("without notifications the periodic re-read still brings B up to date", async () => {
    const a = new Registry(dbA);
    const b = new Registry(dbB);
    await a.init();
    await b.init();
    // B follows nothing by NOTIFY here: its listen handler is never reached because A writes
    // through a database handle whose notify is a no-op (a lost notification).
    const silentA = new Registry(Object.assign(Object.create(dbA) as Database, { notify: async () => undefined }));
    await silentA.init();
    const cut: string[] = [];
    const stopB = await b.follow({ intervalMs: 200, onCut: (id) => cut.push(id), onError: (e) => console.error(e) });
    await silentA.enroll("boat-1", "Boat 1", cert("b1"), "2026-01-01T00:00:00Z");
    await until("B learns of the enrollment by re-reading", () => b.accepts("boat-1", "b1") === "current");
    await silentA.revoke("boat-1", "2026-01-02T00:00:00Z", null);
    await until("B learns of the revocation by re-reading", () => b.accepts("boat-1", "b1") === null);
    expect(cut).toEqual(["boat-1"]);
    await stopB();
    expect(a.get("boat-1")).toBeUndefined(); // A does not follow: it never re-read
  });

  test("a fleet larger than one page is read whole; a notification re-reads only the site it names", async () => {
    const a = new Registry(dbA);
    await a.init();
    const n = 600; // over two pages of 250
    for (let i = 0; i < n; i++) await a.enroll(`fleet-${String(i).padStart(4, "0")}`, `Fleet ${i}`, cert(`f${i}`), "2026-01-01T00:00:00Z");
    const statements: string[] = [];
    const counted = Object.assign(Object.create(dbB) as Database, {
      query: (sql: string, params?: unknown[]) => (statements.push(sql), dbB.query(sql, params as never)),
    });
    const b = new Registry(counted);
    await b.init();
    expect(b.list().filter((x) => x.id.startsWith("fleet-"))).toHaveLength(n);
    expect(statements.filter((x) => x.includes("LIMIT")).length).toBeGreaterThanOrEqual(3);
    const stopB = await b.follow({ intervalMs: 600_000, onCut: () => undefined, onError: (e) => console.error(e) });
    statements.length = 0;
    await a.revoke("fleet-0007", "2026-01-02T00:00:00Z", "test");
    await until("B refuses the revoked site", () => b.accepts("fleet-0007", "f7") === null);
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.every((x) => x.includes("WHERE id = $1"))).toBe(true); // one row, not the fleet
    expect(b.accepts("fleet-0008", "f8")).toBe("current");
    await stopB();
  });

  test("revoking one site among hundreds reads that site's row only: a site only another node enrolled is revoked, another site's change stays for the next re-read to report", async () => {
    const a = new Registry(dbA);
    await a.init();
    const n = 300; // more than one page of a whole-table read
    for (let i = 0; i < n; i++) await a.enroll(`rv-${String(i).padStart(4, "0")}`, `Rv ${i}`, cert(`rv${i}`), "2026-01-01T00:00:00Z");
    const reads: string[] = [];
    const counted = Object.assign(Object.create(dbB) as Database, {
      query: (sql: string, params?: unknown[]) => (reads.push(sql), dbB.query(sql, params as never)),
    });
    const b = new Registry(counted); // follows nothing: learns only by reading
    await b.init();
    // Written through A after B's read, unannounced: a new site, and another site's revocation.
    const silentA = new Registry(Object.assign(Object.create(dbA) as Database, { notify: async () => undefined }));
    await silentA.init();
    await silentA.enroll("rv-late", "Rv late", cert("late"), "2026-01-01T00:00:00Z");
    await silentA.revoke("rv-0002", "2026-01-02T00:00:00Z", "sold");
    expect(b.get("rv-late")).toBeUndefined();
    reads.length = 0;
    const rec = await b.revoke("rv-late", "2026-01-03T00:00:00Z", "test");
    expect(rec).toMatchObject({ id: "rv-late", state: "revoked", revokedReason: "test" });
    expect(reads).toHaveLength(1); // one row, not the fleet
    expect(reads[0]).toContain("WHERE id = $1");
    expect(b.accepts("rv-late", "late")).toBeNull();
    // rv-0002's revocation is still news to B: its next re-read reports the site to cut (a whole-table read inside revoke had swallowed it).
    expect(b.accepts("rv-0002", "rv2")).toBe("current");
    expect(await b.reload()).toEqual(["rv-0002"]);
    expect(b.accepts("rv-0002", "rv2")).toBeNull();
    expect(b.accepts("rv-0003", "rv3")).toBe("current");
  });
});

const { drivers } = driversInTempDir("registry");
for (const d of drivers) {
  describe.skipIf(d.skip)(`registry's safety-net re-read: ${d.name}`, () => {
    const pair = migratedPairForDescribe(d);
    test("an unchanged table is not read again; a write nobody announced is", async () => {
      const { a: dbA, b: dbB } = pair();
      const a = new Registry(Object.assign(Object.create(dbA) as Database, { notify: async () => undefined }));
      await a.init();
      for (let i = 0; i < 300; i++) await a.enroll(`sn-${String(i).padStart(4, "0")}`, `Sn ${i}`, cert(`sn${i}`), "2026-01-01T00:00:00Z");
      const pages: string[] = [];
      const counted = Object.assign(Object.create(dbB) as Database, {
        query: (sql: string, params?: unknown[]) => (sql.includes("LIMIT") && pages.push(sql), dbB.query(sql, params as never)),
      });
      const b = new Registry(counted);
      await b.init();
      expect(b.list()).toHaveLength(300);
      // Nothing changed since B's read: its periodic re-reads read no site rows (before: the fleet's, every interval).
      pages.length = 0;
      let statements = 0;
      const watched = Object.assign(Object.create(counted) as Database, { query: (sql: string, params?: unknown[]) => (statements++, counted.query(sql, params as never)) });
      const following = new Registry(watched);
      await following.init();
      pages.length = 0;
      statements = 0;
      const stop = await following.follow({ intervalMs: 20, onCut: () => undefined, onError: (e) => console.error(e) });
      await until("three periodic re-reads", () => statements >= 3);
      await stop();
      expect(pages).toHaveLength(0);
      const ids = b.ids({ active: true });
      for (let i = 0; i < 3; i++) expect(await b.reloadIfChanged()).toEqual([]);
      expect(pages).toHaveLength(0);
      expect(b.ids({ active: true })).toBe(ids); // the same list: per-site work derived from it is not redone (cluster/owned-sites.ts)
      // Unannounced writes on A (a new site, a revocation) are found by the next re-read.
      await a.enroll("sn-late", "Sn late", cert("late"), "2026-01-01T00:00:00Z");
      await a.revoke("sn-0002", "2026-01-02T00:00:00Z", "sold");
      expect(await b.reloadIfChanged()).toEqual(["sn-0002"]);
      expect(pages.length).toBeGreaterThan(0);
      expect(b.accepts("sn-late", "late")).toBe("current");
      expect(b.ids({ active: true })).not.toBe(ids);
      expect(b.ids({ active: true })).toContain("sn-late");
      expect(b.ids({ active: true })).not.toContain("sn-0002");
      expect(b.accepts("sn-0002", "sn2")).toBeNull();
      // …and a certificate rotation (an UPDATE of one row, same row count).
      pages.length = 0;
      expect(await b.reloadIfChanged()).toEqual([]);
      expect(pages).toHaveLength(0);
      await a.setPending("sn-0003", cert("sn3b"), "2026-01-02T00:00:00Z");
      await a.confirm("sn-0003", "sn3b");
      expect(await b.reloadIfChanged()).toEqual(["sn-0003"]);
      expect(b.accepts("sn-0003", "sn3b")).toBe("current");
    });
  });
}

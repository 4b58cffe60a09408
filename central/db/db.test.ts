/**
 * The conformance suite of central/db: the same tests against both drivers — embedded PGlite
 * (a data directory in a temp dir) and a real PostgreSQL 15 server (a throwaway cluster on a
 * Unix socket, testkit.ts). Whatever a module relies on is pinned here for both.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openServer } from "./server.ts";
import { sqlState, type Database } from "./sql.ts";
import { postgresUnavailable, startPostgres, testEmbedded, testEmbeddedProcess, type TestPostgres } from "./testkit.ts";

let tmp: string;
let pg: TestPostgres | null = null;
const noServer = postgresUnavailable();
if (noServer) console.warn(`central/db: server driver tests skipped: ${noServer}`);

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(tmpdir(), "outpost-dbtest-"));
  if (!noServer) pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

const drivers: { name: string; skip: boolean; open: () => Promise<Database> }[] = [
  { name: "embedded (PGlite)", skip: false, open: () => testEmbedded(path.join(tmp, "embedded")) },
  { name: "embedded in its own process (PGlite over a socket)", skip: false, open: () => testEmbeddedProcess(path.join(tmp, "embedded-process")) },
  { name: "server (PostgreSQL 15)", skip: !!noServer, open: async () => openServer(await pg!.createDatabase()) },
];

for (const d of drivers) {
  describe.skipIf(d.skip)(`central/db conformance: ${d.name}`, () => {
    let db: Database;
    beforeAll(async () => {
      db = await d.open();
      await db.exec(`CREATE TABLE kv (k text PRIMARY KEY, n bigint, i integer, f double precision, b boolean, j jsonb, raw bytea);
                     CREATE TABLE bulk (id integer PRIMARY KEY, label text, at_ms bigint)`);
    });
    afterAll(async () => {
      await db?.close();
    });

    test("values round-trip with their JavaScript types; int8 is a number while exact, a bigint beyond; jsonb takes objects", async () => {
      const at = 1_764_800_000_123;
      await db.run(`INSERT INTO kv VALUES ($1, $2, $3, $4, $5, $6, $7)`, ["a", at, 42, 1.5, true, { x: [1, "y"] }, new Uint8Array([0, 255, 7])]);
      await db.run(`INSERT INTO kv (k, n, b) VALUES ($1, $2, $3)`, ["big", 2n ** 62n + 1n, false]);
      await db.run(`INSERT INTO kv (k) VALUES ($1)`, ["nulls"]);
      const rows = await db.query<Record<string, unknown>>(`SELECT * FROM kv ORDER BY k`);
      expect(rows[0]).toEqual({ k: "a", n: at, i: 42, f: 1.5, b: true, j: { x: [1, "y"] }, raw: new Uint8Array([0, 255, 7]) });
      expect(rows[1]!.n).toBe(2n ** 62n + 1n);
      expect(rows[1]!.b).toBe(false);
      expect(rows[2]).toEqual({ k: "nulls", n: null, i: null, f: null, b: null, j: null, raw: null });
      const [c] = await db.query<{ c: unknown }>(`SELECT count(*) AS c FROM kv`);
      expect(c!.c).toBe(3);
    });

    test("run returns the rows written; parameters are values, never SQL", async () => {
      const evil = "x'); DROP TABLE kv; --";
      expect(await db.run(`INSERT INTO kv (k, n) VALUES ($1, $2), ($3, $4)`, [evil, 1, "p2", 2])).toBe(2);
      expect(await db.run(`UPDATE kv SET i = $1 WHERE k = $2 OR k = $3`, [7, evil, "p2"])).toBe(2);
      expect(await db.run(`UPDATE kv SET i = $1 WHERE k = $2`, [7, "none"])).toBe(0);
      expect((await db.query<{ k: string }>(`SELECT k FROM kv WHERE k = $1`, [evil]))[0]!.k).toBe(evil);
      expect(await db.run(`DELETE FROM kv WHERE i = $1`, [7])).toBe(2);
    });

    test("errors carry PostgreSQL's SQLSTATE and leave the database usable", async () => {
      await db.run(`INSERT INTO kv (k) VALUES ($1)`, ["dup"]);
      const e = await db.run(`INSERT INTO kv (k) VALUES ($1)`, ["dup"]).catch((x: unknown) => x);
      expect(sqlState(e)).toBe("23505");
      expect(sqlState(await db.query(`SELECT nope FROM kv`).catch((x: unknown) => x))).toBe("42703");
      expect(await db.run(`DELETE FROM kv WHERE k = $1`, ["dup"])).toBe(1);
    });

    test("a transaction commits as one; a throw rolls all of it back", async () => {
      const n = await db.transaction(async (tx) => {
        await tx.run(`INSERT INTO kv (k, n) VALUES ($1, $2)`, ["t1", 1]);
        await tx.run(`INSERT INTO kv (k, n) VALUES ($1, $2)`, ["t2", 2]);
        return (await tx.query<{ c: number }>(`SELECT count(*) AS c FROM kv WHERE k LIKE $1`, ["t%"]))[0]!.c;
      });
      expect(n).toBe(2);
      const err = await db
        .transaction(async (tx) => {
          await tx.run(`INSERT INTO kv (k, n) VALUES ($1, $2)`, ["t3", 3]);
          await tx.run(`UPDATE kv SET n = $1 WHERE k = $2`, [99, "t1"]);
          throw new Error("changed my mind");
        })
        .catch((e: Error) => e.message);
      expect(err).toBe("changed my mind");
      expect(await db.query(`SELECT k, n FROM kv WHERE k LIKE $1 ORDER BY k`, ["t%"])).toEqual([
        { k: "t1", n: 1 },
        { k: "t2", n: 2 },
      ]);
    });

    test("a statement from outside never lands inside a transaction that rolls back", async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const tx = db
        .transaction(async (t) => {
          await t.run(`INSERT INTO kv (k) VALUES ($1)`, ["inside"]);
          await gate;
          throw new Error("roll back");
        })
        .catch(() => "rolled back");
      await Bun.sleep(50);
      const outside = db.run(`INSERT INTO kv (k) VALUES ($1)`, ["outside"]);
      release();
      expect(await tx).toBe("rolled back");
      expect(await outside).toBe(1);
      expect((await db.query<{ k: string }>(`SELECT k FROM kv WHERE k IN ($1, $2)`, ["inside", "outside"])).map((r) => r.k)).toEqual(["outside"]);
    });

    test("concurrent transactions each commit whole (queued on one connection, or in parallel on a pool)", async () => {
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          db.transaction(async (tx) => {
            await tx.run(`INSERT INTO kv (k, n) VALUES ($1, $2)`, [`ct${i}`, i]);
            await Bun.sleep(10);
            await tx.run(`UPDATE kv SET i = $1 WHERE k = $2`, [i * 10, `ct${i}`]);
            return i;
          }),
        ),
      );
      expect(results).toEqual([0, 1, 2, 3, 4]);
      expect(await db.query(`SELECT k, n, i FROM kv WHERE k LIKE $1 ORDER BY k`, ["ct%"])).toEqual(Array.from({ length: 5 }, (_, i) => ({ k: `ct${i}`, n: i, i: i * 10 })));
      // One begun while another's body is running (not only when both start in the same tick).
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const first = db.transaction(async (tx) => {
        await tx.run(`INSERT INTO kv (k) VALUES ($1)`, ["held"]);
        await gate;
        return "first";
      });
      await Bun.sleep(50);
      const second = db.transaction(async (tx) => (await tx.run(`INSERT INTO kv (k) VALUES ($1)`, ["later"]), "second"));
      release();
      expect(await Promise.all([first, second])).toEqual(["first", "second"]);
      expect(await db.query(`SELECT count(*) AS c FROM kv WHERE k IN ($1, $2)`, ["held", "later"])).toEqual([{ c: 2 }]);
    });

    test("copyRows inserts many rows in chunks, inside a transaction too; bad identifiers and short rows are refused", async () => {
      const rows = Array.from({ length: 2500 }, (_, i) => [i, `seg ${i}`, 1_764_800_000_000 + i]);
      expect(await db.copyRows("bulk", ["id", "label", "at_ms"], rows)).toBe(2500);
      expect(await db.query(`SELECT count(*) AS c, max(at_ms) AS m FROM bulk`)).toEqual([{ c: 2500, m: 1_764_800_002_499 }]);
      await expect(db.transaction((tx) => tx.copyRows("bulk", ["id", "label", "at_ms"], [[5000, "a", 1], [1, "dup", 2]]))).rejects.toThrow();
      expect(await db.query(`SELECT count(*) AS c FROM bulk WHERE id = $1`, [5000])).toEqual([{ c: 0 }]);
      await expect(db.copyRows("bulk; DROP TABLE kv", ["id"], [[1]])).rejects.toThrow(/identifier/);
      await expect(db.copyRows("bulk", ["id", "label"], [[1]])).rejects.toThrow(/2 columns/);
      expect(await db.copyRows("bulk", ["id"], [])).toBe(0);
    });

    test("listen/notify: every listener gets the payload, a transaction's notification only on commit, unlisten stops it", async () => {
      const a: string[] = [];
      const b: string[] = [];
      const waitFor = async (cond: () => boolean) => {
        for (let i = 0; i < 200 && !cond(); i++) await Bun.sleep(10);
      };
      const stopA = await db.listen("conf_changed", (p) => a.push(p));
      const stopB = await db.listen("conf_changed", (p) => b.push(p));
      await db.notify("conf_changed", "one");
      await waitFor(() => a.length === 1 && b.length === 1);
      expect([a, b]).toEqual([["one"], ["one"]]);
      await db.transaction(async (tx) => tx.notify("conf_changed", "rolled back").then(() => Promise.reject(new Error("no"))).catch(() => undefined).then(() => Promise.reject(new Error("roll back")))).catch(() => undefined);
      await db.transaction((tx) => tx.notify("conf_changed", "committed"));
      await waitFor(() => a.length === 2);
      expect(a).toEqual(["one", "committed"]);
      await stopA();
      await db.notify("conf_changed", "after");
      await waitFor(() => b.length === 3);
      expect(b).toEqual(["one", "committed", "after"]);
      expect(a).toEqual(["one", "committed"]);
      await stopB();
      await expect(db.listen("Bad; LISTEN x", () => undefined)).rejects.toThrow(/identifier/);
      await expect(db.notify("bad channel", "x")).rejects.toThrow(/identifier/);
    });

    test("copyRows keeps every value as given: NULL vs empty text, quotes, commas, newlines, booleans, int8, jsonb, bytea", async () => {
      const rows = [
        ["c-null", null, null, null, null, null, null],
        ["", 0, 0, 0, false, [], new Uint8Array([])],
        ['he said "hi", then\nleft\r\n\\N', 2n ** 62n + 1n, -7, -1.25, true, { q: 'a "b", c\nd', n: null }, new Uint8Array([0, 34, 44, 10, 255])],
        ["\\.", 1_764_800_000_123, 2_147_483_647, 1e-9, true, ["a", 1, null], new Uint8Array([92])],
      ];
      expect(await db.copyRows("kv", ["k", "n", "i", "f", "b", "j", "raw"], rows)).toBe(4);
      const got = await db.query<Record<string, unknown>>(`SELECT k, n, i, f, b, j, raw FROM kv WHERE k IN ($1, $2, $3, $4) ORDER BY k`, rows.map((r) => r[0] as string));
      const want = [...rows].sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1)).map(([k, n, i, f, b, j, raw]) => ({ k, n, i, f, b, j, raw }));
      expect(got).toEqual(want);
      expect(await db.query(`SELECT count(*) AS c FROM kv WHERE k = $1 AND n IS NULL AND j IS NULL`, ["c-null"])).toEqual([{ c: 1 }]);
      await db.run(`DELETE FROM kv WHERE k IN ($1, $2, $3, $4)`, rows.map((r) => r[0] as string));
    });

    test("exec runs a script of several statements", async () => {
      await db.exec(`CREATE TABLE s1 (a int); INSERT INTO s1 VALUES (1), (2); CREATE INDEX s1_a ON s1 (a)`);
      expect(await db.query(`SELECT sum(a) AS s FROM s1`)).toEqual([{ s: 3 }]);
    });
  });
}

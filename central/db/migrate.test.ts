/**
 * Migrations on both drivers: every migration goes up, all the way down and up again with the
 * same schema; a failing step rolls back whole and names its file; two nodes migrating one
 * server at once apply each version once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { appliedVersions, loadMigrations, migrateDown, migrateUp, schemaDump, type Migration } from "./migrate.ts";
import { openServer } from "./server.ts";
import type { Database } from "./sql.ts";
import { postgresUnavailable, startPostgres, testEmbedded, testEmbeddedProcess, type TestPostgres } from "./testkit.ts";

let tmp: string;
let pg: TestPostgres | null = null;
const noServer = postgresUnavailable();

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(tmpdir(), "outpost-migtest-"));
  if (!noServer) pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

test("migration files parse: versions ascend, each has up and down", () => {
  const all = loadMigrations();
  expect(all.length).toBeGreaterThan(0);
  expect(all.map((m) => m.version)).toEqual([...all.map((m) => m.version)].sort((a, b) => a - b));
  for (const m of all) expect(m.up.length * m.down.length).toBeGreaterThan(0);
});

test("a file without a down section is refused by name", async () => {
  const dir = path.join(tmp, "bad-files");
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, "0001_only_up.sql"), "-- up\nCREATE TABLE x (a int);\n");
  expect(() => loadMigrations(dir)).toThrow(/0001_only_up\.sql.*-- down/);
});

const drivers: { name: string; skip: boolean; open: () => Promise<Database> }[] = [
  { name: "embedded (PGlite)", skip: false, open: () => testEmbedded(path.join(tmp, "embedded")) },
  { name: "embedded in its own process (PGlite over a socket)", skip: false, open: () => testEmbeddedProcess(path.join(tmp, "embedded-process")) },
  { name: "server (PostgreSQL 15)", skip: !!noServer, open: async () => openServer(await pg!.createDatabase()) },
];

for (const d of drivers) {
  describe.skipIf(d.skip)(`migrations: ${d.name}`, () => {
    let db: Database;
    beforeAll(async () => {
      db = await d.open();
    });
    afterAll(async () => {
      await db?.close();
    });

    test("up all → down all → up all gives the same schema; down leaves only schema_migrations", async () => {
      const versions = loadMigrations().map((m) => m.version);
      const empty = await schemaDump(db);
      expect(await migrateUp(db)).toEqual(versions);
      expect(await migrateUp(db)).toEqual([]); // applied once
      expect(await appliedVersions(db)).toEqual(versions);
      const first = await schemaDump(db);
      expect(first.some((l) => l.startsWith("column users.password_hash text not null"))).toBe(true);
      expect(await migrateDown(db)).toEqual([...versions].reverse());
      expect(await appliedVersions(db)).toEqual([]);
      const down = await schemaDump(db);
      expect(down.filter((l) => !l.includes("schema_migrations"))).toEqual(empty);
      expect(await migrateUp(db)).toEqual(versions);
      expect(await schemaDump(db)).toEqual(first);
    });

    test("a failing step rolls back whole, names its file, and the next start applies it once fixed", async () => {
      const extra: Migration[] = [
        ...loadMigrations(),
        { version: 9001, name: "half_broken", up: "CREATE TABLE t9001 (a int); CREATE TABLE t9001_b (a nosuchtype);", down: "DROP TABLE t9001_b; DROP TABLE t9001;" },
      ];
      await expect(migrateUp(db, { migrations: extra })).rejects.toThrow(/9001_half_broken \(up\) failed/);
      expect(await db.query(`SELECT to_regclass($1) AS t`, ["t9001"])).toEqual([{ t: null }]);
      expect(await appliedVersions(db)).not.toContain(9001);
      extra[extra.length - 1]!.up = "CREATE TABLE t9001 (a int); CREATE TABLE t9001_b (a int);";
      expect(await migrateUp(db, { migrations: extra })).toEqual([9001]);
      expect(await migrateDown(db, { migrations: extra, target: 9000 })).toEqual([9001]);
      expect(await db.query(`SELECT to_regclass($1) AS t`, ["t9001"])).toEqual([{ t: null }]);
    });
  });
}

describe.skipIf(!!noServer)("migrations: several nodes at once (server)", () => {
  test("three nodes starting together on one database apply each version exactly once", async () => {
    const url = await pg!.createDatabase();
    const nodes = await Promise.all([openServer(url), openServer(url), openServer(url)]);
    try {
      const applied = await Promise.all(nodes.map((n) => migrateUp(n)));
      expect(applied.flat().sort((a, b) => a - b)).toEqual(loadMigrations().map((m) => m.version));
      expect(await nodes[0]!.query(`SELECT count(*) AS c FROM schema_migrations`)).toEqual([{ c: loadMigrations().length }]);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  });
});

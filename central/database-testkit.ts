/**
 * Test support for modules moved into central's database (central/db), tested end to end
 * through startCentral: a temp root per file, a logger whose records the test reads (the
 * once-only move from central.duckdb logs a line per module), central's config with free ports
 * and plain HTTP, an old installation's central.duckdb built by the test, and a throwaway
 * PostgreSQL 15 server for a describe block (database.url); and, for a module's tests on both
 * drivers, testDrivers with its embedded databases in a temp directory of the file.
 */
import { afterAll, beforeAll } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { Db } from "./db.ts";
import {
  openMigratedPair,
  postgresUnavailable,
  startPostgres,
  testDrivers,
  type MigratedPair,
  type TestDriver,
  type TestPostgres,
} from "./db/testkit.ts";
import type { CentralConfigInput } from "./index.ts";
import { migrateUp, type Database } from "./db/index.ts";

/** The line central logs for each module whose tables it moved out of central.duckdb. */
export const MOVED_FROM_DUCKDB =
  "moved tables from central.duckdb into the database";

export interface CentralDbTest {
  /** The file's temp directory (made in beforeAll, removed in afterAll). */
  root(): string;
  sink: MemorySink;
  log: Logger;
  cfg(dataDir: string, extra?: Partial<CentralConfigInput>): CentralConfigInput;
  /** How many modules' tables have been moved from central.duckdb so far (MOVED_FROM_DUCKDB lines). */
  moved(): number;
}

/** Call at a test file's top level: registers the temp root's beforeAll/afterAll. */
export function centralDbTest(prefix: string): CentralDbTest {
  let root = "";
  const sink = new MemorySink();
  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), `outpost-${prefix}-`));
  });
  afterAll(async () => {
    if (root) await fs.rm(root, { recursive: true, force: true });
  });
  return {
    root: () => root,
    sink,
    log: new Logger({ component: "test", sink, level: "info" }),
    cfg: (dataDir, extra = {}) => ({
      dataDir,
      api: { port: 0, plainHttp: true },
      enroll: { port: 0 },
      federation: { port: 0 },
      mqtt: { port: 0 },
      ...extra,
    }),
    moved: () => sink.records.filter((r) => r.msg === MOVED_FROM_DUCKDB).length,
  };
}

/** central.duckdb in dataDir as the previous version left it: `build` runs its statements. */
export async function oldCentralDuckdb(
  dataDir: string,
  build: (duck: Db) => Promise<void>,
): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const duck = await Db.open(path.join(dataDir, "central.duckdb"));
  try {
    await build(duck);
  } finally {
    await duck.close();
  }
}

/** Why the server tests are skipped here, or null (use with describe.skipIf). */
export const noPostgres = postgresUnavailable();

/** Call inside a describe block: a throwaway PostgreSQL server started in its beforeAll, stopped in its afterAll. */
export function postgresForDescribe(): () => TestPostgres {
  let pg: TestPostgres | null = null;
  beforeAll(async () => {
    pg = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
  });
  return () => pg!;
}

/**
 * Call at a test file's top level: both drivers (testDrivers in central/db/testkit.ts), their
 * embedded databases in a temp directory made in beforeAll; afterAll stops the throwaway server
 * and removes the directory. `tmp()` is the directory, for the file's other files.
 */
export function driversInTempDir(prefix: string): { drivers: TestDriver[]; tmp(): string } {
  let tmp = "";
  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), `outpost-${prefix}-`));
  });
  const { drivers, stop } = testDrivers(() => tmp);
  afterAll(async () => {
    await stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });
  return { drivers, tmp: () => tmp };
}

/** Call inside a describe block: one new database of driver `d`, migrated in its beforeAll and closed in its afterAll. */
export function migratedDbForDescribe(d: Pick<TestDriver, "open">): () => Database {
  let db: Database | undefined;
  beforeAll(async () => {
    db = await d.open();
    await migrateUp(db);
  });
  afterAll(async () => {
    await db?.close();
  });
  return () => db!;
}

/**
 * Call inside a describe block: two central nodes' handles on one new, migrated database of
 * driver `d` (openMigratedPair), opened in its beforeAll and closed in its afterAll.
 */
export function migratedPairForDescribe(d: TestDriver): () => MigratedPair {
  let pair: MigratedPair | undefined;
  beforeAll(async () => {
    pair = await openMigratedPair(d);
  });
  afterAll(async () => {
    await pair?.close();
  });
  return () => pair!;
}

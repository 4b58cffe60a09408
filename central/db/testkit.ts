/**
 * Test support for central/db: a throwaway PostgreSQL server (the machine's PostgreSQL 15
 * binaries) in a temp directory, on a Unix socket in that directory — no TCP port — and the
 * PGlite template that keeps embedded databases in tests fast (one initdb per machine).
 * PostgreSQL refuses to run as root: as root the cluster runs as `nobody`.
 */
import { existsSync, promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openEmbedded } from "./embedded.ts";
import { migrateUp } from "./migrate.ts";
import { openEmbeddedProcess, type ProcessDatabase } from "./pglite-process.ts";
import { openServer } from "./server.ts";
import type { Database } from "./sql.ts";

export const PG_BIN = process.env.PG_BIN_DIR ?? "/usr/lib/postgresql/15/bin";

/** Why no throwaway server can run here, or null. */
export function postgresUnavailable(): string | null {
  if (!existsSync(path.join(PG_BIN, "pg_ctl"))) return `PostgreSQL binaries not found in ${PG_BIN} (set PG_BIN_DIR)`;
  return null;
}

export interface TestPostgres {
  /** postgres:// URL of the cluster's "postgres" database over its Unix socket. */
  url: string;
  /** A new empty database on the cluster; its URL. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

async function sh(cmd: string[], user: string | null): Promise<void> {
  const argv = user ? ["runuser", "-u", user, "--", ...cmd] : cmd;
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if ((await p.exited) !== 0) throw new Error(`${cmd.join(" ")} failed (${p.exitCode}): ${err || out}`);
}

export async function startPostgres(): Promise<TestPostgres> {
  const why = postgresUnavailable();
  if (why) throw new Error(why);
  const user = process.getuid?.() === 0 ? "nobody" : null;
  const dir = await fs.mkdtemp(path.join(tmpdir(), "outpost-pg-"));
  if (user) await sh(["chown", user, dir], null);
  const data = path.join(dir, "data");
  await sh([path.join(PG_BIN, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"], user);
  // Unix socket only (listen_addresses ''), in the temp dir; fsync off: the data is thrown away.
  await sh([path.join(PG_BIN, "pg_ctl"), "start", "-w", "-t", "120", "-D", data, "-l", path.join(dir, "log"), "-o", `-k ${dir} -c listen_addresses='' -c fsync=off -c max_connections=100`], user);
  const url = (db: string) => `postgres://postgres@localhost/${db}?host=${dir}`;
  let n = 0;
  let admin: Database | null = null;
  return {
    url: url("postgres"),
    async createDatabase() {
      admin ??= await openServer(url("postgres"), { max: 1 });
      const name = `t${process.pid}_${++n}`;
      await admin.exec(`CREATE DATABASE ${name}`);
      return url(name);
    },
    async stop() {
      await admin?.close().catch(() => undefined);
      await sh([path.join(PG_BIN, "pg_ctl"), "stop", "-D", data, "-m", "immediate"], user).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Where tests keep the initialized PGlite data directory that new embedded databases copy. */
export function pgliteTemplateDir(): string {
  return path.join(tmpdir(), `outpost-pglite-template-${process.getuid?.() ?? "u"}-${PGLITE_VERSION}`);
}
const PGLITE_VERSION = (await Bun.file(path.join(import.meta.dir, "../../node_modules/@electric-sql/pglite/package.json")).json()).version as string;

/**
 * An embedded database in `dir` (made from the test template): inline, or in its own process
 * when PGLITE_TEST_EMBEDDED=process (to run a module's tests on `database.embedded: process`;
 * not OUTPOST_…, which names config keys and would reach the CLIs those tests start).
 */
export function testEmbedded(dir: string): Promise<Database> {
  if (process.env.PGLITE_TEST_EMBEDDED === "process") return testEmbeddedProcess(dir);
  return openEmbedded(dir, { template: process.env.PGLITE_TEMPLATE_DIR ?? pgliteTemplateDir() });
}

/** An embedded database in `dir` in its own process (`database.embedded: process`). */
export function testEmbeddedProcess(dir: string): Promise<ProcessDatabase> {
  return openEmbeddedProcess(dir, { template: process.env.PGLITE_TEMPLATE_DIR ?? pgliteTemplateDir() });
}

export interface TestDriver {
  name: string;
  /** No PostgreSQL binaries here: the server driver's tests are skipped (with a warning). */
  skip: boolean;
  /** A new, empty, migrated-by-nobody database on this driver. */
  open(): Promise<Database>;
  /**
   * Two central nodes' handles on one new database: two connections on the server; on PGlite
   * (one process, one connection) the same handle twice, whose transactions queue.
   */
  openTwo(): Promise<[Database, Database]>;
}

/**
 * Both drivers for a module's tests (the conformance pattern): embedded PGlite in a new
 * directory under dir() per open, and a new database on one throwaway server started at the
 * first open. Call stop() in afterAll.
 */
export function testDrivers(dir: () => string): { drivers: TestDriver[]; stop(): Promise<void> } {
  const noServer = postgresUnavailable();
  if (noServer) console.warn(`server driver tests skipped: ${noServer}`);
  let server: Promise<TestPostgres> | null = null;
  let n = 0;
  return {
    drivers: [
      {
        name: "embedded (PGlite)",
        skip: false,
        open: () => testEmbedded(path.join(dir(), `pglite-${++n}`)),
        openTwo: async () => {
          const db = await testEmbedded(path.join(dir(), `pglite-${++n}`));
          return [db, db];
        },
      },
      {
        name: "server (PostgreSQL 15)",
        skip: !!noServer,
        open: async () => openServer(await (await (server ??= startPostgres())).createDatabase()),
        openTwo: async () => {
          const url = await (await (server ??= startPostgres())).createDatabase();
          return [await openServer(url), await openServer(url)];
        },
      },
    ],
    async stop() {
      if (server) await (await server).stop();
    },
  };
}

/** Two central nodes' handles on one new database of a driver (TestDriver.openTwo), migrated. */
export interface MigratedPair {
  a: Database;
  b: Database;
  /** Closes each handle once (on PGlite a and b are one). */
  close(): Promise<void>;
}

export async function openMigratedPair(d: TestDriver): Promise<MigratedPair> {
  const [a, b] = await d.openTwo();
  await migrateUp(a);
  return { a, b, close: async () => void (await Promise.all(a === b ? [a.close()] : [a.close(), b.close()])) };
}

/** "Two central nodes": two Database handles on one fresh, migrated database of a throwaway server. */
export async function twoNodesOnServer(): Promise<{ a: Database; b: Database; stop(): Promise<void> }> {
  const pg = await startPostgres();
  const url = await pg.createDatabase();
  const a = await openServer(url);
  await migrateUp(a);
  const b = await openServer(url);
  return {
    a,
    b,
    stop: async () => {
      await Promise.all([a.close(), b.close()]);
      await pg.stop();
    },
  };
}

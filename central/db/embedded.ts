/**
 * The embedded driver: PGlite (PostgreSQL compiled to WebAssembly, in this process) with its
 * data directory under central's DATA dir — the single-node default. One connection: PGlite
 * runs one statement at a time and its transactions hold it, so no caller's statement lands
 * inside another's transaction.
 *
 * A new directory costs PGlite an initdb (tens of seconds on a busy machine; a reopen about
 * one). Tests set PGLITE_TEMPLATE_DIR to a directory: the first new database initializes
 * it once, later ones copy it (central/db/testkit.ts). The product leaves it unset.
 */
import { PGlite, types } from "@electric-sql/pglite";
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { checkIdentifier, copyCsv, int8, notifyWith, sameConnection, type Database, type Row, type Sql, type SqlValue } from "./sql.ts";

type PgliteSql = Pick<PGlite, "query" | "exec">;

function statements(pg: PgliteSql): Sql {
  const s: Sql = {
    query: async <T = Row>(sql: string, params: readonly SqlValue[] = []) => (await pg.query<T>(sql, params as unknown[])).rows,
    run: async (sql, params = []) => (await pg.query(sql, params as unknown[])).affectedRows ?? 0,
    // COPY reads the CSV from PGlite's /dev/blob (its stand-in for a client stream).
    copyRows: (table, columns, rows) =>
      copyCsv(table, columns, rows, "'/dev/blob'", async (statement, csv) => (await pg.query(statement, [], { blob: new Blob(csv) })).affectedRows ?? 0),
    exec: async (script) => void (await pg.exec(script)),
    notify: (channel, payload) => notifyWith(s, channel, payload),
  };
  return s;
}

const parsers = { [types.INT8]: (x: string) => int8(x) };

/**
 * PostgreSQL's WebAssembly module and file bundle, compiled and read once per process: every
 * later open (tests start many centrals in one process) skips the compile.
 */
let assets: Promise<{ pgliteWasmModule: WebAssembly.Module; fsBundle: Blob }> | undefined;
function pgliteAssets(): Promise<{ pgliteWasmModule: WebAssembly.Module; fsBundle: Blob }> {
  return (assets ??= (async () => {
    const dist = path.dirname(Bun.resolveSync("@electric-sql/pglite", import.meta.dir));
    const [wasm, data] = await Promise.all([Bun.file(path.join(dist, "pglite.wasm")).arrayBuffer(), Bun.file(path.join(dist, "pglite.data")).arrayBuffer()]);
    return { pgliteWasmModule: await WebAssembly.compile(wasm), fsBundle: new Blob([data]) };
  })());
}

/**
 * PGlite on the data directory `dir` (made from `template` when new), private to the service
 * user; closePglite() closes it. Also the engine of the database process (pglite-process.ts).
 */
export async function openPglite(dir: string, o: { template?: string | undefined } = {}): Promise<PGlite> {
  const template = o.template ?? process.env.PGLITE_TEMPLATE_DIR;
  if (template && !existsSync(path.join(dir, "PG_VERSION"))) await copyTemplate(template, dir);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const pg = await PGlite.create({ dataDir: dir, parsers, ...(await pgliteAssets()) });
  // PostgreSQL writes some files at start (pg_internal.init) through fopen, which in WebAssembly
  // applies Emscripten's own umask (022), not the process's: narrowed here, as the copy is.
  await narrow(dir);
  return pg;
}

export async function closePglite(pg: PGlite, dir: string): Promise<void> {
  await pg.close();
  await narrow(dir); // statistics written at shutdown (pg_stat/) go through fopen too
}

export async function openEmbedded(dir: string, o: { template?: string } = {}): Promise<Database> {
  const pg = await openPglite(dir, o);
  const db: Database = {
    driver: "embedded",
    ...statements(pg),
    // Concurrent callers wait their turn (PGlite's transaction mutex); inside fn use tx only.
    transaction: (fn) => pg.transaction((tx) => fn(statements(tx))),
    // In-process: PGlite delivers a NOTIFY to its own listeners after the statement (or COMMIT).
    listen: async (channel, handler) => {
      const unlisten = await pg.listen(checkIdentifier(channel), handler);
      return () => unlisten();
    },
    ownConnection: () => sameConnection(db),
    close: () => closePglite(pg, dir),
  };
  return db;
}

/**
 * Copies an initialized, closed data directory into `dir`; makes the template first when it
 * does not exist (one maker at a time, through an exclusive lock directory; the others wait).
 */
async function copyTemplate(template: string, dir: string): Promise<void> {
  if (!existsSync(path.join(template, "PG_VERSION"))) {
    const lock = `${template}.lock`;
    await fs.mkdir(path.dirname(template), { recursive: true });
    let owned = false;
    while (!owned && !existsSync(path.join(template, "PG_VERSION"))) {
      try {
        await fs.mkdir(lock);
        owned = true;
      } catch {
        // Another process makes it; a lock older than 5 minutes was left by a crash.
        const st = await fs.stat(lock).catch(() => null);
        if (st && Date.now() - st.mtimeMs > 300_000) await fs.rm(lock, { recursive: true, force: true });
        await Bun.sleep(250);
      }
    }
    if (owned) {
      try {
        if (!existsSync(path.join(template, "PG_VERSION"))) {
          const tmp = `${template}.tmp-${process.pid}`;
          await fs.rm(tmp, { recursive: true, force: true });
          const pg = await PGlite.create({ dataDir: tmp });
          await pg.close();
          await narrow(tmp);
          await fs.rename(tmp, template);
        }
      } finally {
        await fs.rm(lock, { recursive: true, force: true });
      }
    }
  }
  await fs.mkdir(path.dirname(dir), { recursive: true });
  await fs.cp(template, dir, { recursive: true });
  await narrow(dir);
}

/** No group or other bits under p: data at rest is private to the service user (central's umask is 077). */
async function narrow(p: string): Promise<void> {
  const st = await fs.lstat(p);
  if (st.isSymbolicLink()) return;
  if (st.mode & 0o077) await fs.chmod(p, st.mode & 0o700);
  if (st.isDirectory()) for (const n of await fs.readdir(p)) await narrow(path.join(p, n));
}

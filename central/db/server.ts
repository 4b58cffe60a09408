/**
 * The server driver: any PostgreSQL 15+ through Bun's built-in client (Bun.SQL), a pool of
 * connections. A transaction reserves one connection for its statements (sql.begin).
 */
import { SQL } from "bun";
import { open, rm } from "node:fs/promises";
import path from "node:path";
import { checkIdentifier, copyCsv, int8, notifyWith, type Database, type Row, type Sql, type SqlValue } from "./sql.ts";

/**
 * As PGlite gives them: int8 arrives as bigint (bigint: true, so no precision is lost) and
 * becomes a number when exact; bytea arrives as a Buffer and becomes a plain Uint8Array.
 */
function normalize<T>(rows: Row[]): T[] {
  for (const r of rows)
    for (const k in r) {
      const v = r[k];
      if (typeof v === "bigint") r[k] = int8(v);
      else if (Buffer.isBuffer(v)) r[k] = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    }
  return rows as T[];
}

/**
 * COPY's CSV written as a file that the server reads, instead of sent on the connection: for
 * the embedded database process (pglite-process.ts), whose single-backend wire protocol cannot
 * take COPY FROM STDIN. `hostDir` is the server's data directory as this process sees it,
 * `serverDir` as the server does.
 */
export interface CopyThroughFile {
  hostDir: string;
  serverDir: string;
}
let copies = 0;

function copyRowsWith(sql: SQL, file: CopyThroughFile | undefined): Sql["copyRows"] {
  if (!file)
    return (table, columns, rows) =>
      copyCsv(table, columns, rows, "STDIN", async (statement, csv) => {
        const q = sql.unsafe(statement);
        const w = q.writable().getWriter();
        for (const piece of csv) await w.write(piece);
        await w.close();
        return ((await q) as unknown as { count?: number }).count ?? 0;
      });
  return async (table, columns, rows) => {
    const name = `copy-${process.pid}-${++copies}.csv`; // a name from code: never a value
    const hostPath = path.join(file.hostDir, name);
    try {
      return await copyCsv(table, columns, rows, `'${file.serverDir}/${name}'`, async (statement, csv) => {
        // Written piece by piece (Bun.write of one big string would block the event loop).
        const f = await open(hostPath, "w", 0o600);
        try {
          for (const piece of csv) await f.write(piece);
        } finally {
          await f.close();
        }
        return ((await sql.unsafe(statement)) as unknown as { count?: number }).count ?? 0;
      });
    } finally {
      await rm(hostPath, { force: true });
    }
  };
}

function statements(sql: SQL, file?: CopyThroughFile): Sql {
  const s: Sql = {
    query: async <T = Row>(text: string, params: readonly SqlValue[] = []) => normalize<T>([...((await sql.unsafe(text, params as SqlValue[])) as Row[])]),
    run: async (text, params = []) => ((await sql.unsafe(text, params as SqlValue[])) as unknown as { affectedRows?: number; count?: number }).affectedRows ?? 0,
    copyRows: copyRowsWith(sql, file),
    exec: async (script) => void (await sql.unsafe(script)),
    notify: (channel, payload) => notifyWith(s, channel, payload),
  };
  return s;
}

/**
 * `url`: postgres://user:password@host:port/database, or a Unix socket through the `path`
 * (or libpq's `host=/directory`) query parameter.
 */
export async function openServer(url: string, o: { max?: number; copyThroughFile?: CopyThroughFile } = {}): Promise<Database> {
  const u = new URL(url);
  const socketDir = u.searchParams.get("host");
  const options: ConstructorParameters<typeof SQL>[0] = { url, bigint: true, max: o.max ?? 10 };
  if (socketDir?.startsWith("/")) Object.assign(options, { path: `${socketDir}/.s.PGSQL.${u.port || 5432}` });
  const sql = new SQL(options);
  await sql.unsafe("SELECT 1"); // fail at start, with the server's reason, not at the first request
  return {
    ownConnection: () => openServer(url, { ...o, max: 1 }),
    driver: "server",
    ...statements(sql, o.copyThroughFile),
    transaction: (fn) => sql.begin((tx) => fn(statements(tx as unknown as SQL, o.copyThroughFile))) as Promise<never>,
    // One dedicated connection for all channels, re-subscribed by Bun.SQL after a reconnect.
    listen: async (channel, handler) => {
      const sub = await sql.listen(checkIdentifier(channel), handler);
      return () => sub.unlisten();
    },
    close: () => sql.close(),
  };
}

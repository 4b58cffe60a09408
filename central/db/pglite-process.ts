/**
 * `database.embedded: process`: the embedded PGlite in a child process of its own
 * (pglite-child.ts), reached over a private Unix socket with PostgreSQL's wire protocol through
 * the server driver (server.ts) — the same code path as a PostgreSQL server, and a long
 * statement no longer holds central's event loop (HTTP, live video, MQTT).
 *
 * The data directory is the inline driver's (DATA/pg): switching modes needs no migration.
 * One connection (PGlite has one backend): statements and transactions queue on it in order,
 * as inline. The child dies with central (its stdin is a pipe from central); LISTEN goes over
 * the connection, and the notifications come back over the child's stdout (see the child).
 */
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openServer } from "./server.ts";
import { checkIdentifier, sameConnection, type Database } from "./sql.ts";

const CHILD = path.join(import.meta.dir, "pglite-child.ts");

/** The child's pid while it runs (tests check it dies with its parent). */
export interface ProcessDatabase extends Database {
  readonly pid: number;
}

export async function openEmbeddedProcess(dir: string, o: { template?: string; onExit?: (code: number | null) => void } = {}): Promise<ProcessDatabase> {
  // A socket path must stay under ~100 bytes, so not under DATA: a fresh private (0700) directory.
  const socketDir = await fs.mkdtemp(path.join(tmpdir(), "outpost-pgsock-"));
  const template = o.template ?? process.env.PGLITE_TEMPLATE_DIR;
  const child = Bun.spawn([process.execPath, CHILD, dir, path.join(socketDir, ".s.PGSQL.5432")], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, PGLITE_TEMPLATE_DIR: template ?? "" },
  });
  let closing = false;
  let stderrTail = "";
  const stderrRead = (async () => {
    for await (const chunk of child.stderr) {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + new TextDecoder().decode(chunk)).slice(-2000);
    }
  })();

  const listeners = new Map<string, Set<(payload: string) => void>>();
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  void (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === "ready") readyResolve();
        else if (line.startsWith("{")) {
          const n = JSON.parse(line) as { channel: string; payload: string };
          for (const h of listeners.get(n.channel) ?? [])
            try {
              h(n.payload);
            } catch (e) {
              console.error(`a listener on ${n.channel} failed: ${(e as Error).message}`);
            }
        }
      }
    }
  })();
  const exited = child.exited.then((code) => {
    if (!closing) o.onExit?.(code);
    return code;
  });

  const gone = async (why: () => string) => {
    closing = true;
    child.kill();
    await exited;
    await stderrRead.catch(() => undefined);
    await fs.rm(socketDir, { recursive: true, force: true });
    throw new Error(why());
  };
  const early = await Promise.race([ready.then(() => null), exited.then((code) => code ?? -1)]);
  if (early !== null) return gone(() => `the database process exited (${early}) before it was ready: ${stderrTail.trim() || "no message"}`);

  // COPY reads its CSV from a file in the data directory (DATA/pg here, PGlite's mount there).
  const copy = { hostDir: dir, serverDir: "" };
  const db = await openServer(`postgres://postgres@localhost/postgres?host=${socketDir}`, { max: 1, copyThroughFile: copy }).catch((e: Error) =>
    gone(() => `cannot reach the database process: ${e.message}`),
  );
  try {
    copy.serverDir = (await db.query<{ data_directory: string }>(`SHOW data_directory`))[0]!.data_directory;
    // It becomes part of COPY's text (a file name cannot be a parameter): a plain path only.
    if (!/^\/[\w./-]+$/.test(copy.serverDir)) throw new Error(`unexpected data directory ${JSON.stringify(copy.serverDir)}`);
  } catch (e) {
    await db.close().catch(() => undefined);
    return gone(() => `cannot use the database process: ${(e as Error).message}`);
  }
  const processDb: ProcessDatabase = {
    ...db,
    driver: "embedded",
    // The process serves one connection: a second one would wait for the first to end.
    ownConnection: () => sameConnection(processDb),
    pid: child.pid,
    listen: async (channel, onNotify) => {
      let set = listeners.get(checkIdentifier(channel));
      if (!set) {
        listeners.set(channel, (set = new Set()));
        await db.exec(`LISTEN ${channel}`);
      }
      const h = (p: string) => onNotify(p);
      set.add(h);
      return async () => {
        set.delete(h);
        if (set.size === 0 && listeners.get(channel) === set) {
          listeners.delete(channel);
          await db.exec(`UNLISTEN ${channel}`);
        }
      };
    },
    close: async () => {
      closing = true;
      await db.close().catch(() => undefined);
      try {
        await child.stdin.end(); // the child closes PGlite (a clean shutdown) and exits
      } catch {
        // already gone
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      await exited;
      clearTimeout(timer);
      await fs.rm(socketDir, { recursive: true, force: true });
    },
  };
  return processDb;
}

/**
 * The database process of `database.embedded: process` (pglite-process.ts starts it): PGlite on
 * central's data directory, served over a Unix socket with PostgreSQL's wire protocol by
 * @electric-sql/pglite-socket, so central reaches it through the server driver and a long
 * statement runs off central's event loop.
 *
 * argv: <data dir> <socket path>. stdout: "ready" once listening, then one JSON line per
 * notification ({channel, payload}). Dies with central: stdin is a pipe from central, and its
 * end (central exited, or was killed with -9) closes the database and exits — no orphan keeps
 * the data directory.
 */
import { protocol, type PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { rm } from "node:fs/promises";
import path from "node:path";
import { closePglite, openPglite } from "./embedded.ts";

const [dataArg, socketArg] = process.argv.slice(2);
if (!dataArg || !socketArg) {
  console.error("usage: pglite-child.ts <data dir> <socket path>");
  process.exit(2);
}
const dataDir: string = dataArg;
const socketPath: string = socketArg;

let server: PGLiteSocketServer | null = null;
let pg: PGlite | null = null;
let stopping: Promise<void> | null = null;
function stop(): Promise<void> {
  return (stopping ??= (async () => {
    await server?.stop().catch(() => undefined);
    // The socket's private directory (made by central) goes too: central may be gone already.
    await rm(path.dirname(socketPath), { recursive: true, force: true }).catch(() => undefined);
    if (pg) await closePglite(pg, dataDir).catch((e: Error) => console.error(`closing the database: ${e.message}`));
    process.exit(0);
  })());
}
// Watched before the (slow) open: central may die while the database starts.
process.stdin.on("end", () => void stop());
process.stdin.on("error", () => void stop());
process.stdin.resume();
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());

try {
  pg = await openPglite(dataDir);
} catch (e) {
  // One line central puts in its error (and log), not a stack.
  console.error(`cannot open the database in ${dataDir}: ${(e as Error).message}`);
  process.exit(1);
}
if (stopping) await stopping;

/**
 * PGlite has one backend, so a NOTIFY reaches the session in the reply of whichever statement
 * committed it — on the connection central's queries use, where its client ignores it. The
 * replies are read here with PGlite's own protocol parser and each notification goes to
 * central over stdout, where the driver hands it to its listeners.
 */
const replies = new protocol.Parser();
const execRaw = pg.execProtocolRawStream.bind(pg);
pg.execProtocolRawStream = (message, o) =>
  execRaw(message, {
    ...o,
    onRawData: (data) => {
      replies.parse(data, (m) => {
        if (m.name !== "notification") return;
        const n = m as InstanceType<typeof protocol.messages.NotificationResponseMessage>;
        process.stdout.write(`${JSON.stringify({ channel: n.channel, payload: n.payload })}\n`);
      });
      o.onRawData(data);
    },
  });

// One connection: central's server driver holds exactly one (max: 1), so statements and
// transactions arrive in order on it, as on the inline driver.
server = new PGLiteSocketServer({ db: pg, path: socketPath, maxConnections: 1 });
await server.start();
process.stdout.write("ready\n");

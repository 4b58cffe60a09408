/**
 * Users and sessions on central/db: operations per second, embedded PGlite vs a PostgreSQL 15
 * server (throwaway cluster on a Unix socket, central/db/testkit.ts). Prints a markdown table.
 *   bun bench/users-db.bench.ts [--n 2000] [--logins 20]
 *
 * session write:   the INSERT a login makes (Users' statement), one at a time
 * session delete:  the DELETE a logout makes, one at a time
 * 8 concurrent:    session INSERTs, 8 in flight (the server's pool vs PGlite's one connection)
 * group upsert:    Users.putGroup (INSERT … ON CONFLICT DO UPDATE), one at a time
 * start-up load:   Users.init reading 1,000 users and N sessions
 * login:           Users.login end to end, ms each (argon2id verify dominates; the database is one INSERT)
 */
import { parseArgs } from "node:util";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { systemClock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { hashPassword } from "../lib/auth/index.ts";
import { Users, sha256 } from "../central/users/index.ts";
import { migrateUp, openServer, type Database } from "../central/db/index.ts";
import { startPostgres, testEmbedded } from "../central/db/testkit.ts";

const { values } = parseArgs({ options: { n: { type: "string", default: "2000" }, logins: { type: "string", default: "20" } } });
const N = Number(values.n);
const LOGINS = Number(values.logins);
const log = new Logger({ component: "bench", sink: new MemorySink(), level: "error" });
const root = await mkdtemp(path.join(tmpdir(), "outpost-bench-usersdb-"));
const pg = await startPostgres();
const rows: string[][] = [];
const rate = (n: number, ms: number) => Math.round((n * 1000) / ms).toLocaleString("en");

async function bench(name: string, db: Database): Promise<void> {
  await migrateUp(db);
  const exp = new Date(Date.now() + 3_600_000).toISOString();
  let t = performance.now();
  for (let i = 0; i < N; i++) await db.run(`INSERT INTO sessions (token_hash, user_name, expires_at) VALUES ($1, $2, $3)`, [sha256(`s${i}`), `u${i % 1000}`, exp]);
  const write = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < N; i++) await db.run(`DELETE FROM sessions WHERE token_hash = $1`, [sha256(`s${i}`)]);
  const del = performance.now() - t;
  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < N; i = next++) await db.run(`INSERT INTO sessions (token_hash, user_name, expires_at) VALUES ($1, $2, $3)`, [sha256(`c${i}`), `u${i % 1000}`, exp]);
    }),
  );
  const conc = performance.now() - t;
  const hash = await hashPassword("bench-password");
  await db.copyRows("users", ["name", "password_hash", "role", "roles", "disabled", "created_at"], Array.from({ length: 1000 }, (_, i) => [`u${i}`, hash, "", "[]", false, exp]));
  t = performance.now();
  const users = new Users({ db, clock: systemClock, log, sessionTtlMs: 3_600_000 });
  await users.init();
  const load = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < N / 4; i++) await users.putGroup({ name: `g${i % 50}`, cameras: [`site.cam${i}`] });
  const group = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < LOGINS; i++) if ((await users.login(`u${i}`, "bench-password", `10.0.0.${i}`)).kind !== "ok") throw new Error("login failed");
  const login = performance.now() - t;
  rows.push([name, rate(N, write), rate(N, del), rate(N, conc), rate(N / 4, group), `${Math.round(load)} ms`, `${Math.round(login / LOGINS)} ms`]);
  await db.close();
}

try {
  let t = performance.now();
  const embedded = await testEmbedded(path.join(root, "embedded"));
  const openMs = performance.now() - t;
  await bench("embedded (PGlite)", embedded);
  t = performance.now();
  const server = await openServer(await pg.createDatabase());
  const serverOpenMs = performance.now() - t;
  await bench("server (PostgreSQL 15, Unix socket)", server);
  console.log(`\nUsers and sessions on central/db (${N} operations each; load average ${(await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")})\n`);
  console.log("| driver | session write /s | session delete /s | 8 concurrent writes /s | group upsert /s | start-up load (1,000 users + " + N + " sessions) | login, ms each (argon2id) |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log(`\nopen: embedded ${Math.round(openMs)} ms (template copy + PGlite start), server ${Math.round(serverOpenMs)} ms`);
} finally {
  await pg.stop();
  await rm(root, { recursive: true, force: true });
}

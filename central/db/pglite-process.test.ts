/**
 * `database.embedded: process` (pglite-process.ts): the embedded database in a child process.
 * The conformance and migration suites (db.test.ts, migrate.test.ts) run on it like on the other
 * drivers; here what only this mode promises: a long statement leaves central's event loop free
 * (inline it does not — that is why the mode exists), the child dies with central even after
 * kill -9, the data directory is the inline one's, and a child that cannot start says why.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { promises as fs, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openEmbedded } from "./embedded.ts";
import { openEmbeddedProcess } from "./pglite-process.ts";
import type { Database } from "./sql.ts";
import { pgliteTemplateDir, testEmbedded, testEmbeddedProcess } from "./testkit.ts";

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(tmpdir(), "outpost-pglproc-"));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/**
 * When an HTTP request to a server in this process is answered, relative to a long statement
 * (about 2 s of PostgreSQL work: 5 million joined rows) started just before it.
 */
async function healthDuringLongStatement(db: Database): Promise<{ answeredFirst: boolean; httpMs: number; statementMs: number }> {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
  try {
    const t0 = performance.now();
    let statementDone = 0;
    const statement = db.query(`SELECT count(*) AS n FROM generate_series(1, $1::int) a, generate_series(1, 100) b`, [50_000]).then((r) => {
      statementDone = performance.now();
      return r;
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/api/v1/health`);
    expect(await res.text()).toBe("ok");
    const answered = performance.now();
    const answeredFirst = statementDone === 0;
    expect(await statement).toEqual([{ n: 5_000_000 }]);
    return { answeredFirst, httpMs: answered - t0, statementMs: statementDone - t0 };
  } finally {
    await server.stop(true);
  }
}

test("inline, a long statement holds the event loop: the HTTP request waits for it (the problem)", async () => {
  const db = await testEmbedded(path.join(tmp, "inline-loop"));
  try {
    const r = await healthDuringLongStatement(db);
    expect(r.answeredFirst).toBe(false);
  } finally {
    await db.close();
  }
}, 120_000);

test("in its own process, the HTTP request is answered while the long statement runs", async () => {
  const db = await testEmbeddedProcess(path.join(tmp, "process-loop"));
  try {
    const r = await healthDuringLongStatement(db);
    expect(r.answeredFirst).toBe(true);
    expect(r.httpMs).toBeLessThan(r.statementMs);
  } finally {
    await db.close();
  }
}, 120_000);

test("kill -9 of central: its database process exits, its socket directory goes, and the rows it wrote open inline from the same data dir", async () => {
  const dir = path.join(tmp, "orphan");
  const central = Bun.spawn([process.execPath, path.join(import.meta.dir, "testdata/process-stand-in.ts"), dir], {
    stdout: "pipe",
    stderr: "inherit",
    stdin: "ignore",
    env: { ...process.env, PGLITE_TEMPLATE_DIR: process.env.PGLITE_TEMPLATE_DIR ?? pgliteTemplateDir() },
  });
  const first = (await central.stdout.getReader().read()).value;
  const { pid } = JSON.parse(new TextDecoder().decode(first)) as { pid: number };
  expect(alive(pid)).toBe(true);
  const socketDir = path.dirname(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).at(-1)!);
  expect(await fs.exists(socketDir)).toBe(true);
  central.kill("SIGKILL");
  await central.exited;
  for (let i = 0; i < 600 && alive(pid); i++) await Bun.sleep(100);
  expect(alive(pid)).toBe(false);
  expect(await fs.exists(socketDir)).toBe(false);
  const db = await openEmbedded(dir);
  try {
    expect(await db.query(`SELECT id, note FROM kept`)).toEqual([{ id: 1, note: "written before kill -9" }]);
  } finally {
    await db.close();
  }
}, 180_000);

test("a database process that cannot start says why in one line", async () => {
  const notADir = path.join(tmp, "a-file");
  await fs.writeFile(notADir, "not a data directory");
  const err = await openEmbeddedProcess(notADir).catch((e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toMatch(/^the database process exited \(1\) before it was ready: cannot open the database in .*a-file: .*non-directory/);
}, 120_000);

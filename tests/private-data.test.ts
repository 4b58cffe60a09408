/**
 * Data at rest is private to the service user (issue 12): a real `outpost demo` child process
 * (central + edge + camsim, recording) and a real standalone `outpost central` leave no
 * group/other permission bit anywhere in their data trees — including files that libraries
 * create (DuckDB's database and WAL, recordings) — and the standalone central does not print the
 * generated admin password (stdout ends in the journal), only the 0600 file it is in.
 */
import { afterAll, expect, test } from "bun:test";
import { lstat, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OUTPOST, REPO, removeTempDirs, tempDir, until } from "./helpers.ts";

const procs: ReturnType<typeof Bun.spawn>[] = [];
afterAll(async () => {
  for (const p of procs) p.kill("SIGKILL");
  await removeTempDirs();
});

/** Every path under `root` (root included) whose mode has a group/other bit, with its mode. */
async function notPrivate(root: string): Promise<string[]> {
  const bad: string[] = [];
  const walk = async (p: string): Promise<void> => {
    let st;
    try {
      st = await lstat(p);
    } catch {
      return; // removed meanwhile (a rotated WAL, a finished tmp file)
    }
    if (st.isSymbolicLink()) return;
    if (st.mode & 0o077) bad.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const n of await readdir(p).catch(() => [])) await walk(join(p, n));
  };
  await walk(root);
  return bad;
}

async function allFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of await readdir(root, { recursive: true })) out.push(String(n));
  return out;
}

/** Starts `outpost ARGS` and reads its stdout until `marker`; returns the text so far. */
async function startCli(args: string[], marker: string, timeoutMs = 90_000): Promise<{ proc: ReturnType<typeof Bun.spawn>; out: string }> {
  const proc = Bun.spawn(["bun", OUTPOST, ...args], { cwd: REPO, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, OUTPOST_LOG_LEVEL: "error" } });
  procs.push(proc);
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  while (!out.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`outpost ${args[0]} exited: ${out}\n${await new Response(proc.stderr as ReadableStream).text()}`);
    out += new TextDecoder().decode(value);
  }
  clearTimeout(timer);
  reader.releaseLock();
  return { proc, out };
}

test("after a demo run (recording), nothing in the data directory is readable by group or others", async () => {
  const dir = await tempDir("private-demo");
  const data = join(dir, "demo");
  const { proc } = await startCli(["demo", "--data", data, "--port", "0", "--edges", "1", "--cameras", "1"], "Ctrl-C stops it.");
  // Recordings and central's database exist (the files libraries create are the point).
  await until("a recording on the edge", async () => (await allFiles(join(data, "bus-101"))).some((f) => f.endsWith(".mp4") || f.endsWith(".m4s")), 60_000);
  expect((await allFiles(data)).some((f) => f.endsWith("central.duckdb"))).toBe(true);
  expect((await allFiles(data)).some((f) => f.endsWith("pg/PG_VERSION"))).toBe(true); // central/db's embedded PostgreSQL
  expect(await notPrivate(data)).toEqual([]); // while running (WAL files, open segments)
  expect((await stat(join(data, "demo.json"))).mode & 0o777).toBe(0o600);
  proc.kill("SIGTERM");
  await proc.exited;
  expect(await notPrivate(data)).toEqual([]); // and after a clean stop
}, 150_000);

test("standalone central: data dir narrowed to 0700, admin password only in a 0600 file, never on stdout", async () => {
  const dir = await tempDir("private-central");
  const data = join(dir, "central");
  await mkdir(data, { mode: 0o755 }); // as an older install left it
  await Bun.$`chmod 755 ${data}`.quiet();
  const cfg = join(dir, "central.yaml");
  await writeFile(cfg, `dataDir: ${data}\napi: {port: 0}\nenroll: {port: 0}\nfederation: {port: 0}\nmqtt: {port: 0}\nlive: {rtsp: {port: 0}}\n`);
  const { proc, out } = await startCli(["central", "--config", cfg], "admin login", 60_000);
  const file = join(data, "admin-password");
  const password = (await readFile(file, "utf8")).trim();
  expect(password.length).toBeGreaterThan(10);
  const line = out.split("\n").find((l) => l.includes("admin login"))!;
  expect(line).toContain(file);
  expect(out).not.toContain(password);
  expect((await stat(file)).mode & 0o777).toBe(0o600);
  expect(await notPrivate(data)).toEqual([]);
  proc.kill("SIGTERM");
  await proc.exited;
  expect(await notPrivate(data)).toEqual([]);
}, 90_000);

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataDirLockedError, LOCK_FILE, lockDataDir } from "./index.ts";
import { flockCall } from "./flock.ts";

const dirs: string[] = [];
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "outpost-lock-"));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A real second process holding `d`'s lock until killed; resolves once it holds it. */
async function holderProcess(d: string, flock: boolean): Promise<Bun.Subprocess<"ignore", "pipe", "inherit">> {
  const script = join(d, "..", `${d.split("/").pop()}-holder.ts`);
  await writeFile(script, `import { lockDataDir } from ${JSON.stringify(join(import.meta.dir, "index.ts"))};\nlockDataDir(${JSON.stringify(d)}, "central", { flock: ${flock} });\nconsole.log("locked");\nsetInterval(() => {}, 1000);\n`);
  const child = Bun.spawn([process.execPath, script], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("locked")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the holder exited before locking: ${out}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  await rm(script);
  return child;
}

const modes = [
  { name: "flock", flock: true },
  { name: "PID-file fallback", flock: false },
];

test("flock is reachable here (Linux + glibc): the fallback is not what runs in production", () => {
  expect(flockCall()).not.toBeNull();
});

for (const m of modes) {
  describe(`lockDataDir (${m.name})`, () => {
    test("a second holder is refused with the first's PID; after release it is free again", async () => {
      const d = await dir();
      const first = lockDataDir(d, "central", { flock: m.flock });
      let err: unknown;
      try {
        lockDataDir(d, "edge", { flock: m.flock });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DataDirLockedError);
      expect((err as Error).message).toBe(`${d} is in use by central PID ${process.pid}; stop it first (one process per data directory)`);
      first.release();
      first.release(); // idempotent
      const again = lockDataDir(d, "edge", { flock: m.flock });
      again.release();
    });

    test("another process's lock refuses this one; killed with -9, it holds nothing any more", async () => {
      const d = await dir();
      const child = await holderProcess(d, m.flock);
      try {
        expect(() => lockDataDir(d, "edge", { flock: m.flock })).toThrow(`${d} is in use by central PID ${child.pid}; stop it first`);
      } finally {
        child.kill("SIGKILL");
        await child.exited;
      }
      const mine = lockDataDir(d, "edge", { flock: m.flock });
      mine.release();
    });
  });
}

test("fallback: a lock file naming a live PID with another start time (the PID reused) does not hold the directory", async () => {
  const d = await dir();
  await writeFile(join(d, LOCK_FILE), JSON.stringify({ by: "central", pid: process.pid, start: "1" }) + "\n");
  const l = lockDataDir(d, "central", { flock: false });
  l.release();
});

test("flock: a lock file left by a dead holder (its content stays after kill -9) does not hold the directory", async () => {
  const d = await dir();
  await writeFile(join(d, LOCK_FILE), JSON.stringify({ by: "central", pid: process.pid, start: null }) + "\n");
  const l = lockDataDir(d, "edge");
  l.release();
});

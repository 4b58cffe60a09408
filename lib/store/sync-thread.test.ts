/**
 * The sync threads (lib/store/sync-thread.ts: fsync, syncfs) must block every signal: a process signal the kernel
 * hands to that foreign 32 KiB-stack thread would run the runtime's handler there. Seen from
 * /proc while a sync is in flight (dirty data first, so the sync lasts), and end to end: a
 * process that syncs its volume in a loop while signals and child exits rain on it survives.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "node:fs/promises";
import { Wakeups } from "../timers/wakeups.ts";
import { manual } from "../timers/manual-timer.ts";
import { fileSyncer, volumeSyncer } from "./sync-thread.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "store-syncfs-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Signal masks (SigBlk) of this process's threads other than the main one, by thread id, that
 * carry the main thread's name: a thread made by pthread_create keeps its creator's name, the
 * runtime names its own (Bun Pool, HeapHelper, JITWorker, …).
 */
function unnamedThreadMasks(): Map<string, bigint> {
  const out = new Map<string, bigint>();
  // The main thread's name is the executable's ("bun", or "bun.exe" when installed through npm).
  const mainName = /^Name:\s*(.+)$/m.exec(readFileSync(`/proc/self/task/${process.pid}/status`, "utf8"))?.[1];
  for (const t of readdirSync("/proc/self/task")) {
    if (t === String(process.pid)) continue;
    try {
      const status = readFileSync(`/proc/self/task/${t}/status`, "utf8");
      const m = /^SigBlk:\s*([0-9a-f]+)$/m.exec(status);
      if (m && /^Name:\s*(.+)$/m.exec(status)?.[1] === mainName) out.set(t, BigInt(`0x${m[1]}`));
    } catch {} // the thread ended meanwhile
  }
  return out;
}

const SIGTERM = 15n;
const SIGCHLD = 17n;
const blocks = (mask: bigint, sig: bigint) => ((mask >> (sig - 1n)) & 1n) === 1n;

test.skipIf(process.platform !== "linux")("the volume-sync thread blocks SIGTERM, SIGCHLD and every other signal", async () => {
  // A busy process (a wake-up every 10 ms) joins each sync soon after it returns, not JOIN_MS later.
  const timers = new Wakeups();
  const busy = setInterval(() => timers.after(() => undefined, 0), 10);
  const sync = volumeSyncer(timers);
  expect(sync).not.toBeNull();
  const before = new Set(unnamedThreadMasks().keys());
  // Every sync thread caught in flight (glibc blocks all signals while a thread starts, so
  // early sightings block everything anyway; the ones already in syncfs show the mask it runs with).
  const seen: bigint[] = [];
  const junk = new Uint8Array(16 << 20).fill(7);
  for (let i = 0; i < 30; i++) {
    writeFileSync(join(dir, `dirty-${i % 2}`), junk); // dirty pages: the sync below takes a while
    const p = sync!(dir); // the thread starts before the first await
    for (const [t, mask] of unnamedThreadMasks()) if (!before.has(t)) seen.push(mask);
    await p;
  }
  clearInterval(busy);
  expect(seen.length).toBeGreaterThan(5);
  for (const mask of seen) {
    expect(blocks(mask, SIGTERM)).toBe(true);
    expect(blocks(mask, SIGCHLD)).toBe(true);
    expect(blocks(mask, 10n)).toBe(true); // SIGUSR1
    expect(blocks(mask, 28n)).toBe(true); // SIGWINCH
  }
});

test.skipIf(process.platform !== "linux")("syncs in a loop under a storm of signals and child exits: the process survives and every sync completes", async () => {
  const script = join(dir, "storm.ts");
  writeFileSync(
    script,
    `import { fileSyncer, volumeSyncer } from ${JSON.stringify(join(import.meta.dir, "sync-thread.ts"))};
import { open } from "node:fs/promises";
const volume = volumeSyncer()!;
const file = fileSyncer()!;
const fh = await open(${JSON.stringify(join(dir, "storm-file"))}, "w");
const sync = async (d: string) => { await fh.write("x"); await Promise.all([volume(d), file(fh)]); };
let got = 0;
process.on("SIGUSR2", () => got++);
process.on("SIGWINCH", () => got++);
const end = Date.now() + 3000;
let syncs = 0;
const syncLoop = async () => { while (Date.now() < end) { await Promise.all([sync(${JSON.stringify(dir)}), sync(${JSON.stringify(dir)})]); syncs += 2; } };
const spawnLoop = async () => { while (Date.now() < end) await Bun.spawn(["true"]).exited; };
const sigLoop = async () => { while (Date.now() < end) { process.kill(process.pid, "SIGUSR2"); process.kill(process.pid, "SIGWINCH"); await Bun.sleep(0); } };
await Promise.all([syncLoop(), spawnLoop(), sigLoop()]);
console.log(JSON.stringify({ syncs, got }));
`,
  );
  const p = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
  const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
  expect(code).toBe(0);
  const r = JSON.parse(out.trim()) as { syncs: number; got: number };
  expect(r.syncs).toBeGreaterThan(0);
  expect(r.got).toBeGreaterThan(0);
}, 60_000);

test.skipIf(process.platform !== "linux")("an fsync on its own thread makes a write durable; one that fails (a closed descriptor) rejects and leaves nothing running", async () => {
  const sync = fileSyncer()!;
  expect(sync).not.toBeNull();
  const fh = await open(join(dir, "one"), "w");
  await fh.write(new Uint8Array(1 << 20).fill(1));
  await sync(fh); // resolves: fsync returned 0
  const threads = readdirSync("/proc/self/task").length;
  await fh.close();
  await expect(sync(fh)).rejects.toThrow(/fsync failed/); // fd -1: EBADF on the thread
  expect(readdirSync("/proc/self/task").length).toBeLessThanOrEqual(threads); // joined, not left behind
});

test.skipIf(process.platform !== "linux")("the join rides on the process's shared wake-ups and takes no timer of its own", async () => {
  const m = manual();
  const timers = new Wakeups(m.schedule, m.unschedule, m.now);
  const sync = fileSyncer(timers)!;
  const fh = await open(join(dir, "ride"), "w");
  try {
    await fh.write(new Uint8Array(64 << 10).fill(1));
    let done = false;
    const p = sync(fh).then(() => (done = true));
    await Bun.sleep(300); // the fsync itself has long returned on its thread
    expect(done).toBe(false); // nobody joined it: no wake-up of the shared timer yet
    expect(m.armed.length).toBe(1); // the join waits on the shared timer, with its deadline
    let batches = 0;
    timers.after(() => batches++, 1); // another job due 1 ms on (the batched reads' turn)...
    m.advance(1); // ...and its wake-up joins the fsync too
    await p;
    expect(batches).toBe(1);
    expect(m.wakes).toBe(1);
    expect(m.armed.length).toBe(0); // nothing left running, nothing armed
  } finally {
    await fh.close();
  }
});

test.skipIf(process.platform !== "linux")("a sync being joined keeps the process alive: a script that only awaits it still sees it finish", async () => {
  const script = join(dir, "alive.ts");
  writeFileSync(
    script,
    // No top-level await (it alone holds Bun's event loop open): the sync's join is all that runs.
    `import { fileSyncer } from ${JSON.stringify(join(import.meta.dir, "sync-thread.ts"))};
import { openSync, writeSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
const fd = openSync(${JSON.stringify(join(dir, "alive-file"))}, "w");
writeSync(fd, new Uint8Array(4 << 20).fill(3));
void fileSyncer()!({ fd } as FileHandle).then(() => console.log("synced"));
`,
  );
  const p = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
  const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
  expect(code).toBe(0);
  expect(out.trim()).toBe("synced");
}, 30_000);

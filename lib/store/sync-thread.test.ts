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
import { volumeSyncer } from "./sync-thread.ts";

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
  const sync = volumeSyncer();
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
    `import { volumeSyncer } from ${JSON.stringify(join(import.meta.dir, "sync-thread.ts"))};
const sync = volumeSyncer()!;
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

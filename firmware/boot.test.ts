/**
 * Power-loss tests with real processes: the fake firmware (testdata/fake-firmware.ts, the real
 * UpdateAgent) is SIGKILLed at each install step, then the launcher (runBoot) "powers on" and
 * must come up on a verified slot, finish or abandon the update, and never touch data.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { provision, type InstallStep } from "./agent/index.ts";
import { chooseSlot, runBoot } from "./boot.ts";
import { firmwarePaths, readState, verifySlot } from "./slots.ts";
import { readTrustedRoot } from "./slots.ts";
import { inDays, testKeys, testRelease, type TestKeys } from "./testkit.ts";
import { generateKey, rotateRoot } from "./meta.ts";

let root: string;
let keys: TestKeys;
const log = new Logger({ component: "test", sink: new MemorySink(), level: "debug" });
const pids = new Set<number>();

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-fw-boot-"));
  keys = await testKeys();
});
afterAll(async () => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await fs.rm(root, { recursive: true, force: true });
});

/** `rotate`: 1.1.0 is signed by a new targets key, published in root 2 (key rotation). */
async function setup(name: string, v2Healthy = true, rotate = false) {
  const dir = path.join(root, name);
  const rel = path.join(dir, "rel");
  await fs.mkdir(rel, { recursive: true });
  const v1 = await testRelease(rel, { version: "1.0.0", metaVersion: 1, keys: [keys.targets] });
  let v2Key = keys.targets;
  const roots: unknown[] = [keys.rootMeta];
  if (rotate) {
    const [newRoot, newTargets] = [await generateKey(), await generateKey()];
    roots.push(await rotateRoot(keys.rootMeta, { oldRootKeys: [keys.root], rootKeys: [newRoot], targetsKeys: [newTargets], expires: inDays(365) }));
    v2Key = newTargets;
  }
  const v2 = await testRelease(rel, { version: "1.1.0", metaVersion: 2, keys: [v2Key], behavior: { healthy: v2Healthy }, payloadSeed: 2 });
  const data = path.join(dir, "data");
  await provision({ dataDir: data, root: keys.rootMeta, bundleFile: v1.bundleFile, targets: v1.targets, now: Date.now() });
  await fs.mkdir(path.join(data, "segments"));
  await fs.writeFile(path.join(data, "segments", "cam1.mp4"), "recording");
  const targets = path.join(rel, "targets-1.1.0.json");
  await fs.writeFile(targets, JSON.stringify(v2.targets));
  await fs.writeFile(path.join(rel, "offer.json"), JSON.stringify({ version: "1.1.0", bundle: v2.bundleFile, targets, roots }));
  return { dir, rel, data, p: firmwarePaths(data) };
}

/** Runs slot a's firmware (as the launcher would) and lets it install until it dies at `step`. */
async function installUntil(s: Awaited<ReturnType<typeof setup>>, step: InstallStep) {
  const proc = Bun.spawn([path.join(s.p.slot("a"), "run"), "--install", s.rel], {
    env: { ...process.env, OPFW_DATA: s.data, OPFW_SLOT: "a", OPFW_TRIAL: "0", OPFW_VERSION: "1.0.0", FW_CRASH_AT: step },
    stdout: "ignore",
    stderr: "ignore",
  });
  pids.add(proc.pid);
  const code = await Promise.race([proc.exited, Bun.sleep(15_000).then(() => "timeout")]);
  if (code === "timeout") proc.kill("SIGKILL");
  pids.delete(proc.pid);
  return { code, signal: proc.signalCode };
}

/** Launcher until the heartbeat shows `want` and state.pending is null; then stops it. */
async function bootUntil(s: Awaited<ReturnType<typeof setup>>, want: { version: string }, timeoutMs = 20_000) {
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const boots: { slot: string; trial: boolean; version: string }[] = [];
  const run = runBoot({ dataDir: s.data, args: [], stop: stopped, log, trialTimeoutMs: 10_000, onChild: ({ pid, choice }) => (pids.add(pid), boots.push({ slot: choice.slot, trial: choice.trial, version: choice.version })) });
  const hb = path.join(s.data, "heartbeat.json");
  const deadline = Date.now() + timeoutMs;
  let ok = false;
  while (Date.now() < deadline) {
    const h = await fs.readFile(hb, "utf8").then(JSON.parse, () => null);
    const st = await readState(s.p);
    if (h?.version === want.version && st.pending === null && boots.length) {
      ok = true;
      break;
    }
    await Bun.sleep(50);
  }
  stop();
  await run;
  return { ok, boots };
}

describe("kill -9 at each install step → the edge boots a verified slot", () => {
  const cases: { step: InstallStep; expect: { slot: string; trial: boolean; version: string }; final: string }[] = [
    { step: "download", expect: { slot: "a", trial: false, version: "1.0.0" }, final: "1.0.0" },
    { step: "verify", expect: { slot: "a", trial: false, version: "1.0.0" }, final: "1.0.0" },
    { step: "stage", expect: { slot: "a", trial: false, version: "1.0.0" }, final: "1.0.0" },
    { step: "promote", expect: { slot: "a", trial: false, version: "1.0.0" }, final: "1.0.0" },
    { step: "switch", expect: { slot: "a", trial: false, version: "1.0.0" }, final: "1.0.0" },
    { step: "restart", expect: { slot: "b", trial: true, version: "1.1.0" }, final: "1.1.0" },
  ];
  for (const c of cases.flatMap((c) => [{ ...c, rotate: false }, { ...c, rotate: true }])) {
    test(`killed at '${c.step}'${c.rotate ? " after a targets key rotation" : ""}`, async () => {
      const s = await setup(`kill-${c.step}${c.rotate ? "-rot" : ""}`, true, c.rotate);
      const r = await installUntil(s, c.step);
      expect(r.signal).toBe("SIGKILL");
      const choice = await chooseSlot(s.data, { log });
      expect({ slot: choice.slot as string, trial: choice.trial, version: choice.version }).toEqual(c.expect);
      await verifySlot(s.p, choice.slot, await readTrustedRoot(s.p));
      // Undo the boot count chooseSlot just added so the launcher sees a clean power-on.
      const st = await readState(s.p);
      if (st.pending) await (await import("./slots.ts")).writeState(s.p, { ...st, tries: 0 });
      const b = await bootUntil(s, { version: c.final });
      expect(b.ok).toBe(true);
      const after = await readState(s.p);
      expect(after.pending).toBeNull();
      expect(after.current).toBe(c.final === "1.1.0" ? "b" : "a");
      expect(await fs.readFile(path.join(s.data, "segments", "cam1.mp4"), "utf8")).toBe("recording");
      // Power on once more (the launcher may have been stopped between mark-good and the anchor
      // write; boot repairs that). The other slot stays a verified fallback under the anchor.
      expect((await chooseSlot(s.data, { log })).version).toBe(c.final);
      const anchor = await readTrustedRoot(s.p);
      expect(anchor.signed.version).toBe(c.rotate && c.final === "1.1.0" ? 2 : 1);
      await verifySlot(s.p, "a", anchor);
    }, 30_000);
  }
});

describe("launcher", () => {
  test("unhealthy release: trial rolls back by itself and the launcher restarts the old slot", async () => {
    const s = await setup("unhealthy", false);
    const r = await installUntil(s, "restart");
    expect(r.signal).toBe("SIGKILL");
    const b = await bootUntil(s, { version: "1.0.0" });
    expect(b.ok).toBe(true);
    expect(b.boots[0]).toEqual({ slot: "b", trial: true, version: "1.1.0" });
    expect(b.boots.some((x) => x.slot === "a" && !x.trial)).toBe(true);
    const st = await readState(s.p);
    expect(st).toMatchObject({ current: "a", pending: null });
    expect(st.lastResult).toMatchObject({ version: "1.1.0", outcome: "rolled-back", reason: expect.stringContaining("test firmware says unhealthy") });
  }, 30_000);

  test("kill -9 of the trial again and again: the boot counter rolls back", async () => {
    const s = await setup("crashloop");
    await installUntil(s, "restart");
    // Each "power cut" during the trial: the launcher chose the slot (counter +1) and then died.
    for (let i = 0; i < 3; i++) expect((await chooseSlot(s.data, { log })).slot).toBe("b");
    const b = await bootUntil(s, { version: "1.0.0" });
    expect(b.ok).toBe(true);
    expect(b.boots[0]).toMatchObject({ slot: "a", trial: false });
    expect((await readState(s.p)).lastResult!.outcome).toBe("rolled-back");
  }, 30_000);
});

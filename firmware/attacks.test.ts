/**
 * Attack-named tests in the spirit of TUF's suite, against the real agent, metadata, slots
 * and launcher logic (in-process; the kill -9 tests with real processes are in boot.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { UpdateAgent, provision } from "./agent/index.ts";
import { chooseSlot } from "./boot.ts";
import { generateKey, rotateRoot, sign, UpdateError, verifyTargets, type TargetsMeta } from "./meta.ts";
import { firmwarePaths, readState, verifySlot, writeState } from "./slots.ts";
import { inDays, exists, MemorySource, testKeys, testRelease, type TestKeys } from "./testkit.ts";
import { readTrustedRoot } from "./trust.ts";
import type { InstallStep } from "./agent/index.ts";

let root: string;
let keys: TestKeys;
const log = new Logger({ component: "test", sink: new MemorySink(), level: "debug" });
let n = 0;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-fw-attacks-"));
  keys = await testKeys();
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** A provisioned edge on 1.0.0 plus a source that has 1.0.0 and whatever the test adds. */
async function edge(o: { v1Meta?: number } = {}) {
  const dir = path.join(root, `e${++n}`);
  const rel = path.join(dir, "rel");
  await fs.mkdir(rel, { recursive: true });
  const v1 = await testRelease(rel, { version: "1.0.0", metaVersion: o.v1Meta ?? 1, keys: [keys.targets] });
  const data = path.join(dir, "data");
  await provision({ dataDir: data, root: keys.rootMeta, bundleFile: v1.bundleFile, targets: v1.targets, now: Date.now() });
  // Recordings and configuration that an update must never touch.
  await fs.mkdir(path.join(data, "segments"), { recursive: true });
  await fs.writeFile(path.join(data, "segments", "cam1.mp4"), "recording");
  await fs.writeFile(path.join(data, "edge.yaml"), "name: bus-7\n");
  const source = new MemorySource();
  source.roots = [keys.rootMeta];
  let restarts = 0;
  const agent = (v = "1.0.0", slot: "a" | "b" = "a", trial = false, healthy = true) =>
    new UpdateAgent({
      dataDir: data,
      source,
      slot,
      trial,
      version: v,
      health: async () => (healthy ? { ok: true } : { ok: false, reason: "camera 1 not recording" }),
      healthTimeoutMs: 200,
      healthIntervalMs: 20,
      restart: () => void restarts++,
      log,
    });
  return { dir, rel, data, source, agent, restarts: () => restarts, p: firmwarePaths(data) };
}

async function expectRefused(e: Awaited<ReturnType<typeof edge>>, version: string, code: UpdateError["code"]) {
  e.source.current = { campaignId: "c", version };
  const err = await e.agent().install(e.source.current).then(
    () => null,
    (x) => x as UpdateError,
  );
  expect(err).toBeInstanceOf(UpdateError);
  expect(err!.code).toBe(code);
  const st = await readState(e.p);
  expect(st.pending).toBeNull();
  expect(st.current).toBe("a");
  expect(e.restarts()).toBe(0);
  expect(await fs.readFile(path.join(e.data, "segments", "cam1.mp4"), "utf8")).toBe("recording");
  return err!;
}

describe("attacks", () => {
  test("bad signature: a tampered targets document is refused", async () => {
    const e = await edge();
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [keys.targets] });
    const t = structuredClone(v2.targets);
    t.signed.release.minFromVersion = "0.0.1"; // changed after signing
    await e.source.add("1.1.0", v2.bundleFile, t);
    const err = await expectRefused(e, "1.1.0", "bad-signature");
    expect(err.message).toContain("invalid");
  });

  test("wrong key: signed by a key the pinned root does not list", async () => {
    const e = await edge();
    const evil = await generateKey();
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [evil] });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets);
    await expectRefused(e, "1.1.0", "threshold");
  });

  test("wrong key: the root key is not a targets key either", async () => {
    const e = await edge();
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [keys.root] });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets);
    await expectRefused(e, "1.1.0", "threshold");
  });

  test("freeze attack: expired targets metadata is refused", async () => {
    const e = await edge();
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [keys.targets], expires: inDays(-1) });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets);
    const err = await expectRefused(e, "1.1.0", "expired");
    expect(err.message).toContain("freeze");
  });

  test("rollback attack: an older release, and an older metadata version, are refused", async () => {
    const e = await edge({ v1Meta: 5 });
    const old = await testRelease(e.rel, { version: "0.9.0", metaVersion: 6, keys: [keys.targets] });
    await e.source.add("0.9.0", old.bundleFile, old.targets);
    await expectRefused(e, "0.9.0", "rollback");
    const staleMeta = await testRelease(e.rel, { version: "1.2.0", metaVersion: 4, keys: [keys.targets] });
    await e.source.add("1.2.0", staleMeta.bundleFile, staleMeta.targets);
    await expectRefused(e, "1.2.0", "rollback");
  });

  test("min version: a release that may not update from the running one is refused", async () => {
    const e = await edge();
    const v3 = await testRelease(e.rel, { version: "3.0.0", metaVersion: 2, keys: [keys.targets], minFrom: "2.0.0" });
    await e.source.add("3.0.0", v3.bundleFile, v3.targets);
    await expectRefused(e, "3.0.0", "min-version");
  });

  test("mix-and-match: targets of one release with the bundle of another", async () => {
    const e = await edge();
    const a = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [keys.targets], payloadSeed: 7 });
    const bDir = path.join(e.rel, "b");
    await fs.mkdir(bDir);
    const b = await testRelease(bDir, { version: "1.1.0", metaVersion: 3, keys: [keys.targets], payloadSeed: 8 });
    await e.source.add("1.1.0", b.bundleFile, a.targets, false);
    await expectRefused(e, "1.1.0", "hash-mismatch");
  });

  test("mix-and-match: a slot whose files come from two releases does not verify at boot", async () => {
    const e = await edge();
    const other = await testRelease(path.join(e.rel), { version: "1.0.1", metaVersion: 9, keys: [keys.targets], payloadSeed: 99 });
    const { extractBundle } = await import("./bundle.ts");
    const tmp = path.join(e.dir, "x");
    await extractBundle(other.bundleFile, tmp, other.targets.signed);
    await fs.copyFile(path.join(tmp, "payload.bin"), path.join(e.p.slot("a"), "payload.bin"));
    const root = JSON.parse(await fs.readFile(e.p.root, "utf8"));
    await expect(verifySlot(e.p, "a", root)).rejects.toThrow("SHA-256 differs");
  });

  test("endless data: the download stops at the declared length and is refused", async () => {
    const e = await edge();
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [keys.targets], payloadBytes: 300_000 });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets, false);
    e.source.endless = true;
    await expectRefused(e, "1.1.0", "hash-mismatch");
    const declared = (v2.targets as TargetsMeta).signed.bundle.length;
    // Read at most one 64 KiB piece past the declared length, then hung up.
    expect(e.source.served).toBeLessThanOrEqual(declared + 65536 * 2);
    expect(await fs.readdir(path.join(e.p.download))).toEqual([]);
  });

  test("endless data: oversized metadata is refused by the HTTP source", async () => {
    const { readBounded } = await import("./agent/source.ts");
    const endless = new ReadableStream<Uint8Array>({ pull: (c) => c.enqueue(new Uint8Array(1 << 20)) });
    await expect(readBounded(endless, 4_000_000, "targets")).rejects.toThrow("endless-data");
  });

  test("key rotation: new root signed by the old one is followed; a root not signed by the old keys is not", async () => {
    const e = await edge();
    const newRoot = await generateKey();
    const newTargets = await generateKey();
    const r2 = await rotateRoot(keys.rootMeta, { oldRootKeys: [keys.root], rootKeys: [newRoot], targetsKeys: [newTargets], expires: inDays(365) });
    // A release signed by the new targets key installs only after walking to root 2.
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [newTargets] });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets);
    e.source.roots = [keys.rootMeta, r2];
    e.source.current = { campaignId: "c", version: "1.1.0" };
    await e.agent().install(e.source.current);
    expect((await readState(e.p)).pending).toBe("b");
    // Root 2 is kept in the history; the anchor moves only when 1.1.0 commits.
    expect((await readTrustedRoot(e.p)).signed.version).toBe(1);
    expect(await exists(path.join(e.p.dir, "roots", "2.json"))).toBe(true);
    const trial = e.agent("1.1.0", "b", true);
    expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "b", trial: true, version: "1.1.0" });
    trial.start();
    expect(await trial.trialResult).toBe("committed");
    trial.stop();
    expect((await readTrustedRoot(e.p)).signed.version).toBe(2);
    expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "b", trial: false, version: "1.1.0" });
    // The old release stays a verified fallback: it checks against root 1, on the chain below the anchor.
    expect((await verifySlot(e.p, "a", await readTrustedRoot(e.p))).signed.release.version).toBe("1.0.0");

    // Attacker's "root 2" signed only by their own key.
    const e2 = await edge();
    const evil = await generateKey();
    const fake = await rotateRoot(keys.rootMeta, { oldRootKeys: [], rootKeys: [evil], targetsKeys: [evil], expires: inDays(365) });
    const v2e = await testRelease(e2.rel, { version: "1.1.0", metaVersion: 2, keys: [evil] });
    await e2.source.add("1.1.0", v2e.bundleFile, v2e.targets);
    e2.source.roots = [keys.rootMeta, fake];
    await expectRefused(e2, "1.1.0", "threshold");
  });

  test("verifyTargets refuses malformed metadata with a clear message", async () => {
    await expect(verifyTargets({ signed: { _type: "targets" }, signatures: [] }, { root: keys.rootMeta.signed, now: Date.now(), lastTargetsVersion: 0, currentRelease: null }, { forInstall: true })).rejects.toThrow("malformed");
    const s = await sign({ hello: 1 }, [keys.targets]);
    await expect(verifyTargets(s, { root: keys.rootMeta.signed, now: Date.now(), lastTargetsVersion: 0, currentRelease: null }, { forInstall: true })).rejects.toThrow("malformed");
  });
});

describe("install, health check, rollback", () => {
  test("good update: delta download, switch, trial healthy → committed; data untouched", async () => {
    const e = await edge();
    // Consecutive builds: same big payload with a small change.
    await fs.mkdir(path.join(e.dir, "big1"));
    const base = await testRelease(e.rel, { version: "1.0.5", metaVersion: 2, keys: [keys.targets], payloadBytes: 2_000_000, payloadSeed: 3 });
    await e.source.add("1.0.5", base.bundleFile, base.targets);
    e.source.current = { campaignId: "c1", version: "1.0.5" };
    const a1 = e.agent();
    await a1.install(e.source.current);
    expect(a1.status().lastDownload!.delta).toBe(true);
    let choice = await chooseSlot(e.data, { log });
    expect(choice).toMatchObject({ slot: "b", trial: true, version: "1.0.5" });
    const t1 = e.agent("1.0.5", "b", true);
    t1.start();
    expect(await t1.trialResult).toBe("committed");
    t1.stop();
    expect((await readState(e.p)).current).toBe("b");

    const { pseudoRandom } = await import("./testkit.ts");
    const p2 = pseudoRandom(2_000_000, 3);
    p2.set(pseudoRandom(5000, 11), 1_000_000); // a few KB changed in the middle
    // v1.1.0 = the running slot's files with the payload changed in one place.
    const { writeBundle } = await import("./bundle.ts");
    const { signRelease } = await import("./release.ts");
    const v2 = { bundleFile: path.join(e.dir, "big1", "outpost-1.1.0.bundle") };
    const slotB = e.p.slot("b");
    await writeBundle(
      {
        version: "1.1.0",
        builtAt: "2026-01-02T00:00:00.000Z",
        minFromVersion: "1.0.0",
        files: [
          { name: "run", source: path.join(slotB, "run"), executable: true },
          { name: "behavior.json", source: path.join(slotB, "behavior.json") },
          { name: "payload.bin", source: p2 },
        ],
      },
      v2.bundleFile,
    );
    const t2 = await signRelease(v2.bundleFile, { keys: [keys.targets], version: 3, expires: inDays(10) });
    await e.source.add("1.1.0", v2.bundleFile, t2);
    e.source.current = { campaignId: "c2", version: "1.1.0" };
    const a2 = e.agent("1.0.5", "b");
    await a2.install(e.source.current);
    const dl = a2.status().lastDownload!;
    expect(dl.delta).toBe(true);
    expect(dl.bytesFetched).toBeLessThan(t2.signed.bundle.length * 0.2);
    expect(dl.bytesSaved).toBeGreaterThan(t2.signed.bundle.length * 0.8);
    choice = await chooseSlot(e.data, { log });
    expect(choice).toMatchObject({ slot: "a", trial: true, version: "1.1.0" });
    const t3 = e.agent("1.1.0", "a", true);
    t3.start();
    expect(await t3.trialResult).toBe("committed");
    t3.stop();
    const states = e.source.reports.filter((r) => r.campaignId === "c2").map((r) => r.state);
    expect(states).toContain("downloading");
    expect(states).toContain("installed");
    expect(states[states.length - 1]).toBe("healthy");
    expect(await fs.readFile(path.join(e.data, "segments", "cam1.mp4"), "utf8")).toBe("recording");
    expect(await fs.readFile(path.join(e.data, "edge.yaml"), "utf8")).toBe("name: bus-7\n");
  });

  test("a bundle that boots but fails the health check is rolled back", async () => {
    const e = await edge();
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [keys.targets] });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets);
    e.source.current = { campaignId: "c", version: "1.1.0" };
    await e.agent().install(e.source.current);
    expect(e.restarts()).toBe(1);
    const choice = await chooseSlot(e.data, { log });
    expect(choice.trial).toBe(true);
    const t = e.agent("1.1.0", choice.slot, true, false);
    t.start();
    expect(await t.trialResult).toBe("rolled-back");
    expect(e.restarts()).toBe(2);
    const st = await readState(e.p);
    expect(st).toMatchObject({ current: "a", pending: null });
    expect(st.lastResult).toMatchObject({ version: "1.1.0", outcome: "rolled-back" });
    expect(st.lastResult!.reason).toContain("camera 1 not recording");
    expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "a", trial: false, version: "1.0.0" });
    // The old slot reports the rollback and does not retry the same release (rollback protection).
    const back = e.agent("1.0.0", "a");
    await back.checkNow();
    expect(e.source.reports.some((r) => r.state === "rolled-back" && r.reason?.includes("camera 1"))).toBe(true);
    expect(e.source.reports[e.source.reports.length - 1]).toMatchObject({ state: "failed" });
    expect((await readState(e.p)).pending).toBeNull();
  });

  test("central reachable before the update and not after → rolled back", async () => {
    const e = await edge();
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [keys.targets] });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets);
    e.source.current = { campaignId: "c", version: "1.1.0" };
    await e.agent().install(e.source.current);
    const choice = await chooseSlot(e.data, { log });
    e.source.up = false;
    const t = e.agent("1.1.0", choice.slot, true, true);
    t.start();
    expect(await t.trialResult).toBe("rolled-back");
    expect((await readState(e.p)).lastResult!.reason).toContain("central was reachable");
  });

  test("boot counter: a trial slot that never marks itself good is abandoned after maxTries boots", async () => {
    const e = await edge();
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [keys.targets] });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets);
    e.source.current = { campaignId: "c", version: "1.1.0" };
    await e.agent().install(e.source.current);
    for (let i = 1; i <= 3; i++) expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "b", trial: true });
    expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "a", trial: false });
    expect((await readState(e.p)).lastResult!.reason).toContain("did not become healthy in 3 boot(s)");
  });

  test("resumable download: an interrupted transfer continues where it stopped", async () => {
    const e = await edge();
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [keys.targets], payloadBytes: 3_000_000, payloadSeed: 5 });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets, false);
    const real = e.source.range.bind(e.source);
    let cut = true;
    e.source.range = async (v, s, end) => {
      const stream = await real(v, s, end);
      if (!cut) return stream;
      cut = false;
      // Link drops after ~1 MB.
      const r = stream.getReader();
      let sent = 0;
      return new ReadableStream({
        async pull(c) {
          const { value, done } = await r.read();
          if (done || sent > 1_000_000) return c.close();
          sent += value.byteLength;
          c.enqueue(value);
        },
      });
    };
    e.source.current = { campaignId: "c", version: "1.1.0" };
    await expect(e.agent().install(e.source.current)).rejects.toThrow("resumable");
    const before = e.source.served;
    await e.agent().install(e.source.current);
    const len = (v2.targets as TargetsMeta).signed.bundle.length;
    expect(e.source.served - before).toBeLessThan(len - 900_000);
    expect((await readState(e.p)).pending).toBe("b");
  });

  test("no slot verifies → a clear error, not a boot of unverified code", async () => {
    const e = await edge();
    await fs.writeFile(path.join(e.p.slot("a"), "run"), "#!/bin/sh\necho evil\n");
    await expect(chooseSlot(e.data, { log })).rejects.toThrow("no slot verifies");
  });
});

/**
 * Key rotation meets power cuts and failed trials (issue 12): the targets key is rotated in
 * root 2 and release 1.1.0 is signed with the new key. Slot a (1.0.0, root 1) must keep
 * verifying whatever happens to the install of 1.1.0.
 */
describe("key rotation × power cut, corrupt bundle, failed trial", () => {
  async function rotatedEdge() {
    const e = await edge();
    const newRoot = await generateKey();
    const newTargets = await generateKey();
    const r2 = await rotateRoot(keys.rootMeta, { oldRootKeys: [keys.root], rootKeys: [newRoot], targetsKeys: [newTargets], expires: inDays(365) });
    const v2 = await testRelease(e.rel, { version: "1.1.0", metaVersion: 2, keys: [newTargets], payloadSeed: 9 });
    await e.source.add("1.1.0", v2.bundleFile, v2.targets);
    e.source.roots = [keys.rootMeta, r2];
    e.source.current = { campaignId: "c", version: "1.1.0" };
    return { ...e, v2 };
  }
  const bootsOld = async (e: Awaited<ReturnType<typeof rotatedEdge>>) => {
    expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "a", trial: false, version: "1.0.0" });
    expect((await readTrustedRoot(e.p)).signed.version).toBe(1);
  };

  const steps: InstallStep[] = ["download", "verify", "stage", "promote", "switch", "restart"];
  for (const step of steps) {
    test(`power cut at '${step}' after the rotation: a verified slot boots, and the update still completes`, async () => {
      const e = await rotatedEdge();
      const cut = new UpdateAgent({
        dataDir: e.data,
        source: e.source,
        slot: "a",
        trial: false,
        version: "1.0.0",
        health: async () => ({ ok: true }),
        restart: () => {},
        log,
        onStep: (s) => {
          if (s === step) throw new Error(`power cut at ${s}`);
        },
      });
      await expect(cut.install(e.source.current!)).rejects.toThrow("power cut");
      if (step !== "restart") {
        // Everything before the switch: the committed slot under the old root, and a retry installs.
        await bootsOld(e);
        await e.agent().install(e.source.current!);
      }
      expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "b", trial: true, version: "1.1.0" });
      const trial = e.agent("1.1.0", "b", true);
      trial.start();
      expect(await trial.trialResult).toBe("committed");
      trial.stop();
      expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "b", trial: false, version: "1.1.0" });
      expect((await readTrustedRoot(e.p)).signed.version).toBe(2);
      expect((await verifySlot(e.p, "a", await readTrustedRoot(e.p))).signed.release.version).toBe("1.0.0");
    });
  }

  test("one corrupted byte in the bundle after the rotation: refused, the old slot still boots", async () => {
    const e = await rotatedEdge();
    const bad = path.join(e.rel, "corrupt.bundle");
    const bytes = new Uint8Array(await fs.readFile(e.v2.bundleFile));
    bytes[bytes.length >> 1]! ^= 0xff;
    await fs.writeFile(bad, bytes);
    await e.source.add("1.1.0", bad, e.v2.targets, false);
    const err = await e.agent().install(e.source.current!).then(() => null, (x) => x as UpdateError);
    expect(err?.code).toBe("hash-mismatch");
    await bootsOld(e);
  });

  test("a failed trial after the rotation rolls back to the old slot, which verifies; the failed release is not committed", async () => {
    const e = await rotatedEdge();
    await e.agent().install(e.source.current!);
    expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "b", trial: true });
    const trial = e.agent("1.1.0", "b", true, false);
    trial.start();
    expect(await trial.trialResult).toBe("rolled-back");
    await bootsOld(e);
    expect(await readState(e.p)).toMatchObject({ current: "a", pending: null, lastResult: { version: "1.1.0", outcome: "rolled-back" } });
    // A trial that never comes up (boot counter) ends the same way.
    const e2 = await rotatedEdge();
    await e2.agent().install(e2.source.current!);
    for (let i = 0; i < 3; i++) expect(await chooseSlot(e2.data, { log })).toMatchObject({ slot: "b", trial: true });
    await bootsOld(e2);
  });

  test("power cut between mark-good and the anchor write: the next boot advances the anchor", async () => {
    const e = await rotatedEdge();
    await e.agent().install(e.source.current!);
    const st = await readState(e.p);
    await writeState(e.p, { ...st, current: "b", pending: null, tries: 0 }); // the commit, without the anchor step
    expect((await readTrustedRoot(e.p)).signed.version).toBe(1);
    expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "b", trial: false, version: "1.1.0" });
    expect((await readTrustedRoot(e.p)).signed.version).toBe(2);
  });

  test("a slot's root that is not on the chain through the anchor does not verify", async () => {
    const e = await rotatedEdge();
    await e.agent().install(e.source.current!);
    // Someone swaps in their own "root 2" (and a release signed by their key) into the trial slot.
    const evil = await generateKey();
    const fake = await rotateRoot(keys.rootMeta, { oldRootKeys: [], rootKeys: [evil], targetsKeys: [evil], expires: inDays(365) });
    await fs.writeFile(path.join(e.p.slot("b"), "root.json"), JSON.stringify(fake));
    await expect(verifySlot(e.p, "b", await readTrustedRoot(e.p))).rejects.toThrow("valid root signature");
    expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "a", trial: false, version: "1.0.0" });
  });
});


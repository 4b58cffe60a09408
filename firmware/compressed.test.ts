/**
 * Compressed update bundles (bundle.ts format 2: one zstd frame per content-defined chunk):
 * smaller on the wire, the installed files are exactly the signed ones, a delta from the
 * running slot still fetches only the changed chunks, and an interrupted download resumes.
 * Real agent, metadata and slots, in-process (MemorySource as central).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { UpdateAgent, provision } from "./agent/index.ts";
import { readManifest } from "./bundle.ts";
import { chooseSlot } from "./boot.ts";
import { sha256Hex } from "./fsutil.ts";
import type { TargetsMeta } from "./meta.ts";
import { firmwarePaths, readState, verifySlot } from "./slots.ts";
import { MemorySource, pseudoRandom, testKeys, testRelease, type TestKeys } from "./testkit.ts";
import { readTrustedRoot } from "./trust.ts";

const log = new Logger({ component: "test", sink: new MemorySink() });
let root: string;
let keys: TestKeys;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-fw-zstd-"));
  keys = await testKeys();
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Compressible like an executable: random bytes with a small alphabet. */
function payload(n: number, seed: number): Uint8Array {
  const p = pseudoRandom(n, seed);
  for (let i = 0; i < p.length; i++) p[i] = p[i]! & 0x0f;
  return p;
}

const Z = { level: 3 };

async function provisioned(name: string) {
  const dir = path.join(root, name);
  await fs.mkdir(dir, { recursive: true });
  const v1 = await testRelease(dir, { version: "1.0.0", metaVersion: 1, keys: [keys.targets], payload: payload(2_000_000, 1), compress: Z });
  const data = path.join(dir, "data");
  await provision({ dataDir: data, root: keys.rootMeta, bundleFile: v1.bundleFile, targets: v1.targets, now: Date.now() });
  const source = new MemorySource();
  source.roots = [keys.rootMeta];
  const agent = (version: string, slot: "a" | "b", trial = false) =>
    new UpdateAgent({ dataDir: data, source, slot, trial, version, health: async () => ({ ok: true }), healthTimeoutMs: 2000, healthIntervalMs: 20, restart: () => {}, log });
  return { dir, data, source, agent, p: firmwarePaths(data), v1 };
}

test("format 2: smaller than its files; provisioning installs exactly the signed files", async () => {
  const e = await provisioned("provision");
  const { manifest } = await readManifest(e.v1.bundleFile);
  expect(manifest).toMatchObject({ format: 2, compression: { algo: "zstd", level: 3 } });
  const t = (e.v1.targets as TargetsMeta).signed;
  const raw = Object.values(t.files).reduce((n, f) => n + f.length, 0);
  expect(t.bundle.length).toBeLessThan(raw * 0.7);
  // The signed file hashes are those of the installed (decompressed) files.
  const installed = await fs.readFile(path.join(e.p.slot("a"), "payload.bin"));
  expect(installed.byteLength).toBe(2_000_000);
  expect(sha256Hex(installed)).toBe(sha256Hex(payload(2_000_000, 1)));
  expect(t.files["payload.bin"]!.sha256).toBe(sha256Hex(installed));
  expect((await verifySlot(e.p, "a", await readTrustedRoot(e.p))).signed.release.version).toBe("1.0.0");
});

test("format 2 delta: a small change fetches a small part of the bundle; switch, trial, commit", async () => {
  const e = await provisioned("delta");
  const p2 = payload(2_000_000, 1);
  p2.set(payload(5000, 7), 1_000_000); // a few KB changed in the middle
  const v2 = await testRelease(e.dir, { version: "1.1.0", metaVersion: 2, keys: [keys.targets], payload: p2, compress: Z });
  await e.source.add("1.1.0", v2.bundleFile, v2.targets);
  e.source.current = { campaignId: "c", version: "1.1.0" };
  const a = e.agent("1.0.0", "a");
  await a.install(e.source.current);
  const dl = a.status().lastDownload!;
  const len = (v2.targets as TargetsMeta).signed.bundle.length;
  expect(dl.delta).toBe(true);
  expect(dl.bytesFetched).toBeLessThan(len * 0.2);
  expect(await chooseSlot(e.data, { log })).toMatchObject({ slot: "b", trial: true, version: "1.1.0" });
  const t = e.agent("1.1.0", "b", true);
  t.start();
  expect(await t.trialResult).toBe("committed");
  t.stop();
  expect(await readState(e.p)).toMatchObject({ current: "b", pending: null });
  expect(sha256Hex(await fs.readFile(path.join(e.p.slot("b"), "payload.bin")))).toBe(sha256Hex(p2));
});

test("format 2 resumable download: an interrupted transfer continues where it stopped", async () => {
  const e = await provisioned("resume");
  const v2 = await testRelease(e.dir, { version: "1.1.0", metaVersion: 2, keys: [keys.targets], payload: payload(3_000_000, 5), compress: Z });
  await e.source.add("1.1.0", v2.bundleFile, v2.targets, false); // no chunk index: full download
  const real = e.source.range.bind(e.source);
  let cut = true;
  e.source.range = async (v, s, end) => {
    const stream = await real(v, s, end);
    if (!cut) return stream;
    cut = false;
    const r = stream.getReader();
    let sent = 0;
    return new ReadableStream({
      async pull(c) {
        const { value, done } = await r.read();
        if (done || sent > 500_000) return c.close(); // the link drops after ~500 kB
        sent += value.byteLength;
        c.enqueue(value);
      },
    });
  };
  e.source.current = { campaignId: "c", version: "1.1.0" };
  await expect(e.agent("1.0.0", "a").install(e.source.current)).rejects.toThrow("resumable");
  const before = e.source.served;
  await e.agent("1.0.0", "a").install(e.source.current);
  const len = (v2.targets as TargetsMeta).signed.bundle.length;
  expect(e.source.served - before).toBeLessThan(len - 400_000);
  expect((await readState(e.p)).pending).toBe("b");
  expect(sha256Hex(await fs.readFile(path.join(e.p.slot("b"), "payload.bin")))).toBe(sha256Hex(payload(3_000_000, 5)));
});

/**
 * Custody recorder on a real store (real fMP4 from GStreamer, injected clock): every commit is
 * chained and signed; entries made before a key exists are covered by the first signature
 * after it; a crash between commit and chain append, a torn chain line and a lost chain are
 * repaired (attach / `outpost check --rebuild`); packages round-trip through the ZIP writer
 * and a stock `unzip -t`.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { feed, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { createCa, generateKeyPair, issueSiteCert, certFingerprint, importKeyPem, type CaMaterial } from "../pki.ts";
import { readZip, writeZip } from "../../lib/zip/index.ts";
import { CustodyRecorder, GENESIS, evidencePackage, linkOf, readEntries, readSignatures, rebuildCustody, signatureMessage, signedRevocations, verifyPackage, verifyText, type CustodySigner } from "./index.ts";
import { custodyPaths } from "./journal.ts";

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
let dir: string;
let media: Media;
let ca: CaMaterial;
let signer: CustodySigner;
const quiet = () => new Logger({ component: "test", sink: process.env.CUSTODY_LOG ? undefined : new MemorySink() } as never);

setDefaultTimeout(60_000);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "custody-"));
  media = await makeMedia(dir, 10);
  ca = await createCa({ name: "Custody Unit CA", now: Date.now(), lifetimeDays: 30 });
  const kp = await generateKeyPair();
  const cert = await issueSiteCert({ ca, publicKey: kp.keys.publicKey, now: T0, notBefore: T0 - 86_400_000, notAfter: T0 + 86_400_000, lifetimeDays: 1, siteId: "site-u" });
  signer = { key: await importKeyPem(kp.keyPem), certPem: cert.toString("pem"), certFp: await certFingerprint(cert) };
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rig(name: string, key: () => CustodySigner | null) {
  const clock = new ManualClock(T0);
  const root = join(dir, name);
  const store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const custody = await CustodyRecorder.attach(store, { clock, log: quiet(), signer: key, signEveryMs: 0 });
  store.writer("cam1", "main").init(media.init, media.info);
  return { clock, root, store, custody };
}

async function pkg(r: Awaited<ReturnType<typeof rig>>, toMs: number) {
  return evidencePackage({
    store: r.store,
    custody: r.custody,
    siteId: "site-u",
    caPem: ca.certPem,
    revocations: await signedRevocations(ca.key, [], T0),
    cameraId: "cam1",
    stream: "main",
    fromMs: T0,
    toMs,
    audit: { exportedBy: "unit", exportedAtMs: T0, exportedAt: "test" },
    nowMs: T0,
  });
}

test("every commit is chained (prev links, link hashes) and its head signed by the site key", async () => {
  const r = await rig("chain", () => signer);
  await feed(r.store.writer("cam1", "main"), media, r.clock, T0, 0, 20); // 10 s → 4 closed segments
  await r.custody.idle();
  const entries = await readEntries(r.root, "cam1", "main");
  const segs = (await r.store.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: T0 + 60_000 })).filter((s) => !s.open);
  expect(entries.length).toBe(segs.length);
  expect(entries.map((e) => e.sha256)).toEqual(segs.map((s) => s.sha256!));
  expect(entries[0]!.prev).toBe(GENESIS);
  for (let i = 0; i < entries.length; i++) {
    expect(entries[i]!.seq).toBe(i);
    expect(linkOf(entries[i]!)).toBe(entries[i]!.link);
    if (i) expect(entries[i]!.prev).toBe(entries[i - 1]!.link);
  }
  const sigs = await readSignatures(r.root, "cam1", "main");
  expect(sigs.map((s) => s.seq)).toEqual(entries.map((e) => e.seq));
  const pub = await (await import("../pki.ts")).parseCert(signer.certPem).publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
  for (const s of sigs) expect(await verifyText(pub, signatureMessage(s), s.sig)).toBe(true);
  await r.store.close();
  r.custody.close();
});

test("segments recorded before a key exists wait unsigned; the first signature after enrollment covers them", async () => {
  let key: CustodySigner | null = null;
  const r = await rig("late-key", () => key);
  await feed(r.store.writer("cam1", "main"), media, r.clock, T0, 0, 14);
  await r.custody.idle();
  expect(await readSignatures(r.root, "cam1", "main")).toEqual([]);
  const before = await verifyPackage((await pkg(r, T0 + 6000)).zip, { anchorCaPem: ca.certPem });
  expect(before.segments.length).toBeGreaterThan(1);
  expect(before.segments.every((s) => s.verdict === "unsigned")).toBe(true);
  key = signer;
  await feed(r.store.writer("cam1", "main"), media, r.clock, T0, 14, 20);
  await r.custody.idle();
  expect((await readSignatures(r.root, "cam1", "main")).length).toBe(1);
  const after = await verifyPackage((await pkg(r, T0 + 6000)).zip, { anchorCaPem: ca.certPem });
  expect(after.segments.length).toBeGreaterThanOrEqual(before.segments.length);
  expect(after.segments.every((s) => s.verdict === "intact")).toBe(true);
  await r.store.close();
  r.custody.close();
});

test("heads are re-signed by a timer armed only while a stream is active: none for an idle recorder, one per signature while recording", async () => {
  const clock = new ManualClock(T0);
  type Fake = { fn: () => void; atMs: number; live: boolean };
  const armed: Fake[] = [];
  const timers = {
    set: (fn: () => void, ms: number) => armed[armed.push({ fn, atMs: clock.now() + ms, live: true }) - 1],
    clear: (h: unknown) => void ((h as Fake).live = false),
  };
  const pending = () => armed.filter((t) => t.live);
  const root = join(dir, "timer");
  const store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const custody = await CustodyRecorder.attach(store, { clock, log: quiet(), signer: () => signer, signEveryMs: 10_000, activeMs: 30_000, timers });
  // Nothing recorded: nothing to re-sign, so no timer (the old 1 s poll woke an idle edge every second).
  expect(pending()).toEqual([]);
  expect(custody.nextSignatureAtMs).toBeUndefined();
  store.writer("cam1", "main").init(media.init, media.info);
  await feed(store.writer("cam1", "main"), media, clock, T0, 0, 10); // closed segments, each signed at its commit
  await custody.idle();
  const committedAt = clock.now();
  const signedAtCommit = custody.signatures;
  expect(signedAtCommit).toBeGreaterThan(0);
  // One timer, at the next due signature (signEveryMs after the commit's signature).
  expect(pending().length).toBe(1);
  const due = custody.nextSignatureAtMs!;
  expect(due).toBeGreaterThan(committedAt);
  expect(due).toBeLessThanOrEqual(committedAt + 10_000);
  // Fire the timers as the clock reaches them: a periodic signature each time until the stream is idle for activeMs.
  let fired = 0;
  for (;;) {
    const next = pending().sort((a, b) => a.atMs - b.atMs)[0];
    if (!next) break;
    next.live = false;
    clock.set(Math.max(clock.now(), next.atMs));
    next.fn();
    await Bun.sleep(1);
    await custody.idle();
    await Bun.sleep(1);
    if (++fired > 10) break;
  }
  // 30 s active, every 10 s: re-signed at most 3 times after the commit, and then no timer is left.
  expect(fired).toBeGreaterThanOrEqual(2);
  expect(fired).toBeLessThanOrEqual(3);
  expect(custody.signatures - signedAtCommit).toBe(fired);
  expect(pending()).toEqual([]);
  expect(custody.nextSignatureAtMs).toBeUndefined();
  // Each periodic signature re-attests the unchanged head in head.json.
  const head = JSON.parse(await Bun.file(custodyPaths(root, "cam1", "main").head).text());
  expect(head.signedAtMs).toBeGreaterThan(committedAt);
  await store.close();
  custody.close();
});

test("commits missed by custody (crash before the append) are appended at the next attach; a torn line is trimmed", async () => {
  const r = await rig("crash", () => signer);
  const w = r.store.writer("cam1", "main");
  await feed(w, media, r.clock, T0, 0, 10);
  await r.custody.idle();
  const n0 = (await readEntries(r.root, "cam1", "main")).length;
  r.custody.close(); // as if the process died between the segment commit and the chain append
  await feed(w, media, r.clock, T0, 10, 20);
  await r.store.close();
  await appendFile(custodyPaths(r.root, "cam1", "main").chain, '{"chain":"torn'); // torn write
  const store = await MediaStore.open({ root: r.root, clock: r.clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const c = await CustodyRecorder.attach(store, { clock: r.clock, log: quiet(), signer: () => signer, signEveryMs: 0 });
  const entries = await readEntries(r.root, "cam1", "main");
  const segs = (await store.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: T0 + 60_000 })).filter((s) => !s.open);
  expect(n0).toBeLessThan(segs.length);
  expect(entries.map((e) => e.sha256)).toEqual(segs.map((s) => s.sha256!));
  for (let i = 1; i < entries.length; i++) expect(entries[i]!.prev).toBe(entries[i - 1]!.link);
  // The reconciled head is signed at attach, so every entry verifies.
  const rr = { ...r, store, custody: c };
  const v = await verifyPackage((await pkg(rr, T0 + 60_000)).zip, { anchorCaPem: ca.certPem });
  expect(v.segments.map((s) => s.verdict)).toEqual(segs.map(() => "intact"));
  await store.close();
  c.close();
});

test("`check --rebuild` (rebuildCustody) restores a lost chain from the index", async () => {
  const r = await rig("lost", () => signer);
  await feed(r.store.writer("cam1", "main"), media, r.clock, T0, 0, 20);
  await r.store.close();
  await r.custody.idle();
  r.custody.close();
  const segs = (await readEntries(r.root, "cam1", "main")).length;
  await rm(custodyPaths(r.root, "cam1", "main").chain);
  await writeFile(custodyPaths(r.root, "cam1", "main").sigs, "");
  expect(await rebuildCustody(r.root, quiet())).toEqual({ appended: segs });
  const entries = await readEntries(r.root, "cam1", "main");
  expect(entries.length).toBe(segs);
  expect(entries.every((e) => linkOf(e) === e.link)).toBe(true);
});

test("store-only ZIP: round trip, and a stock unzip accepts it", async () => {
  const files = [
    { name: "README.txt", data: "hello\n" },
    { name: "segments/1.mp4", data: media.init },
    { name: "empty.json", data: "" },
  ];
  const zip = writeZip(files);
  const back = readZip(zip);
  expect(back.damaged).toEqual([]);
  expect(new TextDecoder().decode(back.files.get("README.txt")!)).toBe("hello\n");
  expect(Buffer.from(back.files.get("segments/1.mp4")!).equals(Buffer.from(media.init))).toBe(true);
  const path = join(dir, "t.zip");
  await Bun.write(path, zip);
  const p = Bun.spawnSync(["unzip", "-t", path]);
  expect(p.exitCode).toBe(0);
  expect(p.stdout.toString()).toContain("No errors detected");
  expect(() => writeZip([{ name: "../../lib/x", data: "" }])).toThrow("bad entry name");
});

test("upload proofs read only what was appended since the last call, and wait for a half-written line", async () => {
  const { proofFor } = await import("./proof.ts");
  const root = join(dir, "proof-tail");
  const p = custodyPaths(root, "cam9", "main");
  await rm(root, { recursive: true, force: true });
  await (await import("node:fs/promises")).mkdir(p.dir, { recursive: true });
  const entry = (seq: number, prev: string) => {
    const base = { chain: "00112233445566aa:cam9/main", seq, startMs: T0 + seq * 1000, endMs: T0 + seq * 1000 + 1000, bytes: 10, sha256: String(seq).padStart(64, "a"), prev };
    return { ...base, link: linkOf(base) };
  };
  const e0 = entry(0, GENESIS);
  const e1 = entry(1, e0.link);
  await writeFile(p.chain, JSON.stringify(e0) + "\n");
  expect((await proofFor(root, { cameraId: "cam9", stream: "main", startMs: e0.startMs, sha256: e0.sha256 }))?.entries).toEqual([e0]);
  const line = JSON.stringify(e1) + "\n";
  await appendFile(p.chain, line.slice(0, 40)); // the writer is mid-line
  expect(await proofFor(root, { cameraId: "cam9", stream: "main", startMs: e1.startMs, sha256: e1.sha256 })).toBeNull();
  await appendFile(p.chain, line.slice(40));
  expect((await proofFor(root, { cameraId: "cam9", stream: "main", startMs: e1.startMs, sha256: e1.sha256 }))?.entries).toEqual([e1]);
});

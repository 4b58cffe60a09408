/**
 * Central's import verification with real parts: an edge-side store records real fMP4 (GStreamer
 * test media) with its custody recorder signing as site "bus-1" (certificate from central's CA
 * format), and central's Receiver (real DuckDB, real MediaStore) takes the uploads with their
 * proofs. Verified uploads are stored; refused ones are never stored; unsigned ones wait as
 * pending and become verified when a signature reaching them arrives.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore, type SegmentRecord } from "../../lib/store/index.ts";
import { feed, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { CustodyRecorder, encodeProof, proofFor, type CustodySigner } from "../../federation/custody/index.ts";
import { createCa, type CaMaterial } from "../../federation/pki.ts";
import { H, chunkHashes } from "../../federation/transfer/index.ts";
import { centralCameraId } from "../../federation/protocol/index.ts";
import { custodySigner } from "../../edge/identity/index.ts";
import { mintSiteCert, otherCa } from "../testkit.ts";
import { openTransferDb } from "../transfer/db.ts";
import { BadUpload, Receiver } from "../transfer/receiver.ts";
import type { Db } from "../db.ts";
import { migrateUp, type Database } from "../db/index.ts";
import { testEmbedded } from "../db/testkit.ts";
import { ImportVerifier } from "./index.ts";

const T0 = Date.UTC(2026, 0, 7, 9, 0, 0);
const quiet = () => new Logger({ component: "test", sink: new MemorySink() });
let dir: string;
let media: Media;
let ca: CaMaterial;
let bus1: CustodySigner;
let db: Db;
/** The transfer state (commit log) the receiver writes. */
let database: Database;
let central: MediaStore;
let receiver: Receiver;
let verifier: ImportVerifier;

setDefaultTimeout(60_000);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "central-custody-"));
  media = await makeMedia(dir, 10);
  ca = await createCa({ name: "Central CA", now: Date.now(), lifetimeDays: 30 });
  bus1 = await custodySigner(await mintSiteCert(ca, "bus-1", { notBefore: T0 - 86_400_000, notAfter: T0 + 86_400_000 }));
  db = await openTransferDb(join(dir, "transfer.duckdb"));
  database = await testEmbedded(join(dir, "pg"));
  await migrateUp(database);
  const clock = new ManualClock(T0);
  central = await MediaStore.open({ root: join(dir, "central"), clock, log: quiet(), minFreeBytes: 0 });
  verifier = new ImportVerifier({ db, caPem: () => ca.certPem, clock, log: quiet() });
  receiver = new Receiver({ dir: join(dir, "partial"), store: central, db: database, clock, log: quiet(), custody: verifier });
}, 60_000);

afterAll(async () => {
  await central.close();
  await db.close();
  await database.close();
  await rm(dir, { recursive: true, force: true });
});

/** An edge store recording cam1 for `frags` fragments with `key` as its signer. */
async function edgeRecording(name: string, key: () => CustodySigner | null, cameraId = "cam1") {
  const clock = new ManualClock(T0);
  const root = join(dir, name);
  const store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const custody = await CustodyRecorder.attach(store, { clock, log: quiet(), signer: key, signEveryMs: 0 });
  const w = store.writer(cameraId, "main");
  w.init(media.init, media.info);
  const segs = async () => (await store.segments({ cameraId, stream: "main", fromMs: 0, toMs: T0 + 600_000 })).filter((s) => !s.open);
  return { root, store, custody, clock, w, segs };
}

async function upload(siteId: string, root: string, seg: SegmentRecord, opts: { proof?: "none" | "own"; proofOf?: { root: string; seg: SegmentRecord } } = {}) {
  const data = new Uint8Array(await readFile(join(root, seg.path)));
  const headers = new Headers({
    [H.offset]: "0",
    [H.bytes]: String(data.length),
    [H.sha256]: seg.sha256!,
    [H.chunkSize]: String(65536),
    [H.chunks]: chunkHashes(data, 65536).slice(0, 64).join(","),
  });
  if (opts.proof !== "none") {
    const src = opts.proofOf ?? { root, seg };
    const p = await proofFor(src.root, { cameraId: src.seg.cameraId, stream: src.seg.stream, startMs: src.seg.startMs, sha256: src.seg.sha256! });
    if (p) headers.set(H.custody, encodeProof(p));
  }
  return receiver.receive(siteId, seg.cameraId, seg.stream, seg.startMs, headers, new Blob([data]).stream());
}

async function heldAtCentral(siteId: string, seg: SegmentRecord): Promise<boolean> {
  const rows = await central.segments({ cameraId: centralCameraId(siteId, seg.cameraId), stream: seg.stream, fromMs: seg.startMs, toMs: seg.startMs + 1000 });
  return rows.some((r) => r.sha256 === seg.sha256);
}

async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BadUpload);
    expect((e as BadUpload).status).toBe(422);
    return (e as Error).message;
  }
  throw new Error("the upload was accepted");
}

test("a signed segment from its own site is verified and stored; the verdict is recorded", async () => {
  const e = await edgeRecording("e-ok", () => bus1);
  await feed(e.w, media, e.clock, T0, 0, 10);
  await e.custody.idle();
  const [s] = await e.segs();
  const r = await upload("bus-1", e.root, s!);
  expect(r.committed).toBe(true);
  expect(await heldAtCentral("bus-1", s!)).toBe(true);
  expect((await verifier.verdict("bus-1", "cam1", "main", s!.startMs))?.verdict).toBe("verified");
  // Central keeps the proof itself (entry, signature, certificate) to hand on later.
  const held = await verifier.held("bus-1", e.custody.chainOf("cam1", "main"));
  expect(held.entries.map((x) => x.sha256)).toContain(s!.sha256!);
  expect(held.signatures.length).toBeGreaterThanOrEqual(1);
  expect(held.certs.get(held.signatures[0]!.cert)).toBe(bus1.certPem);
  await e.store.close();
  e.custody.close();
});

test("refused and never stored: no proof, another site's upload, a foreign CA, another camera's chain", async () => {
  const e = await edgeRecording("e-bad", () => bus1);
  await feed(e.w, media, e.clock, T0 + 100_000, 0, 20);
  await e.custody.idle();
  const [a, b] = await e.segs();
  expect(await refused(upload("bus-1", e.root, a!, { proof: "none" }))).toContain("no custody proof");
  // Site bus-2 uploads bus-1's signed footage as its own.
  expect(await refused(upload("bus-2", e.root, a!))).toContain("site bus-1");
  expect(await heldAtCentral("bus-2", a!)).toBe(false);
  // A proof of another segment (b) sent with a's bytes.
  expect(await refused(upload("bus-1", e.root, a!, { proofOf: { root: e.root, seg: b! } }))).toContain("does not describe this file");
  expect(await heldAtCentral("bus-1", a!)).toBe(false);
  expect((await verifier.verdict("bus-1", "cam1", "main", a!.startMs))?.verdict).toBe("refused");
  // Signed with a key from another CA.
  const evil = await custodySigner(await mintSiteCert(await otherCa(), "bus-1", { notBefore: T0 - 86_400_000, notAfter: T0 + 86_400_000 }));
  const f = await edgeRecording("e-foreign", () => evil);
  await feed(f.w, media, f.clock, T0 + 200_000, 0, 10);
  await f.custody.idle();
  const [x] = await f.segs();
  expect(await refused(upload("bus-1", f.root, x!))).toContain("not issued by this central's CA");
  expect(await heldAtCentral("bus-1", x!)).toBe(false);
  // cam2's chain presented for a cam1 upload of cam2's bytes under cam1's name.
  const g = await edgeRecording("e-cam2", () => bus1, "cam2");
  await feed(g.w, media, g.clock, T0 + 300_000, 0, 10);
  await g.custody.idle();
  const [y] = await g.segs();
  expect(await refused(upload("bus-1", g.root, { ...y!, cameraId: "cam1" }, { proofOf: { root: g.root, seg: y! } }))).toContain("belongs to chain");
  for (const r of [e, f, g]) {
    await r.store.close();
    r.custody.close();
  }
});

test("segments recorded before enrollment are stored as pending and verified when a signature reaching them arrives", async () => {
  let key: CustodySigner | null = null;
  const e = await edgeRecording("e-late", () => key);
  await feed(e.w, media, e.clock, T0 + 400_000, 0, 14);
  await e.custody.idle();
  const early = await e.segs();
  expect(early.length).toBeGreaterThanOrEqual(2);
  for (const s of early) {
    expect((await upload("bus-1", e.root, s)).committed).toBe(true);
    expect((await verifier.verdict("bus-1", "cam1", "main", s.startMs))?.verdict).toBe("pending");
  }
  key = bus1;
  await feed(e.w, media, e.clock, T0 + 400_000, 14, 24);
  await e.custody.idle();
  const later = (await e.segs()).filter((s) => !early.some((x) => x.startMs === s.startMs));
  expect(later.length).toBeGreaterThanOrEqual(1);
  expect((await upload("bus-1", e.root, later[0]!)).committed).toBe(true);
  for (const s of [...early, later[0]!]) expect((await verifier.verdict("bus-1", "cam1", "main", s.startMs))?.verdict).toBe("verified");
  await e.store.close();
  e.custody.close();
});

test("central's own recordings are chained and signed with a certificate its CA issued to 'central'", async () => {
  const { attachCentralCustody, CENTRAL_SITE_ID } = await import("./own.ts");
  const { dataPaths } = await import("../files.ts");
  const { mkdir, writeFile } = await import("node:fs/promises");
  const { evidencePackage, signedRevocations, verifyPackage } = await import("../../federation/custody/index.ts");
  const { exportKeyPem } = await import("../../federation/pki.ts");
  const dataDir = join(dir, "central-own");
  const p = dataPaths(dataDir);
  await mkdir(p.caDir, { recursive: true });
  await writeFile(p.caCert, ca.certPem);
  await writeFile(p.caKey, await exportKeyPem(ca.key).catch(() => ""));
  const clock = new ManualClock(T0 + 500_000);
  const store = await MediaStore.open({ root: join(dataDir, "store"), clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const custody = await attachCentralCustody(store, { dataDir, clock, log: quiet() });
  const w = store.writer("bus-1.cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0 + 500_000, 0, 20);
  await custody.idle();
  const r = await evidencePackage({
    store,
    custody,
    siteId: CENTRAL_SITE_ID,
    caPem: ca.certPem,
    revocations: await signedRevocations(ca.key, [], T0),
    cameraId: "bus-1.cam1",
    stream: "main",
    fromMs: T0 + 500_000,
    toMs: T0 + 508_000,
    audit: { exportedBy: "test", exportedAtMs: T0, exportedAt: "central" },
    nowMs: T0,
  });
  const v = await verifyPackage(r.zip, { anchorCaPem: ca.certPem });
  expect(v.segments.length).toBeGreaterThanOrEqual(3);
  expect(v.overall).toBe("intact");
  await store.close();
  custody.close();
});

test("central exports what it imported as an evidence package: the edge's chain and signatures as kept at import, a CA-signed revocation list", async () => {
  const { centralEvidence } = await import("./export.ts");
  const { attachCentralCustody } = await import("./own.ts");
  const { verifyPackage } = await import("../../federation/custody/index.ts");
  const { normSerial, parseCert } = await import("../../federation/pki.ts");
  const e = await edgeRecording("e-export", () => bus1, "cam5");
  await feed(e.w, media, e.clock, T0 + 450_000, 0, 20);
  await e.custody.idle();
  const segs = await e.segs();
  for (const s of segs) expect((await upload("bus-1", e.root, s)).committed).toBe(true);
  const own = await attachCentralCustody(central, { dataDir: join(dir, "no-ca"), clock: new ManualClock(T0), log: quiet() });
  const deps = { store: central, verifier, own, caPem: ca.certPem, caKey: ca.key, revoked: () => [], clock: new ManualClock(T0 + 700_000) };
  const q = { cameraId: "bus-1.cam5", stream: "main" as const, fromMs: segs[0]!.startMs, toMs: segs[segs.length - 1]!.endMs, user: "investigator" };
  const r = await centralEvidence(deps, q);
  const v = await verifyPackage(r.zip, { anchorCaPem: ca.certPem });
  expect(v.siteId).toBe("bus-1");
  expect(v.segments.map((s) => s.verdict)).toEqual(segs.map(() => "intact"));
  expect(v.revocations).toContain("signed by the CA");
  // Revoked before the signatures, as central knows it: the same package now says so.
  const serial = normSerial(parseCert(bus1.certPem).serialNumber);
  const revoked = await centralEvidence({ ...deps, revoked: () => [{ serial, revokedAtMs: T0 - 1 }] }, q);
  expect((await verifyPackage(revoked.zip, { anchorCaPem: ca.certPem })).overall).toBe("revoked-certificate");
  own.close();
  await e.store.close();
  e.custody.close();
});

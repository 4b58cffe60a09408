/**
 * Central's import verification with real parts: an edge-side store records real fMP4 (GStreamer
 * test media) with its custody recorder signing as site "bus-1" (certificate from central's CA
 * format), and central's Receiver (real MediaStore) takes the uploads with their proofs; the
 * verdicts and proofs go to central's database, on both drivers (embedded PGlite and a real
 * PostgreSQL 15). Verified uploads are stored; refused ones are never stored; unsigned ones
 * wait as pending and become verified when a signature reaching them arrives. An upgraded
 * installation's custody tables move once from transfer.duckdb.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFile } from "node:fs/promises";
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
import { BadUpload, Receiver } from "../transfer/receiver.ts";
import { Db } from "../db.ts";
import { migrateUp, type Database } from "../db/index.ts";
import { moveFromDuckdb } from "../db/from-duckdb.ts";
import { driversInTempDir } from "../database-testkit.ts";
import { CUSTODY_TABLES_IN_DUCKDB, ImportVerifier } from "./index.ts";

const T0 = Date.UTC(2026, 0, 7, 9, 0, 0);
const quiet = () => new Logger({ component: "test", sink: new MemorySink() });
let media: Media;
let ca: CaMaterial;
let bus1: CustodySigner;
let database: Database;
let central: MediaStore;
let receiver: Receiver;
let verifier: ImportVerifier;

setDefaultTimeout(60_000);

const { drivers, tmp } = driversInTempDir("custody");
beforeAll(async () => {
  media = await makeMedia(tmp(), 10);
  ca = await createCa({ name: "Central CA", now: Date.now(), lifetimeDays: 30 });
  bus1 = await custodySigner(await mintSiteCert(ca, "bus-1", { notBefore: T0 - 86_400_000, notAfter: T0 + 86_400_000 }));
}, 60_000);

/** Central's side for one driver: its own store and database (uploads are per driver). */
async function openCentralSide(name: string, open: () => Promise<Database>): Promise<void> {
  database = await open();
  await migrateUp(database);
  const clock = new ManualClock(T0);
  central = await MediaStore.open({ root: join(tmp(), `central-${name}`), clock, log: quiet(), minFreeBytes: 0 });
  verifier = new ImportVerifier({ db: database, caPem: () => ca.certPem, clock, log: quiet() });
  receiver = new Receiver({ dir: join(tmp(), `partial-${name}`), store: central, db: database, clock, log: quiet(), custody: verifier });
}

async function closeCentralSide(): Promise<void> {
  await central?.close();
  await database?.close();
}

/** An edge store recording cam1 for `frags` fragments with `key` as its signer. */
let side = "";
async function edgeRecording(name: string, key: () => CustodySigner | null, cameraId = "cam1") {
  const clock = new ManualClock(T0);
  const root = join(tmp(), `${side}-${name}`);
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

test("central's own recordings are chained and signed with a certificate its CA issued to 'central'", async () => {
  const { attachCentralCustody, CENTRAL_SITE_ID } = await import("./own.ts");
  const { dataPaths } = await import("../files.ts");
  const { mkdir, writeFile } = await import("node:fs/promises");
  const { evidencePackage, signedRevocations, verifyPackage } = await import("../../federation/custody/index.ts");
  const { exportKeyPem } = await import("../../federation/pki.ts");
  const dataDir = join(tmp(), "central-own");
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

for (const d of drivers) {
  describe.skipIf(d.skip)(`custody on ${d.name}`, () => {
    beforeAll(async () => {
      side = d.name.split(" ")[0]!;
      await openCentralSide(side, d.open);
    });
    afterAll(closeCentralSide);

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
      const own = await attachCentralCustody(central, { dataDir: join(tmp(), "no-ca"), clock: new ManualClock(T0), log: quiet() });
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

    test("an upgraded installation's custody tables move once from transfer.duckdb; verdicts and proofs carry over", async () => {
      const old = await Db.open(join(tmp(), `old-transfer-${side}.duckdb`));
      // The tables as the previous version created them in transfer.duckdb.
      await old.run(`CREATE TABLE cu_segments (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, start_ms BIGINT, sha256 VARCHAR, chain VARCHAR, seq BIGINT, verdict VARCHAR, why VARCHAR, checked_ms BIGINT, PRIMARY KEY (site_id, camera_id, stream, start_ms))`);
      await old.run(`CREATE TABLE cu_entries (site_id VARCHAR, chain VARCHAR, seq BIGINT, sha256 VARCHAR, link VARCHAR, prev VARCHAR, PRIMARY KEY (site_id, chain, seq))`);
      await old.run(`CREATE TABLE cu_proofs (site_id VARCHAR, chain VARCHAR, seq BIGINT, entry VARCHAR, PRIMARY KEY (site_id, chain, seq))`);
      await old.run(`CREATE TABLE cu_signatures (site_id VARCHAR, chain VARCHAR, seq BIGINT, signed_ms BIGINT, signature VARCHAR, PRIMARY KEY (site_id, chain, seq, signed_ms))`);
      await old.run(`CREATE TABLE cu_certs (fingerprint VARCHAR PRIMARY KEY, pem VARCHAR)`);
      const entry = { chain: "00aa00aa00aa00aa:cam9/main", seq: 7, startMs: T0, endMs: T0 + 2000, bytes: 1234, sha256: "ab".repeat(32), link: "cd".repeat(32), prev: "ef".repeat(32) };
      const sig = { chain: entry.chain, seq: 7, head: entry.link, signedAtMs: T0 + 5, cert: "fp1", sig: "s" };
      await old.run(`INSERT INTO cu_segments VALUES ('bus-9', 'cam9', 'main', $1, $2, $3, 7, 'verified', 'signed', $4)`, [T0, entry.sha256, entry.chain, T0 + 9]);
      await old.run(`INSERT INTO cu_segments VALUES ('bus-9', 'cam9', 'main', $1, NULL, NULL, NULL, 'refused', 'no proof', $1)`, [T0 + 2000]);
      await old.run(`INSERT INTO cu_entries VALUES ('bus-9', $1, 7, $2, $3, $4)`, [entry.chain, entry.sha256, entry.link, entry.prev]);
      await old.run(`INSERT INTO cu_proofs VALUES ('bus-9', $1, 7, $2)`, [entry.chain, JSON.stringify(entry)]);
      await old.run(`INSERT INTO cu_signatures VALUES ('bus-9', $1, 7, $2, $3)`, [entry.chain, sig.signedAtMs, JSON.stringify(sig)]);
      await old.run(`INSERT INTO cu_certs VALUES ('fp1', 'PEM')`);
      // A new installation's database (the one above already holds verdicts: nothing would move into it).
      const fresh = await d.open();
      await migrateUp(fresh);
      const verifier = new ImportVerifier({ db: fresh, caPem: () => ca.certPem, clock: new ManualClock(T0), log: quiet() });
      expect(await moveFromDuckdb(old, fresh, CUSTODY_TABLES_IN_DUCKDB, quiet())).toEqual({ cu_segments: 2, cu_entries: 1, cu_proofs: 1, cu_signatures: 1, cu_certs: 1 });
      expect(await verifier.verdict("bus-9", "cam9", "main", T0)).toEqual({ verdict: "verified", why: "signed" });
      expect(await verifier.verdict("bus-9", "cam9", "main", T0 + 2000)).toEqual({ verdict: "refused", why: "no proof" });
      expect(await verifier.chainOf("bus-9", "cam9", "main", [{ startMs: T0, sha256: entry.sha256 }])).toBe(entry.chain);
      const held = await verifier.held("bus-9", entry.chain);
      expect(held.entries).toEqual([entry]);
      expect(held.signatures).toEqual([sig]);
      expect(held.certs.get("fp1")).toBe("PEM");
      // Once: a second start finds the database's table filled and moves nothing.
      expect(await moveFromDuckdb(old, fresh, CUSTODY_TABLES_IN_DUCKDB, quiet())).toEqual({});
      await old.close();
      await fresh.close();
    });
  });
}


/**
 * Tamper matrix for evidence packages: camsim (2 cameras) → a real edge (native ingest, real
 * store, 1 s segments) whose custody recorder signs with site A's key from a real CA. Packages
 * of camera 1 are built from the recorded segments, damaged the ways an attacker or a broken
 * link would (flip a byte in an mdat, drop a segment, swap two, splice camera 2's segment,
 * re-sign with another site's or another CA's key, strip signatures, revoke the key before or
 * after signing), re-zipped, and verified; each case asserts the exact verdict per segment.
 * Two cases also run the real `outpost verify` CLI for its output and exit code.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { custodySigner } from "../edge/identity/index.ts";
import { createCa, issueSiteCert, generateKeyPair, normSerial, parseCert, type CaMaterial } from "../federation/pki.ts";
import { otherCa } from "../central/testkit.ts";
import { evidencePackage, linkOf, signatureMessage, signText, signedRevocations, unknownRevocations, verifyPackage, parseLines, parseEntry, parseSignature, sha256Hex, type ChainEntry, type HeadSignature, type PackageReport, type RevocationList, type Verdict } from "../federation/custody/index.ts";
import { readZip, writeZip } from "../lib/zip/index.ts";
import { ApiClient, closeRig, hashPassword, isoOf, OUTPOST, removeTempDirs, run, tempDir, until } from "./helpers.ts";

const PASSWORD = "custody-test-pw";

let sim: Camsim;
let edge: Edge;
let dir: string;
let ca: CaMaterial;
let siteA: { keyPem: string; certPem: string };
const sink = new MemorySink();
const log = new Logger({ component: "test", sink });
/** Camera 1's package (intact), camera 2's (splice source), and the window's segment count. */
let pkg1: Uint8Array;
let pkg2: Uint8Array;
let firstSignedAt = 0;
let lastSignedAt = 0;
const N = 5;

async function mint(c: CaMaterial, siteId: string) {
  const kp = await generateKeyPair();
  const cert = await issueSiteCert({ ca: c, publicKey: kp.keys.publicKey, now: Date.now(), lifetimeDays: 30, siteId });
  return { keyPem: kp.keyPem, certPem: cert.toString("pem") };
}

beforeAll(async () => {
  dir = await tempDir("custody-tamper");
  ca = await createCa({ name: "Outpost Test CA", now: Date.now(), lifetimeDays: 30 });
  siteA = await mint(ca, "site-a");
  const signer = await custodySigner(siteA);
  sim = await startCamsim({ cameras: 2, main: { width: 320, height: 180, bitrateKbps: 200 }, discoveryPort: null, log });
  edge = await startEdge(
    {
      dataDir: dir,
      api: { port: 0, plainHttp: true },
      admin: { passwordHash: await hashPassword(PASSWORD) },
      storage: { segmentDurationMs: 1000, minFreeBytes: 0 },
      ingest: { stallTimeoutMs: 2000, backoffInitialMs: 200, backoffMaxMs: 2000, staggerMs: 200 },
      cameras: sim.cameras.map((c) => ({ id: c.id, onvif: { address: c.onvifUrl }, user: sim.user, password: sim.password, streams: ["main" as const] })),
    },
    { log, custody: { signer: () => signer, siteId: "site-a", caPem: ca.certPem } },
  );
  const cams = sim.cameras.map((c) => c.id);
  // Enough closed segments on both cameras for a window of N plus one after it.
  await until(
    `${N + 2} closed segments on both cameras`,
    async () => {
      for (const id of cams) {
        const segs = (await edge.store.segments({ cameraId: id, stream: "main", fromMs: 0, toMs: Date.now() + 60_000 })).filter((s) => !s.open);
        if (segs.length < N + 2) return false;
      }
      return true;
    },
    60_000,
    250,
  );
  await edge.custody.idle();
  const build = async (cameraId: string) => {
    const segs = (await edge.store.segments({ cameraId, stream: "main", fromMs: 0, toMs: Date.now() + 60_000 })).filter((s) => !s.open);
    const win = segs.slice(1, 1 + N); // skip the first (it may start mid-GOP after connect)
    const r = await evidencePackage({
      store: edge.store,
      custody: edge.custody,
      siteId: "site-a",
      caPem: ca.certPem,
      revocations: await signedRevocations(ca.key, [], Date.now()),
      cameraId,
      stream: "main",
      fromMs: win[0]!.startMs,
      toMs: win[N - 1]!.endMs,
      audit: { exportedBy: "test", exportedAtMs: Date.now(), exportedAt: "edge site-a", reason: "tamper matrix" },
      nowMs: Date.now(),
    });
    return r.zip;
  };
  pkg1 = await build(cams[0]!);
  pkg2 = await build(cams[1]!);
  const sigs = parseLines(text(readZip(pkg1).files, "custody/signatures.jsonl"), parseSignature).items;
  firstSignedAt = Math.min(...sigs.map((s) => s.signedAtMs));
  lastSignedAt = Math.max(...sigs.map((s) => s.signedAtMs));
}, 120_000);

afterAll(async () => {
  await closeRig(edge, sim);
  await removeTempDirs();
}, 30_000);

// ---- helpers: open a package, change it like an attacker would, zip it again ----

function text(files: Map<string, Uint8Array>, name: string): string {
  return new TextDecoder().decode(files.get(name) ?? new Uint8Array());
}

interface Parts {
  files: Map<string, Uint8Array>;
  manifest: { chain: string; segments: { file: string; seq: number; sha256: string }[] } & Record<string, unknown>;
  entries: ChainEntry[];
  sigs: HeadSignature[];
}

function open(zip: Uint8Array): Parts {
  const files = new Map(readZip(zip).files);
  return {
    files,
    manifest: JSON.parse(text(files, "manifest.json")),
    entries: parseLines(text(files, "custody/chain.jsonl"), parseEntry).items,
    sigs: parseLines(text(files, "custody/signatures.jsonl"), parseSignature).items,
  };
}

function close(p: Parts): Uint8Array {
  const enc = new TextEncoder();
  p.files.set("manifest.json", enc.encode(JSON.stringify(p.manifest)));
  p.files.set("custody/chain.jsonl", enc.encode(p.entries.map((e) => JSON.stringify(e) + "\n").join("")));
  p.files.set("custody/signatures.jsonl", enc.encode(p.sigs.map((s) => JSON.stringify(s) + "\n").join("")));
  return writeZip([...p.files].map(([name, data]) => ({ name, data })));
}

function verdicts(r: PackageReport): Verdict[] {
  return r.segments.map((s) => s.verdict);
}

/** The k-th exported segment (0-based) of a package. */
const seg = (p: Parts, k: number) => p.manifest.segments[k]!;

function flipInMdat(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data);
  const s = Buffer.from(out).indexOf("mdat");
  expect(s).toBeGreaterThan(0);
  out[s + 4 + 20]! ^= 0x01;
  return out;
}

async function verify(zip: Uint8Array, anchor = ca.certPem) {
  return verifyPackage(zip, { anchorCaPem: anchor });
}

const intact = Array(N).fill("intact");
const with_ = (k: number, v: Verdict, base: Verdict[] = intact) => base.map((x, i) => (i === k ? v : x));

// ---- the edge's export → evidence package over its API ----

test("edge API: a finished export downloads as an evidence package whose SHA-256 is in X-Outpost-SHA256, and it verifies intact", async () => {
  const api = await ApiClient.login(edge.url!, "admin", PASSWORD);
  const cam = sim.cameras[0]!.id;
  const segs = (await edge.store.segments({ cameraId: cam, stream: "main", fromMs: 0, toMs: Date.now() + 60_000 })).filter((s) => !s.open);
  const from = segs[1]!.startMs;
  const to = segs[3]!.endMs;
  expect((await api.fetch(`/exports/nope/package`)).status).toBe(404);
  const res = await api.post("/exports", { cameraId: cam, from: isoOf(from), to: isoOf(to) });
  expect(res.status).toBe(202);
  const job = (await res.json()) as { id: string };
  const done = await until("export done", async () => {
    const j = await api.json<{ state: string; package?: string }>(`/exports/${job.id}`);
    return j.state === "done" ? j : null;
  }, 60_000, 200);
  expect(done.package).toBe(`/api/v1/exports/${job.id}/package`);
  const r = await api.fetch(`/exports/${job.id}/package`);
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toBe("application/zip");
  const zip = new Uint8Array(await r.arrayBuffer());
  expect(r.headers.get("x-outpost-sha256")).toBe(sha256Hex(zip));
  // A second download is the same file (the hash a lawyer was given stays true).
  expect(sha256Hex(new Uint8Array(await (await api.fetch(`/exports/${job.id}/package`)).arrayBuffer()))).toBe(sha256Hex(zip));
  const v = await verify(zip);
  expect(v.overall).toBe("intact");
  expect(v.segments.length).toBeGreaterThanOrEqual(3);
  expect(v.footage?.matchesManifest).toBe(true);
  expect(v.revocations).toContain("revocation status unknown");
  const audit = JSON.parse(text(readZip(zip).files, "audit.json"));
  expect(audit.exportedBy).toBe("admin");
  // The MP4 inside plays as is.
  const d = await tempDir("custody-mp4");
  await Bun.write(join(d, "f.mp4"), readZip(zip).files.get("footage.mp4")!);
  const probe = await run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", join(d, "f.mp4")]);
  expect(probe.code).toBe(0);
  expect(Number(probe.stdout.trim())).toBeGreaterThan(1);
}, 90_000);

// ---- the matrix ----

test("untouched package: every segment intact; `outpost verify` exits 0", async () => {
  const r = await verify(pkg1);
  expect(verdicts(r)).toEqual(intact);
  expect(r.overall).toBe("intact");
  expect(r.revocations).toContain("signed by the CA");
  // The package carries every part the brief lists.
  const names = [...readZip(pkg1).files.keys()];
  for (const n of ["README.txt", "manifest.json", "custody/chain.jsonl", "custody/signatures.jsonl", "custody/revocations.json", "certs/ca.pem", "audit.json", "position.json"]) expect(names).toContain(n);
  // The segments play as they are.
  const d = await tempDir("custody-cli");
  await Bun.write(join(d, "pkg.zip"), pkg1);
  await Bun.write(join(d, "ca.pem"), ca.certPem);
  const out = await run(["bun", OUTPOST, "verify", join(d, "pkg.zip"), "--ca", join(d, "ca.pem")]);
  expect(out.code).toBe(0);
  expect(out.stdout).toContain("OVERALL: INTACT");
}, 60_000);

test("one byte flipped in an mdat: that segment is modified, the others intact; exit 1", async () => {
  const p = open(pkg1);
  const f = seg(p, 2).file;
  p.files.set(f, flipInMdat(p.files.get(f)!));
  const zip = close(p);
  const r = await verify(zip);
  expect(verdicts(r)).toEqual(with_(2, "modified"));
  expect(r.overall).toBe("modified");
  expect(r.segments[2]!.why).toContain("SHA-256");
  const d = await tempDir("custody-cli");
  await Bun.write(join(d, "pkg.zip"), zip);
  await Bun.write(join(d, "ca.pem"), ca.certPem);
  const out = await run(["bun", OUTPOST, "verify", join(d, "pkg.zip"), "--ca", join(d, "ca.pem")]);
  expect(out.code).toBe(1);
  expect(out.stdout).toContain("OVERALL: MODIFIED");
});

test("a byte flipped without re-zipping (damage in transit): modified, and the ZIP entry is named", async () => {
  const z = new Uint8Array(pkg1);
  const p = open(pkg1);
  const target = p.files.get(seg(p, 1).file)!;
  // The entry's data follows its name in its local header (signature PK\x03\x04, 30 bytes before the name).
  const name = seg(p, 1).file;
  const buf = Buffer.from(z);
  let hit = buf.indexOf(Buffer.from(name));
  while (hit >= 0 && buf.readUInt32LE(hit - 30) !== 0x04034b50) hit = buf.indexOf(Buffer.from(name), hit + 1);
  const at = hit + name.length;
  const mdat = Buffer.from(target).indexOf("mdat");
  z[at + mdat + 30]! ^= 0x80;
  const r = await verify(z);
  expect(verdicts(r)).toEqual(with_(1, "modified"));
  expect(r.damagedEntries).toEqual([seg(p, 1).file]);
});

test("a segment dropped from the package: missing (the chain still lists it)", async () => {
  const p = open(pkg1);
  const gone = seg(p, 3);
  p.files.delete(gone.file);
  p.manifest.segments = p.manifest.segments.filter((s) => s !== gone);
  const r = await verify(close(p));
  expect(verdicts(r)).toEqual(with_(3, "missing"));
  expect(r.segments[3]!.why).toContain("in the chain");
});

test("a segment and its chain entry and signature dropped: missing (a hole in the chain)", async () => {
  const p = open(pkg1);
  const gone = seg(p, 2);
  p.files.delete(gone.file);
  p.manifest.segments = p.manifest.segments.filter((s) => s !== gone);
  p.entries = p.entries.filter((e) => e.seq !== gone.seq);
  p.sigs = p.sigs.filter((s) => s.seq !== gone.seq);
  const r = await verify(close(p));
  expect(verdicts(r)).toEqual(with_(2, "missing"));
  expect(r.segments[2]!.why).toContain("hole");
});

test("two segments swapped: both reordered", async () => {
  const p = open(pkg1);
  const a = seg(p, 1).file;
  const b = seg(p, 2).file;
  const da = p.files.get(a)!;
  p.files.set(a, p.files.get(b)!);
  p.files.set(b, da);
  const r = await verify(close(p));
  expect(verdicts(r)).toEqual(with_(2, "reordered", with_(1, "reordered")));
});

test("camera 2's segment spliced in with its own signed chain entry: spliced", async () => {
  const p = open(pkg1);
  const q = open(pkg2);
  const victim = seg(p, 2);
  const donor = seg(q, 2);
  const donorEntry = q.entries.find((e) => e.seq === donor.seq)!;
  p.files.set(victim.file, q.files.get(donor.file)!);
  p.entries = p.entries.map((e) => (e.seq === victim.seq ? donorEntry : e));
  p.sigs = [...p.sigs.filter((s) => s.seq !== victim.seq), ...q.sigs.filter((s) => s.seq === donor.seq)];
  const r = await verify(close(p));
  expect(verdicts(r)).toEqual(with_(2, "spliced"));
  expect(r.segments[2]!.why).toContain(donorEntry.chain);
  expect(r.overall).toBe("spliced");
});

/** Modify segment k, rewrite the chain from k on, and sign every rewritten head with `who`'s key. */
async function resign(k: number, who: { keyPem: string; certPem: string }): Promise<Uint8Array> {
  const p = open(pkg1);
  const s = seg(p, k);
  const data = flipInMdat(p.files.get(s.file)!);
  p.files.set(s.file, data);
  const signer = await custodySigner(who);
  const out: ChainEntry[] = [];
  for (const e of p.entries) {
    const prev = out[out.length - 1];
    if (e.seq < s.seq) {
      out.push(e);
      continue;
    }
    const base = { ...e, sha256: e.seq === s.seq ? sha256Hex(data) : e.sha256, prev: prev ? prev.link : e.prev };
    out.push({ ...base, link: linkOf(base) });
  }
  p.entries = out;
  const kept = p.sigs.filter((x) => x.seq < s.seq);
  const forged: HeadSignature[] = [];
  for (const e of out.filter((x) => x.seq >= s.seq)) {
    const b = { chain: e.chain, seq: e.seq, head: e.link, signedAtMs: Date.now() };
    forged.push({ ...b, cert: signer.certFp, sig: await signText(signer.key, signatureMessage(b)) });
  }
  p.sigs = [...kept, ...forged];
  p.files.set(`certs/${signer.certFp}.pem`, new TextEncoder().encode(who.certPem));
  return close(p);
}

test("modified and re-signed with a key from another CA: foreign-certificate from there on", async () => {
  const evil = await mint(await otherCa(), "site-a");
  const r = await verify(await resign(2, evil));
  expect(verdicts(r)).toEqual(["intact", "intact", "foreign-certificate", "foreign-certificate", "foreign-certificate"]);
  expect(r.segments[2]!.why).toContain("not issued by the trusted CA");
});

test("modified and re-signed with another site's key from the same CA: foreign-certificate (wrong site)", async () => {
  const siteB = await mint(ca, "site-b");
  const r = await verify(await resign(3, siteB));
  expect(verdicts(r)).toEqual(["intact", "intact", "intact", "foreign-certificate", "foreign-certificate"]);
  expect(r.segments[3]!.why).toContain("site-b");
});

test("package CA swapped for the forger's: caught with --ca, accepted only when trusting the package's own CA", async () => {
  const evilCa = await otherCa();
  const evil = await mint(evilCa, "site-a");
  const p = open(await resign(0, evil));
  p.files.set("certs/ca.pem", new TextEncoder().encode(evilCa.certPem));
  const zip = close(p);
  const anchored = await verify(zip);
  expect(verdicts(anchored)).toEqual(Array(N).fill("foreign-certificate"));
  expect(anchored.ca.note).toContain("different CA");
  const selfTrust = await verifyPackage(zip);
  expect(selfTrust.ca.source).toBe("package");
  expect(selfTrust.ca.note).toContain("fingerprint");
});

test("signatures stripped from segment 3 on: unsigned there (the chain alone proves nothing)", async () => {
  const p = open(pkg1);
  p.sigs = p.sigs.filter((s) => s.seq < seg(p, 3).seq);
  const r = await verify(close(p));
  expect(verdicts(r)).toEqual(["intact", "intact", "intact", "unsigned", "unsigned"]);
});

async function withRevocation(list: RevocationList): Promise<Uint8Array> {
  const p = open(pkg1);
  p.files.set("custody/revocations.json", new TextEncoder().encode(JSON.stringify(list)));
  return close(p);
}

test("site key revoked before the signatures: revoked-certificate; revoked after: still intact", async () => {
  const serial = normSerial(parseCert(siteA.certPem).serialNumber);
  const before = await verify(await withRevocation(await signedRevocations(ca.key, [{ serial, revokedAtMs: firstSignedAt - 1, reason: "key compromise" }], Date.now())));
  expect(verdicts(before)).toEqual(Array(N).fill("revoked-certificate"));
  expect(before.segments[0]!.why).toContain("before the signature");
  const after = await verify(await withRevocation(await signedRevocations(ca.key, [{ serial, revokedAtMs: lastSignedAt + 1, reason: "vehicle retired" }], Date.now())));
  expect(verdicts(after)).toEqual(intact);
});

test("a revocation list not signed by the CA is ignored and reported as unknown", async () => {
  const serial = normSerial(parseCert(siteA.certPem).serialNumber);
  const forged = { ...(await signedRevocations((await otherCa()).key, [{ serial, revokedAtMs: 0 }], Date.now())) };
  const r = await verify(await withRevocation(forged));
  expect(verdicts(r)).toEqual(intact);
  expect(r.revocations).toContain("not signed by the trusted CA");
  const edgeList = await verify(await withRevocation(unknownRevocations(Date.now(), "edge: no revocation information")));
  expect(edgeList.revocations).toContain("revocation status unknown");
});

test("a chain entry edited to match a modified file: modified (its link no longer matches)", async () => {
  const p = open(pkg1);
  const s = seg(p, 4);
  const data = flipInMdat(p.files.get(s.file)!);
  p.files.set(s.file, data);
  p.entries = p.entries.map((e) => (e.seq === s.seq ? { ...e, sha256: sha256Hex(data) } : e));
  const r = await verify(close(p));
  expect(verdicts(r)).toEqual(with_(4, "modified"));
  expect(r.segments[4]!.why).toContain("link");
});

/**
 * Custody cost (issue 16): CPU per segment close (chain append + fsync + ECDSA P-256 head
 * signature + signature append) and per periodic head re-signature, measured on a real store
 * directory with the real recorder; then the share of one core per stream at the default
 * policy (60 s segments, head re-signed every 10 s). Target: ≤ 0.02 % of a core per stream.
 *   bun bench/custody.bench.ts [--commits 400] [--heartbeats 2000] [--segment-s 60] [--every-s 10]
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ManualClock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore } from "../lib/store/index.ts";
import { CustodyRecorder } from "../federation/custody/index.ts";
import { custodySigner } from "../edge/identity/index.ts";
import { createCa, generateKeyPair, issueSiteCert } from "../federation/pki.ts";

const { values } = parseArgs({ options: { commits: { type: "string", default: "400" }, heartbeats: { type: "string", default: "2000" }, "segment-s": { type: "string", default: "60" }, "every-s": { type: "string", default: "10" } } });
const COMMITS = Number(values.commits);
const BEATS = Number(values.heartbeats);
const SEG_S = Number(values["segment-s"]);
const EVERY_S = Number(values["every-s"]);

const root = await mkdtemp(path.join(os.tmpdir(), "outpost-bench-custody-"));
const log = new Logger({ component: "bench", sink: new MemorySink() });
const clock = new ManualClock(Date.UTC(2026, 0, 1));
const ca = await createCa({ name: "bench", now: Date.now(), lifetimeDays: 10 });
const kp = await generateKeyPair();
const cert = await issueSiteCert({ ca, publicKey: kp.keys.publicKey, now: Date.now(), lifetimeDays: 5, siteId: "bench" });
const signer = await custodySigner({ keyPem: kp.keyPem, certPem: cert.toString("pem") });
const store = await MediaStore.open({ root, clock, log, minFreeBytes: 0 });
const rec = await CustodyRecorder.attach(store, { clock, log, signer: () => signer, signEveryMs: 0, activeMs: Number.MAX_SAFE_INTEGER });

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000; // ms
};

// 1. Segment close: append + fsync + sign + append + fsync.
let t = clock.now();
const c0 = cpu();
const w0 = performance.now();
for (let i = 0; i < COMMITS; i++) {
  const sha = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
  await rec.committed({ id: `cam1/main/${t}`, cameraId: "cam1", stream: "main", startMs: t, endMs: t + SEG_S * 1000, bytes: 7_500_000, path: "x", mime: "video/mp4", sha256: sha });
  t += SEG_S * 1000;
  clock.set(t);
}
const commitCpu = (cpu() - c0) / COMMITS;
const commitWall = (performance.now() - w0) / COMMITS;

// 2. Periodic re-signature of an unchanged head (head.json replaced, not fsynced).
const c1 = cpu();
const s1 = rec.signatures;
for (let i = 0; i < BEATS; i++) {
  clock.set(t + (i + 1) * EVERY_S * 1000);
  await rec.signActive(EVERY_S * 1000);
}
if (rec.signatures - s1 !== BEATS) throw new Error(`expected ${BEATS} periodic signatures, made ${rec.signatures - s1}`);
const beatCpu = (cpu() - c1) / BEATS;

const beatsPerSegment = Math.max(0, SEG_S / EVERY_S - 1);
const perStreamShare = (commitCpu + beatsPerSegment * beatCpu) / (SEG_S * 1000);
rec.close();
await store.close();
await rm(root, { recursive: true, force: true });

console.log(`\n## Custody (Bun ${Bun.version}, ${os.cpus().length} cores)\n\n| measure | value | notes |\n| --- | --- | --- |`);
console.log(`| segment close (chain append + fsync + P-256 signature + append + fsync) | ${commitCpu.toFixed(3)} ms CPU, ${commitWall.toFixed(2)} ms wall | ${COMMITS} commits |`);
console.log(`| periodic head re-signature | ${beatCpu.toFixed(3)} ms CPU | ${BEATS} signatures |`);
console.log(`| share of one core per stream | ${(perStreamShare * 100).toFixed(4)} % | ${SEG_S} s segments, head re-signed every ${EVERY_S} s; target ≤ 0.02 % |`);
console.log(`RESULT custody: ${(perStreamShare * 100).toFixed(4)} % of a core per stream (close ${commitCpu.toFixed(3)} ms CPU, re-sign ${beatCpu.toFixed(3)} ms CPU; ${SEG_S} s segments, every ${EVERY_S} s)`);

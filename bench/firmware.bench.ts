/**
 * Firmware benchmarks (issue 9):
 *  1. appliance bundle size (real `bun build --compile` + libduckdb.so), built twice: same hash?
 *     Compressed (format 2, zstd per chunk) vs uncompressed (format 1): size and install time.
 *  2. delta between two consecutive builds (a small code change) vs the full bundle
 *  3. campaign start → all N simulated edges healthy, on loopback: real central (mTLS federation
 *     listener), N enrolled edges running the real agent (poll-based notification), stages
 *     1 % → 10 % → 100 %, a 2 MB test release delta-updated from its predecessor.
 *   bun bench/firmware.bench.ts [--edges 50] [--poll-ms 500] [--skip-build]
 */
import "reflect-metadata";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { buildAppliance } from "../firmware/build.ts";
import { chunkBundle, chunkFiles, localKey } from "../firmware/chunk.ts";
import { extractBundle, readManifest } from "../firmware/bundle.ts";
import { signRelease } from "../firmware/release.ts";
import { HttpSource, provision } from "../firmware/agent/index.ts";
import { pseudoRandom, SimEdge, testKeys, testRelease } from "../firmware/testkit.ts";
import { writeBundle } from "../firmware/bundle.ts";
import { startCentral, type Central } from "../central/index.ts";
import { enroll, fetchTls } from "../edge/identity/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";

const { values } = parseArgs({ options: { edges: { type: "string", default: "50" }, "poll-ms": { type: "string", default: "500" }, "skip-build": { type: "boolean", default: false } } });
const N = Number(values.edges);
const POLL = Number(values["poll-ms"]);
const repo = path.resolve(import.meta.dir, "..");
const root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-bench-fw-"));
const rows: [string, string][] = [];
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

try {
  if (!values["skip-build"]) {
    const t0 = performance.now();
    const b1 = await buildAppliance({ root: repo, outDir: path.join(root, "b1"), sourceDateEpoch: 1_767_225_600 });
    const buildS = (performance.now() - t0) / 1000;
    const b2 = await buildAppliance({ root: repo, outDir: path.join(root, "b2"), sourceDateEpoch: 1_767_225_600 });
    const exe = b1.manifest.files.find((f) => f.name === "outpost")!.length;
    const lib = b1.manifest.files.find((f) => f.name === "libduckdb.so")!.length;
    rows.push(["bundle size (full)", `${mb(b1.length)} (executable ${mb(exe)}, libduckdb.so ${mb(lib)})`]);
    rows.push(["build time (compile + pack)", `${buildS.toFixed(1)} s (compile ${(b1.compileMs / 1000).toFixed(1)} s)`]);
    rows.push(["reproducible (2 builds, same inputs)", b1.sha256 === b2.sha256 ? `yes, ${b1.sha256.slice(0, 16)}…` : `NO: ${b1.sha256.slice(0, 12)} vs ${b2.sha256.slice(0, 12)}`]);
    await fs.rm(path.join(root, "b2"), { recursive: true, force: true });
    // Before/after compression: the same build uncompressed (format 1), and the install
    // (extract + hash + fsync of every file, what an update or provisioning does) of each.
    const b0 = await buildAppliance({ root: repo, outDir: path.join(root, "b0"), sourceDateEpoch: 1_767_225_600, zstdLevel: null });
    const ik = await testKeys();
    const install = async (file: string, dir: string) => {
      const t = await signRelease(file, { keys: [ik.targets], version: 1, expires: new Date(Date.now() + 86_400_000).toISOString() });
      const s0 = performance.now();
      await extractBundle(file, dir, t.signed);
      const ms = performance.now() - s0;
      await fs.rm(dir, { recursive: true, force: true });
      return ms / 1000;
    };
    const i0 = await install(b0.bundleFile, path.join(root, "i0"));
    const i1 = await install(b1.bundleFile, path.join(root, "i1"));
    rows.push(["bundle size, uncompressed → zstd", `${mb(b0.length)} → ${mb(b1.length)} (${((b1.length / b0.length) * 100).toFixed(0)} %)`]);
    rows.push(["install (extract + verify + fsync), uncompressed → zstd", `${i0.toFixed(1)} s → ${i1.toFixed(1)} s`]);
    await fs.rm(path.join(root, "b0"), { recursive: true, force: true });

    const entry = path.join(root, "entry-next.ts");
    await fs.writeFile(entry, `import "${path.join(repo, "firmware", "entry.ts")}";\nexport const releaseNote = ${JSON.stringify("fix: ".repeat(400))};\nconsole.debug(releaseNote.length);\n`);
    const next = await buildAppliance({ root: repo, outDir: path.join(root, "next"), version: "0.1.1", entry, sourceDateEpoch: 1_767_312_000 });
    const keys = await testKeys();
    const t1 = await signRelease(b1.bundleFile, { keys: [keys.targets], version: 1, expires: new Date(Date.now() + 86_400_000).toISOString() });
    const slot = path.join(root, "slot");
    await extractBundle(b1.bundleFile, slot, t1.signed);
    const c0 = performance.now();
    const ix = await chunkBundle(next.bundleFile, next.sha256);
    const chunkS = (performance.now() - c0) / 1000;
    const e0 = performance.now();
    const local = await chunkFiles((await readManifest(b1.bundleFile)).manifest.files.map((f) => path.join(slot, f.name)));
    const edgeChunkS = (performance.now() - e0) / 1000;
    const missing = ix.chunks.filter((c) => !local.has(localKey(c))).reduce((n, [, l]) => n + l, 0);
    const indexBytes = JSON.stringify(ix).length;
    rows.push([
      "delta, consecutive builds (small code change)",
      `${mb(missing + indexBytes)} = ${(((missing + indexBytes) / next.length) * 100).toFixed(2)} % of ${mb(next.length)} (chunks ${mb(missing)} + index ${mb(indexBytes)}; ${ix.chunks.length} chunks)`,
    ]);
    rows.push(["chunking cost", `central ${chunkS.toFixed(1)} s per release; edge ${edgeChunkS.toFixed(1)} s to index its slot`]);
    await fs.rm(path.join(root, "b1"), { recursive: true, force: true });
    await fs.rm(path.join(root, "next"), { recursive: true, force: true });
    await fs.rm(slot, { recursive: true, force: true });
  }

  // ---- campaign: N simulated edges
  const log = new Logger({ component: "bench", sink: new MemorySink(), level: "warn" });
  const keys = await testKeys();
  const cdata = path.join(root, "central");
  const central: Central = await startCentral({ dataDir: cdata, api: { port: 0 }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 } }, { log });
  const fw = central.firmware;
  const rel = path.join(root, "rel");
  await fs.mkdir(rel);
  const v1 = await testRelease(rel, { version: "1.0.0", metaVersion: 1, keys: [keys.targets], payloadBytes: 2_000_000, payloadSeed: 4 });
  const v2File = path.join(rel, "outpost-1.1.0.bundle");
  const p2 = pseudoRandom(2_000_000, 4);
  p2.set(pseudoRandom(20_000, 5), 700_000);
  const x = path.join(root, "x");
  await extractBundle(v1.bundleFile, x, v1.targets.signed);
  await writeBundle({ version: "1.1.0", builtAt: "2026-01-02T00:00:00.000Z", minFromVersion: "1.0.0", files: [{ name: "run", source: path.join(x, "run"), executable: true }, { name: "behavior.json", source: path.join(x, "behavior.json") }, { name: "payload.bin", source: p2 }] }, v2File);
  const v2 = await signRelease(v2File, { keys: [keys.targets], version: 2, expires: new Date(Date.now() + 86_400_000).toISOString() });
  await fw.addRoot(keys.rootMeta);
  await fw.addRelease(v2File, v2);

  const e0 = performance.now();
  const sims: SimEdge[] = [];
  for (let i = 0; i < N; i++) {
    const t = await central.createEnrollmentToken(`Bus ${i}`);
    const data = path.join(root, `edge${i}`);
    const id = await enroll({ centralUrl: central.enrollUrl, token: t.token, dataDir: data });
    await provision({ dataDir: data, root: keys.rootMeta, bundleFile: v1.bundleFile, targets: v1.targets, now: Date.now() });
    const sim = new SimEdge(data, new HttpSource(id.federationUrl, fetchTls(id)), { pollMs: POLL, log });
    await sim.boot();
    sims.push(sim);
  }
  const setupS = (performance.now() - e0) / 1000;

  const start = performance.now();
  const camp = await fw.createCampaign({ version: "1.1.0", stages: [1, 10, 100], maxFailureRate: 0.2 }, "bench");
  const stageAt: number[] = [];
  let last = 0;
  for (;;) {
    const c = fw.campaign(camp.id)!;
    if (c.stage !== last) {
      stageAt.push((performance.now() - start) / 1000);
      last = c.stage;
    }
    if (c.state !== "running") break;
    if (performance.now() - start > 300_000) break;
    await Bun.sleep(20);
  }
  const total = (performance.now() - start) / 1000;
  const c = fw.campaign(camp.id)!;
  const st = Object.values(c.status);
  const healthy = st.filter((s) => s.state === "healthy").length;
  const fetched = st.reduce((n, s) => n + (s.bytesFetched ?? 0), 0);
  rows.push([`campaign start → all ${N} simulated edges healthy (1 % → 10 % → 100 %, poll ${POLL} ms)`, `${total.toFixed(2)} s; ${healthy}/${N} healthy, state ${c.state}; stages advanced at ${stageAt.map((s) => s.toFixed(2)).join(" s, ")} s`]);
  rows.push(["campaign bytes (2 MB test release, 20 KB changed)", `fetched ${mb(fetched)} in total = ${mb(fetched / N)} per edge vs ${mb(v2.signed.bundle.length)} full`]);
  rows.push(["setup (enroll + provision + boot per edge)", `${((setupS / N) * 1000).toFixed(0)} ms per edge`]);
  for (const s of sims) s.stop();
  await central.close();
} finally {
  await fs.rm(root, { recursive: true, force: true });
}

console.log("\n| firmware benchmark | result |\n| --- | --- |");
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);

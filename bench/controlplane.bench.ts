/**
 * Control-plane benchmarks (issue 4). Prints a markdown table.
 *   bun bench/controlplane.bench.ts [--part sync,outage,scale] [--edges 500,1000,2000,3000] [--window 65]
 *
 * sync:   index sync bytes on the link (TLS + MQTT, both directions, measured at a TCP proxy)
 *         per hour of recording per camera (60 s segments, digest every 5 min), vs video bytes.
 * outage: a 24 h outage with 8 cameras (compressed: the edge's index grows 24 h while the link
 *         is cut), then time from link restore until central's mirror equals the edge's index.
 * scale:  N simulated edges in a load-generator process (real mTLS MQTT clients, certificates
 *         from central's CA via enrollment), each 8 cameras' status every 30 s and index
 *         updates every 60 s, against one central; p50/p99 status-to-central latency (edge
 *         enqueue → stored in the database); the knee is where p99 passes 1 s or messages back up.
 * cluster: the same simulated edges against central as 1, 2 and 3 node processes on a real
 *         PostgreSQL 15 + Mosquitto, and one node on embedded PGlite: per configuration the
 *         largest edge count on the ladder at p99 ≤ 1 s, with each process's CPU and the load
 *         average per step (bench/lib/cp-cluster.ts). Not in the default parts:
 *   bun bench/controlplane.bench.ts --part cluster [--nodes 1,2,3] [--ladder 1000,1500,…]
 *     [--cluster-window 30] [--settle 15] [--embedded yes|no] [--fleet DIR] [--full-ladder]
 *     [--node-cpu CORES [--cpu-period-ms 100]]
 *   --full-ladder: every node count climbs from the bottom, and the summary splits node CPU into
 *   a fixed part per node and a slope per 1,000 edges (bench/lib/cp-cluster.ts says why).
 *   --node-cpu 0.08: each node process in a cgroup of its own limited to 0.08 cores (CFS quota,
 *   high weight so the rest of the machine cannot starve it below that; bench/lib/cpu-budget.ts):
 *   emulates nodes on small machines, so one node's knee falls within a ladder this machine can
 *   drive and 1, 2, 3 nodes' capacities compare. Root and cgroup v1 or v2 with a cpu controller;
 *   otherwise it says why and exits 2. Each step then gives the nodes' CFS throttling; the
 *   groups are removed at exit (also on an error or SIGINT). PostgreSQL, the broker and the load
 *   generator then share a group with the same high weight and no quota (a shield).
 *   --cpu-period-ms 20: the CFS period of the node budgets (default 100 ms; the quota is cores ×
 *   period and must be ≥ 1 ms): shorter periods spread a node's budget evenly, so a burst
 *   stalls it for a fraction of 20 ms instead of up to 91 ms at 0.09 cores.
 *   The enrolled edges are kept in --fleet (default under the temp dir) for the next run.
 */
import "reflect-metadata";
import { parseArgs } from "node:util";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { enroll } from "../edge/identity/index.ts";
import { startUplink, type Uplink } from "../edge/uplink/index.ts";
import { DAY_MS } from "../federation/protocol/index.ts";
import { enrollEdge, quiet, startTestCentral, tcpProxy, until, type TestCentral } from "../tests/lib/cp.ts";
import { SimStore } from "./lib/simstore.ts";
import { machine, tree } from "./lib/proc.ts";
import { runCluster, throttledText } from "./lib/cp-cluster.ts";
import { findCpuController } from "./lib/cpu-budget.ts";

const { values } = parseArgs({
  options: {
    part: { type: "string", default: "sync,outage,scale" },
    edges: { type: "string", default: "500,1000,2000,3000" },
    window: { type: "string", default: "65" },
    nodes: { type: "string", default: "1,2,3" },
    ladder: { type: "string", default: "750,1000,1500,2000,2500,3000,3500,4000" },
    "cluster-window": { type: "string", default: "30" },
    settle: { type: "string", default: "15" },
    embedded: { type: "string", default: "yes" },
    "full-ladder": { type: "boolean", default: false },
    "node-cpu": { type: "string" },
    "cpu-period-ms": { type: "string" },
    // The enrolled simulated edges are kept here: enrolling thousands takes minutes on 2 cores.
    fleet: { type: "string", default: path.join(tmpdir(), `outpost-cpbench-fleet-${process.getuid?.() ?? "u"}`) },
  },
});
const parts = new Set(values.part!.split(","));
// Checked before anything starts: a budget that cannot be set must not give an unbudgeted run.
const nodeCpu = values["node-cpu"] === undefined ? undefined : Number(values["node-cpu"]);
const cpuController = nodeCpu === undefined ? null : findCpuController();
if (nodeCpu !== undefined && !(nodeCpu > 0 && nodeCpu <= 64)) {
  console.error(`--node-cpu: expected cores > 0 (e.g. 0.08), got "${values["node-cpu"]}"`);
  process.exit(2);
}
const cpuPeriodMs = values["cpu-period-ms"] === undefined ? undefined : Number(values["cpu-period-ms"]);
if (cpuPeriodMs !== undefined && !(nodeCpu && cpuPeriodMs * nodeCpu >= 1 && cpuPeriodMs <= 1000)) {
  console.error(`--cpu-period-ms: expected a period with --node-cpu whose quota (cores × period) is ≥ 1 ms and ≤ 1000 ms, got "${values["cpu-period-ms"]}"`);
  process.exit(2);
}
if (typeof cpuController === "string") {
  console.error(`--node-cpu ${nodeCpu}: ${cpuController}`);
  process.exit(2);
}
const rows: string[][] = [];
const root = await mkdtemp(path.join(tmpdir(), "cp-bench-"));
// The single-central parts share one in-process central; the cluster part starts its own processes.
const tc = parts.has("sync") || parts.has("outage") || parts.has("scale") ? await startTestCentral(root) : (null as unknown as TestCentral);
const mqttPort = tc ? Number(new URL(tc.central.mqttUrl).port) : 0;
const MIN = 60_000;

async function edgeWith(name: string, store: SimStore, proxyPort: number, extra: Partial<Parameters<typeof startUplink>[0]> = {}): Promise<Uplink> {
  const dir = path.join(root, name);
  const id = await enrollEdge(tc.central, name, dir);
  return startUplink({
    dataDir: dir,
    identity: id,
    mqttUrl: `mqtts://localhost:${proxyPort}`,
    store: store.asStore(),
    cameras: () => Array.from({ length: 8 }, (_, i) => ({ id: `cam${i}`, name: `Camera ${i}`, enabled: true, streams: [{ kind: "main" as const, codec: "avc1.640028", width: 1920, height: 1080, state: "recording", bitrateKbps: 2000, fps: 15 }] })),
    share: ["*"],
    retention: () => ({ maxAgeMs: 30 * DAY_MS }),
    log: quiet("edge"),
    intervals: { syncMs: 3_600_000, digestMs: 3_600_000, healthMs: 3_600_000, treeMs: 3_600_000, ackTimeoutMs: 5000 },
    backoff: { minMs: 100, maxMs: 300 },
    ...extra,
  });
}

const drained = (u: Uplink) => until("outbox drained", () => u.status().connected && u.status().outbox.pending === 0, 600_000, 20);

if (parts.has("sync")) {
  const proxy = await tcpProxy(mqttPort);
  const store = new SimStore();
  const u = await edgeWith("sync-edge", store, proxy.port);
  await drained(u);
  await Bun.sleep(300);
  proxy.bytes.up = proxy.bytes.down = 0;
  const t0 = Date.UTC(2026, 0, 1);
  for (let m = 0; m < 60; m++) {
    store.addSegment("cam0", t0 + m * MIN, t0 + (m + 1) * MIN, 15_000_000); // 2 Mbit/s camera
    await u.syncNow();
    if ((m + 1) % 5 === 0) await u.digestNow();
    await drained(u);
  }
  await Bun.sleep(300);
  const bytes = proxy.bytes.up + proxy.bytes.down;
  // Keepalive (30 s) is per link, not per camera: PINGREQ/PINGRESP in TLS records, ~2 × 27 B, 120 per hour.
  const keepalive = 120 * 2 * 27;
  const video = (kbps: number) => (kbps * 1000 * 3600) / 8;
  rows.push(["index sync bytes on the link, 1 camera, 1 h (60 segments + 12 digests)", `${(bytes / 1024).toFixed(1)} KiB`, `${(bytes / 60).toFixed(0)} B per segment incl. ack; + ~${(keepalive / 1024).toFixed(1)} KiB/h keepalive per link`]);
  for (const kbps of [256, 1000, 2000]) rows.push([`  … vs video at ${kbps} kbit/s (${(video(kbps) / 1e6).toFixed(0)} MB/h)`, `${((bytes / video(kbps)) * 100).toFixed(4)} %`, "target ≤ 0.1 %"]);
  await u.stop();
  await proxy.close();
}

if (parts.has("outage")) {
  const proxy = await tcpProxy(mqttPort);
  const store = new SimStore();
  const u = await edgeWith("outage-edge", store, proxy.port);
  await drained(u);
  proxy.cut();
  await until("link down", () => !u.status().connected);
  const t0 = Date.UTC(2026, 0, 2);
  const health = { disk: { totalBytes: 2e12, freeBytes: 1e12, storeBytes: 9e11 }, streams: Array.from({ length: 8 }, (_, i) => ({ cameraId: `cam${i}`, stream: "main" as const, state: "recording", bitrateKbps: 2000, fps: 15 })), link: { type: "cellular", quality: 0 }, clock: { offsetMs: 3, trusted: true }, cert: { notAfter: null, daysLeft: 80 }, software: { version: "0.1.0" }, outbox: { pending: 0, bytes: 0, dropped: 0 }, config: { appliedVersion: 3 } };
  const sim0 = performance.now();
  for (let m = 0; m < 24 * 60; m++) {
    for (let c = 0; c < 8; c++) {
      // A 2-minute camera outage every 6 h per camera: a gap instead of two segments.
      if (m % 360 === 100 + c || m % 360 === 101 + c) {
        if (m % 360 === 100 + c) store.addGap(`cam${c}`, t0 + m * MIN, t0 + (m + 2) * MIN, "camera-offline");
        continue;
      }
      store.addSegment(`cam${c}`, t0 + m * MIN, t0 + (m + 1) * MIN, 15_000_000);
    }
    await u.syncNow();
    await u.outbox.append("health", health);
    await u.outbox.append("health", health);
    if (m % 10 === 0) for (let c = 0; c < 8; c++) await u.event({ cameraId: `cam${c}`, kind: "motion", atMs: t0 + m * MIN });
    if (m % 5 === 0) await u.digestNow();
  }
  const simS = (performance.now() - sim0) / 1000;
  const st = u.status().outbox;
  proxy.bytes.up = proxy.bytes.down = 0;
  const r0 = performance.now();
  proxy.restore();
  await drained(u);
  const siteId = (await import("../edge/identity/index.ts").then((m) => m.loadIdentity(path.join(root, "outage-edge"))))!.siteId;
  const db = tc.site.mirror.db;
  await until("mirror equals the edge index", async () => {
    const n = await db.query<{ n: string }>(`SELECT (SELECT count(*) FROM cp_segments WHERE site_id = $1) + (SELECT count(*) FROM cp_gaps WHERE site_id = $1) AS n`, [siteId]);
    return Number(n[0]!.n) === store.count();
  }, 600_000, 20);
  const convergeS = (performance.now() - r0) / 1000;
  rows.push(["24 h outage, 8 cameras: converge after link restore", `${convergeS.toFixed(1)} s`, `${st.pending} outbox messages (${(st.bytes / 1e6).toFixed(1)} MB): ${store.count()} index rows, 2880 health, 1152 events, 288 digests; ${((proxy.bytes.up + proxy.bytes.down) / 1e6).toFixed(1)} MB on the link`]);
  rows.push(["  (setup) simulating the 24 h on the edge (compressed)", `${simS.toFixed(1)} s`, "index sync ticks + outbox appends with fsync"]);
  await u.stop();
  await proxy.close();
}

if (parts.has("scale")) {
  const sites = tc.sites;
  const latencies: number[] = [];
  sites.control.onStored = (m) => {
    if (m.type === "health") latencies.push(m.storedAt - m.at);
  };
  const edgesList = values.edges!.split(",").map(Number);
  const maxEdges = Math.max(...edgesList);
  const idsDir = path.join(root, "scale");
  const e0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < maxEdges; i += 16) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(16, maxEdges - i) }, async (_, j) => {
        const t = await tc.central.createEnrollmentToken(`load-${i + j}`);
        const dir = path.join(idsDir, `e${i + j}`);
        await enroll({ centralUrl: tc.central.enrollUrl, token: t.token, dataDir: dir, log: quiet() });
        return dir;
      }),
    );
    ids.push(...batch);
  }
  rows.push(["  (setup) enrolling the simulated edges", `${((performance.now() - e0) / 1000).toFixed(0)} s`, `${maxEdges} sites`]);
  const list = path.join(root, "ids.json");
  await writeFile(list, JSON.stringify(ids));
  const windowS = Number(values.window);
  for (const n of edgesList) {
    const gen = Bun.spawn(["bun", path.join(import.meta.dir, "lib/cp-loadgen.ts"), JSON.stringify({ list, n, url: tc.central.mqttUrl, statusMs: 30_000, indexMs: 60_000 })], { stdout: "pipe", stderr: "inherit" });
    const reader = gen.stdout.getReader();
    let out = "";
    while (!out.includes("CONNECTED")) out += new TextDecoder().decode((await reader.read()).value);
    const connected = Number(/CONNECTED (\d+)/.exec(out)![1]);
    latencies.length = 0;
    const c0 = tree(process.pid).reduce((a, s) => a + s.cpuSeconds, 0);
    const g0 = tree(gen.pid).reduce((a, s) => a + s.cpuSeconds, 0);
    const stats0 = { ...sites.control.stats };
    sites.control.stats.maxBatchMs = 0;
    await Bun.sleep(windowS * 1000);
    const c1 = tree(process.pid).reduce((a, s) => a + s.cpuSeconds, 0);
    const g1 = tree(gen.pid).reduce((a, s) => a + s.cpuSeconds, 0);
    gen.kill("SIGTERM");
    await gen.exited;
    const sorted = [...latencies].sort((a, b) => a - b);
    const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);
    const applied = sites.control.stats.applied - stats0.applied;
    const expected = Math.round(connected * windowS * (1 / 30 + 8 / 60));
    rows.push([
      `scale: ${n} edges (${connected} connected), ${windowS} s window`,
      `p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${sorted[sorted.length - 1] ?? NaN} ms`,
      `${latencies.length} status reports, ${applied} msgs stored (~${expected} expected), max batch ${sites.control.stats.maxBatchMs.toFixed(0)} ms (${sites.control.stats.slowBatches - stats0.slowBatches} > 500 ms), central CPU ${(((c1 - c0) / windowS) * 100).toFixed(0)} %, load generator CPU ${(((g1 - g0) / windowS) * 100).toFixed(0)} %`,
    ]);
    await Bun.sleep(2000);
  }
}

await tc?.close();
if (rows.length) {
  console.log("| measure | result | notes |\n| --- | --- | --- |");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

if (parts.has("cluster")) {
  const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: import.meta.dir }).stdout.toString().trim();
  const t0 = performance.now();
  const { steps, enrollS } = await runCluster({
    root: path.join(root, "cluster"),
    fleet: values.fleet!,
    nodes: values.nodes!.split(",").map(Number).filter((n) => n > 0), // --nodes none: the embedded run alone
    embedded: values.embedded === "yes",
    ladder: values.ladder!.split(",").map(Number),
    fullLadder: values["full-ladder"]!,
    windowS: Number(values["cluster-window"]),
    settleS: Number(values.settle),
    ...(cpuController && nodeCpu ? { nodeCpu: { controller: cpuController, cores: nodeCpu, ...(cpuPeriodMs ? { periodMs: cpuPeriodMs } : {}) } } : {}),
    progress: (l) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${l}`),
  });
  const cores = (n: number[]) => n.reduce((a, b) => a + b, 0);
  console.log(`\nCluster: ${machine()}, commit ${commit}, ${((performance.now() - t0) / 60_000).toFixed(1)} min (enrolling ${enrollS.toFixed(0)} s)\n`);
  const budgeted = steps.some((s) => s.nodeThrottling);
  console.log(`| configuration | edges | p50 | p99 | stored / sent | msgs per commit | node CPU (cores) |${budgeted ? " nodes throttled |" : ""} PostgreSQL | broker | load gen | load avg | ≤ 1 s |`);
  console.log(`| --- | ---: | ---: | ---: | ---: | ---: | --- |${budgeted ? " --- |" : ""} ---: | ---: | ---: | --- | --- |`);
  for (const s of steps) {
    const throttled = budgeted ? ` ${s.nodeThrottling?.map(throttledText).join(" + ") ?? ""} |` : "";
    console.log(`| ${s.config} | ${s.edges} | ${s.p50} ms | ${s.p99} ms | ${s.stored} / ${s.expected} | ${s.perCommit.toFixed(1)} | ${s.nodeCores.map((c) => c.toFixed(3)).join(" + ")} |${throttled} ${s.dbCores.toFixed(3)} | ${s.brokerCores.toFixed(2)} | ${s.loadgenCores.toFixed(2)} | ${s.load} | ${s.ok ? "yes" : "no"} |`);
  }
  // Capacity relative to one node on the same database (the target: ≥ 2.5× with three).
  const oneNode = steps.filter((s) => s.nodeCores.length === 1 && s.config.includes("PostgreSQL") && s.ok).at(-1)?.edges;
  console.log("\n| configuration | largest edge count at p99 ≤ 1 s | × one node | node cores used there | edges per node-core | edges per (node + database) core |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const config of [...new Set(steps.map((s) => s.config))]) {
    const best = steps.filter((s) => s.config === config && s.ok).at(-1);
    if (!best) {
      console.log(`| ${config} | below ${steps.find((s) => s.config === config)!.edges} | | | | |`);
      continue;
    }
    const nc = cores(best.nodeCores);
    const ratio = oneNode ? `${(best.edges / oneNode).toFixed(2)}×` : "";
    console.log(`| ${config} | ${best.edges}${steps.some((s) => s.config === config && !s.ok) ? "" : " (ladder's top: not the limit)"} | ${ratio} | ${nc.toFixed(2)} | ${(best.edges / nc).toFixed(0)} | ${(best.edges / (nc + best.dbCores)).toFixed(0)} |`);
  }
  // Node CPU = fixed per node + slope × edges: least squares over the passing steps (two or more).
  const fits = [...new Set(steps.map((s) => s.config))].flatMap((config) => {
    const ok = steps.filter((s) => s.config === config && s.ok);
    if (new Set(ok.map((s) => s.edges)).size < 2) return [];
    const xs = ok.map((s) => s.edges / 1000);
    const ys = ok.map((s) => cores(s.nodeCores));
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ys.reduce((a, b) => a + b, 0) / ys.length;
    const slope = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
    const db = ok.map((s) => s.dbCores / (s.edges / 1000)).reduce((a, b) => a + b, 0) / ok.length;
    return [{ config, nodes: ok[0]!.nodeCores.length, slope, fixed: (my - slope * mx) / ok[0]!.nodeCores.length, db }];
  });
  if (fits.length) {
    console.log("\n| configuration | node-cores per 1,000 edges (all nodes, slope) | fixed node-cores per node | PostgreSQL cores per 1,000 edges |");
    console.log("| --- | ---: | ---: | ---: |");
    for (const f of fits) console.log(`| ${f.config} | ${f.slope.toFixed(3)} | ${f.fixed.toFixed(3)} | ${f.db.toFixed(3)} |`);
  }
}
await rm(root, { recursive: true, force: true });
process.exit(0);

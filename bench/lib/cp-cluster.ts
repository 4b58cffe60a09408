/**
 * The control-plane cluster benchmark (issue 17; bench/controlplane.bench.ts --part cluster):
 * central as 1, 2 and 3 node PROCESSES (bench/lib/cp-node.ts) on one real PostgreSQL 15
 * (central/db/testkit.ts) and one Mosquitto (the external broker every node shares), and a
 * single node on embedded PGlite; simulated edges (bench/lib/cp-loadgen.ts: real mTLS MQTT
 * clients, one enrolled site each, 8 cameras' status every 30 s and index every 60 s) spread
 * over the sites, so over the nodes by the sites' partitions.
 *
 * For each configuration the edge count climbs the ladder while p99 status latency (edge
 * enqueue → stored at central) stays ≤ 1 s and central keeps up (stores ≥ 90 % of what the
 * edges sent, backlog bounded; a step over is measured once more before the climb ends); the next node count starts at the step the previous one failed.
 * Every step records each process's CPU from /proc/PID/stat (nodes, PostgreSQL, broker, load
 * generator) and the machine's load average, so capacity per node-core-second can be judged
 * on a small, shared machine where wall capacity cannot show the scaling.
 *
 * Why per core, and why a slope: on a 2-core machine the nodes, PostgreSQL, the broker and the
 * load generator share the cores, so three nodes cannot show 3× one node's wall capacity; what
 * says whether nodes scale is what each costs. A node's CPU is a fixed part (lease rounds,
 * presence, timers: paid by every node whatever its edges) plus a part per edge; with
 * --full-ladder every configuration is measured at two or more edge counts and the summary
 * gives the slope (node-cores per 1,000 edges, all nodes together) and the fixed part per node.
 * Capacity at p99 ≤ 1 s on a machine with C cores per node is then about
 * (C − fixed) ÷ (slope per node), as long as PostgreSQL keeps up (its cores are given too).
 */
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Subprocess } from "bun";
import { CentralConfig } from "../../central/config.ts";
import { loadOrCreatePki } from "../../central/ca.ts";
import { openCentralDatabase } from "../../central/db/index.ts";
import { openServer } from "../../central/db/server.ts";
import { startPostgres } from "../../central/db/testkit.ts";
import { systemClock } from "../../lib/clock.ts";
import { Mosquitto } from "../../tests/lib/mosquitto.ts";
import { quiet, until } from "../../tests/lib/cp.ts";
import { tree } from "./proc.ts";
import { cpuBudgets, type CpuBudget, type CpuController, type Throttling } from "./cpu-budget.ts";

export interface ClusterOptions {
  root: string;
  /** Where the enrolled edges, their CA and the registry's rows are kept between runs. */
  fleet: string;
  /** Node counts on PostgreSQL, e.g. [1, 2, 3]. */
  nodes: number[];
  /** Also a single node on embedded PGlite. */
  embedded: boolean;
  /** Edge counts to climb, ascending. */
  ladder: number[];
  /**
   * Every node count climbs from the ladder's bottom (default: from the step the previous count
   * failed). Slower, but gives each configuration two or more points, so its node CPU splits
   * into a fixed part per node and a part per edge (the summary's "per 1,000 edges").
   */
  fullLadder?: boolean;
  windowS: number;
  settleS: number;
  /**
   * Each node process in a cgroup of its own with this many cores (bench/lib/cpu-budget.ts):
   * one node's knee then falls within a ladder this machine can drive, whatever else runs on it.
   */
  nodeCpu?: { controller: CpuController; cores: number; periodMs?: number };
  /** Progress lines (stderr). */
  progress(line: string): void;
}

export interface Step {
  config: string;
  edges: number;
  connected: number;
  p50: number;
  p99: number;
  samples: number;
  stored: number;
  /** Messages the edges published in the window. */
  expected: number;
  backlog: number;
  /** Cores used over the window (1 = one full core), per process group. */
  nodeCores: number[];
  /** Per node over the window, with --node-cpu: CFS periods, how many were throttled, and for how long. */
  nodeThrottling: Throttling[] | null;
  dbCores: number;
  /**
   * Messages stored per PostgreSQL commit (server configurations; NaN embedded): a node batches
   * what arrived while its previous batch ran, so fewer messages per node mean smaller batches
   * and more transactions per message — the fixed cost of a transaction spread over fewer.
   */
  perCommit: number;
  brokerCores: number;
  loadgenCores: number;
  load: string;
  ok: boolean;
}

const STATUS_MS = 30_000;
const INDEX_MS = 60_000;

/** A child speaking one line per answer (cp-node.ts, cp-loadgen.ts). */
class LineChild {
  private buf = "";
  private lines: string[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly proc: Subprocess<"pipe", "pipe", "inherit">) {
    void (async () => {
      for await (const chunk of proc.stdout) {
        this.buf += new TextDecoder().decode(chunk);
        let nl: number;
        while ((nl = this.buf.indexOf("\n")) >= 0) {
          this.lines.push(this.buf.slice(0, nl));
          this.buf = this.buf.slice(nl + 1);
        }
        for (const w of this.waiters.splice(0)) w();
      }
    })();
  }
  static spawn(argv: string[]): LineChild {
    return new LineChild(Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit" }));
  }
  get pid(): number {
    return this.proc.pid;
  }
  send(line: string): void {
    this.proc.stdin.write(line + "\n");
    this.proc.stdin.flush();
  }
  /** The next line starting with `prefix` (earlier other lines are dropped); its rest. */
  async expect(prefix: string, timeoutMs = 600_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return this.lines.splice(0, i + 1)[i]!.slice(prefix.length).trim();
      if (this.proc.exitCode !== null) throw new Error(`child ${this.pid} exited (${this.proc.exitCode}) before "${prefix}"`);
      if (Date.now() > end) throw new Error(`child ${this.pid}: no "${prefix}" in ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000);
      });
    }
  }
  async ask<T>(cmd: string, prefix: string, timeoutMs?: number): Promise<T> {
    this.send(cmd);
    const rest = await this.expect(prefix, timeoutMs);
    return (rest ? JSON.parse(rest) : null) as T;
  }
  /** Ends a child that has no "stop" command (the load generator ends on SIGTERM). */
  async kill(): Promise<void> {
    this.proc.kill("SIGTERM");
    await this.proc.exited;
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      try {
        this.send("stop");
      } catch {}
      const t = setTimeout(() => this.proc.kill("SIGKILL"), 20_000);
      await this.proc.exited;
      clearTimeout(t);
    }
  }
}

const cpuOf = (pids: number[]) => pids.flatMap(tree).reduce((a, s) => a + s.cpuSeconds, 0);
const loadavg = async () => (await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ");

interface NodeReport {
  latencies: number[];
  applied: number;
  backlog: number;
  partitions: number;
  maxBatchMs: number;
  slowBatches: number;
  failedBatches: number;
  warnings: string[];
}

export async function runCluster(o: ClusterOptions): Promise<{ steps: Step[]; enrollS: number }> {
  const steps: Step[] = [];
  const pg = await startPostgres();
  const dbUrl = await pg.createDatabase();
  // The postmaster (pg_ctl daemonises it): its pid file is in the data directory beside the socket.
  const pgDir = new URL(dbUrl).searchParams.get("host")!;
  o.progress(`PostgreSQL: ${dbUrl}`);
  const postmaster = Number((await readFile(path.join(pgDir, "data", "postmaster.pid"), "utf8")).split("\n")[0]);
  // One CA and server certificate for every node (what edges pin and the broker presents), kept
  // with the enrolled edges in the fleet directory: a re-run reuses them instead of enrolling again.
  const nodeDir = (name: string) => path.join(o.root, name);
  const fleetCentral = path.join(o.fleet, "central");
  const registryFile = path.join(o.fleet, "registry.json");
  const list = path.join(o.fleet, "ids.json");
  const maxEdges = o.ladder[o.ladder.length - 1]!;
  // Enrolled in chunks, each saved: an interrupted enrollment resumes where it stopped.
  const have: string[] = existsSync(registryFile) ? JSON.parse(await readFile(list, "utf8")) : [];
  if (!have.length) await rm(o.fleet, { recursive: true, force: true });
  await loadOrCreatePki(CentralConfig.parse({ dataDir: fleetCentral }), systemClock, quiet());
  const broker = await Mosquitto.start(await mkdirp(path.join(o.root, "broker")), fleetCentral);
  const nodes: LineChild[] = [];
  const budgets = o.nodeCpu ? cpuBudgets(o.nodeCpu.controller, o.nodeCpu.cores, o.nodeCpu.periodMs ? { periodUs: o.nodeCpu.periodMs * 1000 } : {}) : null;
  const budgetOf = new Map<LineChild, CpuBudget>();
  // Under budgets the shared parts (PostgreSQL, the broker, the load generator) get a shield: a
  // high weight without a quota, so work elsewhere on the machine cannot make them the limit.
  const shield = (pid: number) => budgets?.shield("shared", pid);
  shield(postmaster);
  if (broker.pid) shield(broker.pid);
  let loadgen: LineChild | null = null;
  let loadgenEdges = 0;
  /** A node's data directory with the shared CA and server certificate, and the fleet's registry in its database. */
  const prepare = async (name: string, db: string | undefined, seed: boolean) => {
    await mkdir(nodeDir(name), { recursive: true });
    for (const d of ["ca", "server"]) await cp(path.join(fleetCentral, d), path.join(nodeDir(name), d), { recursive: true });
    if (!seed) return;
    const to = await openCentralDatabase(db ? { url: db } : {}, nodeDir(name), quiet());
    const registry = JSON.parse(await readFile(registryFile, "utf8")) as Record<string, Record<string, string | null>[]>;
    for (const [table, rows] of Object.entries(registry)) {
      const cols = Object.keys(rows[0] ?? {});
      for (let i = 0; i < rows.length; i += 1000) await to.copyRows(table, cols, rows.slice(i, i + 1000).map((r) => cols.map((c) => r[c]!)));
    }
    await to.close();
  };
  /**
   * Puts a node in its CPU budget (--node-cpu). After READY: start-up (migrations, the registry)
   * and enrollment are not what is measured and would take minutes at a tenth of a core.
   */
  const budget = (name: string, n: LineChild) => {
    if (budgets) budgetOf.set(n, budgets.assign(name, n.pid));
  };
  const startNode = async (name: string, db: string | undefined, seed = false, budgeted = true): Promise<LineChild> => {
    await prepare(name, db, seed);
    // CPBENCH_PROF=DIR: each node writes a CPU profile (markdown, for grep) into DIR when it stops.
    // CPBENCH_PROF_JSON=1: a .cpuprofile instead (Chrome's format: whole call stacks with sample times, for a tree by caller).
    const json = !!process.env.CPBENCH_PROF_JSON;
    const prof = process.env.CPBENCH_PROF ? [json ? "--cpu-prof" : "--cpu-prof-md", `--cpu-prof-dir=${process.env.CPBENCH_PROF}`, `--cpu-prof-name=${name}.${json ? "cpuprofile" : "md"}`] : [];
    const n = LineChild.spawn(["bun", ...prof, path.join(import.meta.dir, "cp-node.ts"), JSON.stringify({ dataDir: nodeDir(name), brokerUrl: broker.url, ...(db ? { dbUrl: db, nodeId: name } : {}) })]);
    await n.expect("READY");
    if (budgeted) budget(name, n);
    nodes.push(n);
    return n;
  };
  let enrollS = 0;
  try {
    // node-1 enrolls what the fleet lacks; with --nodes none (the embedded run alone) it may not be needed.
    const n1 = o.nodes.length || have.length < maxEdges ? await startNode("node-1", dbUrl, have.length > 0, have.length >= maxEdges) : null;
    if (n1 && have.length < maxEdges) {
      o.progress(`enrolling edges ${have.length}…${maxEdges - 1} at node-1 (kept in ${o.fleet} for the next run) …`);
      const t0 = performance.now();
      while (have.length < maxEdges) {
        const n = Math.min(250, maxEdges - have.length);
        have.push(...(await n1.ask<string[]>(`enroll ${n} ${have.length} ${path.join(o.fleet, "edges")}`, "ENROLLED", 3_600_000)));
        const from = await openServer(dbUrl, { max: 1 });
        const registry: Record<string, unknown[]> = {};
        for (const table of ["sites", "certificates"]) registry[table] = await from.query(`SELECT * FROM ${table}`);
        await from.close();
        await writeFile(list, JSON.stringify(have));
        await writeFile(registryFile, JSON.stringify(registry));
        o.progress(`${have.length} edges enrolled`);
      }
      enrollS = (performance.now() - t0) / 1000;
      budget("node-1", n1);
    } else o.progress(`reusing the ${have.length} edges enrolled in ${o.fleet}`);

    /** Climbs the ladder from `from`; returns the index of the first failed step (ladder.length if none). */
    /**
     * A step over the limit is measured once more before the climb ends: on a shared machine one
     * window can catch a stall of the machine or the hand-over right after a node joined, and
     * a configuration's capacity should not end there (both rows are kept and printed).
     */
    const climb = async (config: string, from: number, db: () => number[]): Promise<number> => {
      let i = from;
      let again = false;
      for (; i < o.ladder.length; i++) {
        const step = await measure(config, o.ladder[i]!, db);
        steps.push(step);
        const throttled = step.nodeThrottling ? ` (throttled ${step.nodeThrottling.map(throttledText).join(" + ")})` : "";
        o.progress(`${config}: ${step.edges} edges p50 ${step.p50} p99 ${step.p99} ms, stored ${step.stored}/${step.expected}, backlog ${step.backlog}, ${step.perCommit.toFixed(1)} msgs/commit, nodes ${step.nodeCores.map((c) => c.toFixed(2)).join("+")} cores${throttled}, db ${step.dbCores.toFixed(2)}, broker ${step.brokerCores.toFixed(2)}, loadgen ${step.loadgenCores.toFixed(2)}, load ${step.load} → ${step.ok ? "ok" : "over"}`);
        if (!step.ok && !again) {
          again = true;
          i--;
          continue;
        }
        if (!step.ok) break;
        again = false;
      }
      return i;
    };
    // Commits in the benchmark's database so far (its own statistics read adds one; negligible).
    const commits = async (config: string): Promise<number> => {
      if (!config.includes("PostgreSQL")) return NaN;
      const db = await openServer(dbUrl, { max: 1 });
      try {
        const [r] = await db.query<{ n: string }>(`SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()`);
        return Number(r!.n);
      } finally {
        await db.close();
      }
    };
    const measure = async (config: string, edges: number, db: () => number[]): Promise<Step> => {
      // The load generator only adds edges: a step with fewer (--full-ladder, the next node count) starts a new one.
      if (loadgen && edges < loadgenEdges) {
        await loadgen.kill();
        loadgen = null;
      }
      loadgenEdges = edges;
      if (!loadgen) {
        loadgen = LineChild.spawn(["bun", path.join(import.meta.dir, "cp-loadgen.ts"), JSON.stringify({ list, n: edges, url: broker.url, statusMs: STATUS_MS, indexMs: INDEX_MS })]);
        shield(loadgen.pid);
      } else loadgen.send(`n ${edges}`);
      const connected = Number(await loadgen.expect("CONNECTED"));
      // Every edge's first status and index fall within one status interval of connecting (random phase).
      await Bun.sleep(o.settleS * 1000);
      await until("central caught up before the window", async () => {
        const r = await Promise.all(nodes.map((n) => n.ask<NodeReport>("report", "REPORT")));
        return r.every((x) => x.backlog < 200);
      }, 60_000, 1000).catch(() => undefined);
      for (const n of nodes) await n.ask("reset", "OK");
      const sent0 = await loadgen.ask<number>("sent", "SENT");
      const pids = { nodes: nodes.map((n) => n.pid), db: db(), broker: [broker.pid!], gen: [loadgen.pid] };
      const k0 = await commits(config);
      const throttling = () => (budgets ? nodes.map((n) => budgetOf.get(n)!.throttling()) : null);
      const th0 = throttling();
      const c0 = { nodes: pids.nodes.map((p) => cpuOf([p])), db: cpuOf(pids.db), broker: cpuOf(pids.broker), gen: cpuOf(pids.gen) };
      const t0 = performance.now();
      await Bun.sleep(o.windowS * 1000);
      const secs = (performance.now() - t0) / 1000;
      const c1 = { nodes: pids.nodes.map((p) => cpuOf([p])), db: cpuOf(pids.db), broker: cpuOf(pids.broker), gen: cpuOf(pids.gen) };
      const th1 = throttling();
      const k1 = await commits(config);
      const sent = (await loadgen.ask<number>("sent", "SENT")) - sent0;
      // Stored counts what was committed in the window; give what was sent in its last moments time to land.
      await Bun.sleep(1000);
      const reports = await Promise.all(nodes.map((n) => n.ask<NodeReport>("report", "REPORT")));
      for (const [k, r] of reports.entries()) if (r.failedBatches || (r.applied === 0 && r.warnings.length)) o.progress(`node ${k + 1}: ${r.failedBatches} failed batches; last warnings: ${r.warnings.join(" | ")}`);
      const sorted = reports.flatMap((r) => r.latencies).sort((a, b) => a - b);
      const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);
      const stored = reports.reduce((a, r) => a + r.applied, 0);
      const backlog = reports.reduce((a, r) => a + r.backlog, 0);
      const expected = sent;
      const p99 = pct(99);
      return {
        config,
        edges,
        connected,
        p50: pct(50),
        p99,
        samples: sorted.length,
        stored,
        expected,
        backlog,
        nodeCores: pids.nodes.map((_, k) => (c1.nodes[k]! - c0.nodes[k]!) / secs),
        nodeThrottling: th0 && th1 ? th1.map((t, k) => ({ periods: t.periods - th0[k]!.periods, throttled: t.throttled - th0[k]!.throttled, throttledMs: t.throttledMs - th0[k]!.throttledMs })) : null,
        dbCores: (c1.db - c0.db) / secs,
        perCommit: stored / (k1 - k0),
        brokerCores: (c1.broker - c0.broker) / secs,
        loadgenCores: (c1.gen - c0.gen) / secs,
        load: await loadavg(),
        ok: p99 <= 1000 && stored >= 0.9 * expected && connected === edges,
      };
    };
    const waitSplit = async (k: number) => {
      const fair = Math.ceil(256 / k);
      await until(`${k} nodes split the partitions`, async () => {
        const r = await Promise.all(nodes.map((n) => n.ask<NodeReport>("report", "REPORT")));
        // Each gives back what is above ceil(256 / k); the newcomer claims what was given back.
        return r.reduce((a, x) => a + x.partitions, 0) === 256 && r.every((x) => x.partitions >= Math.floor(256 / k) - 3 && x.partitions <= fair);
      }, 120_000, 1000);
    };

    const per = o.nodeCpu ? `, ${o.nodeCpu.cores} cores per node${o.nodeCpu.periodMs ? ` (${o.nodeCpu.periodMs} ms period)` : ""}` : "";
    let from = 0;
    if (!o.nodes.length) for (const n of nodes.splice(0)) await n.stop();
    for (const k of o.nodes) {
      for (let j = nodes.length; j < k; j++) await startNode(`node-${j + 1}`, dbUrl);
      await waitSplit(k);
      o.progress(`${k} node(s) on PostgreSQL own their partitions`);
      const config = `${k} node${k > 1 ? "s" : ""}, PostgreSQL 15${per}`;
      from = o.fullLadder ? 0 : Math.min(await climb(config, from, () => [postmaster]), o.ladder.length - 1);
      if (o.fullLadder) await climb(config, 0, () => [postmaster]);
    }
    await (loadgen as LineChild | null)?.kill();
    loadgen = null;
    for (const n of nodes.splice(0)) await n.stop();

    if (o.embedded) {
      // The same sites in the embedded database (the registry's tables as enrolled at the server).
      await startNode("embedded", undefined, true);
      await climb(`1 node, embedded PGlite${per}`, 0, () => []);
    }
  } finally {
    await (loadgen as LineChild | null)?.kill();
    for (const n of nodes) await n.stop();
    // The shield holds the broker and PostgreSQL: its group goes once they have stopped.
    await broker.stop();
    await pg.stop();
    budgets?.removeAll();
  }
  return { steps, enrollS };
}

/** "12/200 periods, 340 ms" */
export const throttledText = (t: Throttling) => `${t.throttled}/${t.periods} periods, ${t.throttledMs.toFixed(0)} ms`;

async function mkdirp(d: string): Promise<string> {
  await mkdir(d, { recursive: true });
  return d;
}

/**
 * The shared presence read of a cluster node (central/cluster/presence.ts, issue 17) on a real
 * PostgreSQL 15 with N online sites, each row carrying a health report as the load generator's
 * (16 streams, ≈ 1.7 kB): CPU of this process (getrusage) per read — state only, every report
 * at once (what a node's tick did every 15 s before), one slice of 8 (what each tick does now)
 * — and a node's whole tick (its flush and the read on demand) when nobody asked for another
 * node's site (no read) and when someone did within demandMs (the state and one slice) —
 * interleaved, and with --node-cpu CORES the same reads with this process in a CPU cgroup
 * (bench/lib/cpu-budget.ts; root): wall time per read and the longest event-loop stall.
 *   bun bench/presence-read.bench.ts [--sites 8000] [--node-cpu 0.09]
 */
import { parseArgs } from "node:util";
import { twoNodesOnServer } from "../central/db/testkit.ts";
import { SharedPresence } from "../central/cluster/presence.ts";
import { cpuBudgets, findCpuController } from "./lib/cpu-budget.ts";
import { simHealth } from "./lib/sim-health.ts";

const { values } = parseArgs({ options: { sites: { type: "string", default: "8000" }, "node-cpu": { type: "string" } } });
const N = Number(values.sites);
const health = simHealth(0);
const { a, stop } = await twoNodesOnServer();
const budgets = values["node-cpu"] ? (() => {
  const ctl = findCpuController();
  if (typeof ctl === "string") throw new Error(`--node-cpu: ${ctl}`);
  return cpuBudgets(ctl, Number(values["node-cpu"]));
})() : null;
try {
  for (let i = 0; i < N; i += 500) {
    const params: (string | number | boolean | object)[] = [];
    const tuples: string[] = [];
    for (let j = i; j < Math.min(N, i + 500); j++) tuples.push(`(${[`site-${j}`, true, 1, Date.now(), "node-x", health, Date.now()].map((v) => `$${params.push(v)}`).join(", ")})`);
    await a.run(`INSERT INTO site_presence (site_id, online, since_ms, last_seen_ms, node_id, health, health_at_ms) VALUES ${tuples.join(", ")}`, params as never);
  }
  const node = () => new SharedPresence({ db: a, nodeId: "reader", owns: () => false, sites: () => [], local: () => ({ online: false, lastSeenMs: null }), leaseMs: 15_000, intervalMs: 2_000, throttleMs: 5_000 });
  const reader = node();
  // Two more nodes' ticks: one nobody asks, one asked before each tick (its first read, every report, is made here).
  const idle = node();
  const asked = node();
  await asked.fresh();
  const modes: Record<string, () => Promise<void>> = {
    "state only": () => reader.refresh({ health: false }),
    "every report": () => reader.refresh(),
    "tick, asked": () => (asked.remote("site-0"), asked.tick()),
    "one slice of 8": () => reader.refresh({ healthSlice: [0, 8] }),
    "tick, nobody asks": () => idle.tick(),
  };
  const cpuMs = () => {
    const r = process.resourceUsage();
    return (r.userCPUTime + r.systemCPUTime) / 1000;
  };
  const rows: string[] = [];
  const run = async (budget: string) => {
    const acc = new Map<string, { cpu: number; wall: number; stall: number; n: number }>();
    let last = performance.now();
    let stall = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      stall = Math.max(stall, now - last);
      last = now;
    }, 1);
    try {
      for (let round = 0; round < 5; round++) {
        for (const [name, read] of Object.entries(modes)) {
          await Bun.sleep(200);
          stall = 0;
          last = performance.now();
          const c0 = cpuMs();
          const t0 = performance.now();
          await read();
          const wall = performance.now() - t0;
          const cpu = cpuMs() - c0;
          await Bun.sleep(5);
          const s = acc.get(name) ?? { cpu: 0, wall: 0, stall: 0, n: 0 };
          acc.set(name, { cpu: s.cpu + cpu, wall: s.wall + wall, stall: Math.max(s.stall, stall), n: s.n + 1 });
        }
      }
    } finally {
      clearInterval(ticker);
    }
    for (const [name, s] of acc) rows.push(`| ${N} | ${name} | ${budget} | ${(s.cpu / s.n).toFixed(1)} | ${(s.wall / s.n).toFixed(0)} | ${s.stall.toFixed(0)} |`);
  };
  await run("none");
  if (budgets) {
    budgets.assign("presence-read", process.pid);
    await run(`${values["node-cpu"]} cores`);
  }
  console.log(`\n| sites | read | CPU budget | CPU ms per read | wall ms per read | longest event-loop stall ms |\n| ---: | --- | --- | ---: | ---: | ---: |\n${rows.join("\n")}`);
} finally {
  budgets?.removeAll();
  await stop();
}

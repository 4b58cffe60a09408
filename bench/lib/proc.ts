/**
 * Process measurements for benchmarks: CPU time (utime+stime) and RSS of a process and all
 * its descendants, read from /proc, so a recorder's GStreamer children are counted with it.
 */
import { readdirSync, readFileSync } from "node:fs";

const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
const PAGE = Number(Bun.spawnSync(["getconf", "PAGESIZE"]).stdout.toString().trim()) || 4096;

interface Stat {
  pid: number;
  ppid: number;
  cpuSeconds: number;
  /** CPU of its children that exited and were waited for (cutime + cstime). */
  reapedCpuSeconds: number;
  rssBytes: number;
}

function readStat(pid: number): Stat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // Fields after the comm: state(0) ppid(1) ... utime(11) stime(12) ... rss(21)
    return {
      pid,
      ppid: Number(rest[1]),
      cpuSeconds: (Number(rest[11]) + Number(rest[12])) / CLK_TCK,
      reapedCpuSeconds: (Number(rest[13]) + Number(rest[14])) / CLK_TCK,
      rssBytes: Number(rest[21]) * PAGE,
    };
  } catch {
    return null;
  }
}

/** The process and every descendant alive now. */
export function tree(root: number): Stat[] {
  const all: Stat[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(Number(d));
    if (st) all.push(st);
  }
  const out: Stat[] = [];
  const want = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of all) {
      if (!want.has(s.pid) && want.has(s.ppid)) {
        want.add(s.pid);
        grew = true;
      }
    }
  }
  for (const s of all) if (want.has(s.pid)) out.push(s);
  return out;
}

export interface Usage {
  /** Cores used on average over the window (1.0 = one full core). */
  cores: number;
  /** Sum of RSS of the tree at the end of the window. */
  rssBytes: number;
  /** Sum of RSS of the root processes alone (without their children, e.g. a helper decoder). */
  rootRssBytes: number;
  /**
   * RSS of the tree sampled every second over the window: its mean and its peak. A helper
   * process that runs only now and then (the edge's preview decoder) makes the end-of-window
   * figure a matter of luck; the mean is what the machine carries on average.
   */
  rssMeanBytes: number;
  rssPeakBytes: number;
  processes: number;
}

/**
 * Measures CPU over a window. A child of a root that exits during the window (the edge's
 * preview decoder ends when idle) is counted through the root's reaped-children time: all of
 * its CPU lands there when it is waited for, so what it had used before the window is taken
 * off. A deeper descendant that exits loses its ticks in the window.
 */
export async function measure(roots: number[], windowMs: number): Promise<Usage> {
  const cpu = (ps: Stat[]) => new Map(ps.map((p) => [p.pid, p.cpuSeconds]));
  const reaped = () => roots.reduce((a, r) => a + (readStat(r)?.reapedCpuSeconds ?? 0), 0);
  const beforeStats = roots.flatMap(tree);
  const before = cpu(beforeStats);
  const reaped0 = reaped();
  const t0 = performance.now();
  const samples: number[] = [];
  const sampleRss = () => samples.push(roots.flatMap(tree).reduce((a, p) => a + p.rssBytes, 0));
  const sampler = setInterval(sampleRss, 1000);
  await Bun.sleep(windowMs);
  clearInterval(sampler);
  const afterStats = roots.flatMap(tree);
  const secs = (performance.now() - t0) / 1000;
  let used = reaped() - reaped0;
  for (const p of afterStats) used += p.cpuSeconds - (before.get(p.pid) ?? 0);
  const rootSetBefore = new Set(roots);
  const alive = new Set(afterStats.map((p) => p.pid));
  for (const p of beforeStats) if (!alive.has(p.pid) && rootSetBefore.has(p.ppid)) used -= p.cpuSeconds;
  const rootSet = new Set(roots);
  const rssBytes = afterStats.reduce((a, p) => a + p.rssBytes, 0);
  samples.push(rssBytes);
  return {
    cores: used / secs,
    rssBytes,
    rootRssBytes: afterStats.filter((p) => rootSet.has(p.pid)).reduce((a, p) => a + p.rssBytes, 0),
    rssMeanBytes: samples.reduce((a, b) => a + b, 0) / samples.length,
    rssPeakBytes: Math.max(...samples),
    processes: afterStats.length,
  };
}

export function machine(): string {
  const cpu = readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown cpu";
  const mem = Number(readFileSync("/proc/meminfo", "utf8").match(/MemTotal:\s*(\d+)/)?.[1] ?? 0) / 1024 / 1024;
  const cores = readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm)?.length ?? 0;
  return `${cpu}, ${cores} cores, ${mem.toFixed(0)} GiB RAM, Bun ${Bun.version}, ${new Date().toISOString().slice(0, 10)}`;
}

/** CPU of this process (user + sys, ms) per call of `fn`, over `n` calls after one warm call. */
export async function cpuMsPerCall(fn: () => Promise<unknown>, n = 20): Promise<number> {
  await fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

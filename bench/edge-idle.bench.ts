/**
 * What an edge recorder costs when it does (almost) nothing: CPU and wake-ups per second of the
 * edge process with no camera (idle) and with one camera, this checkout and an older one side
 * by side in the same windows (issue 13: the fixed cost that one stream cannot amortise).
 *
 *   bun bench/edge-idle.bench.ts [--before DIR] [--cameras 0,1] [--window 60] [--rounds 3] [--warm 20] [--rate 2M|low]
 *
 * Every edge runs at once (pinned to core 1; camsim to core 0), started the way the firmware
 * starts it (edge/process-env.ts), API off, no central. After `--warm` seconds, `--rounds`
 * windows of `--window` seconds each are measured on the same processes, so a row shows
 * whether a cost is a start-up one (JIT, first queries) or steady. Per window, from /proc:
 *   CPU       utime+stime of all threads (/proc ticks are 10 ms: ±0.017 % of a core per 60 s)
 *   wake-ups  voluntary context switches per second, all threads and the main (JS) thread
 *             alone: every timer, socket event, thread-pool completion and GC helper shows here
 *   threads   CPU split into the JS thread, Bun's thread pool (file I/O, DuckDB), JIT, the rest
 * Not part of `bun test`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startCamsim, withCredentials, type Camsim } from "../camsim/index.ts";
import { machine } from "./lib/proc.ts";

const { values } = parseArgs({
  options: {
    before: { type: "string" },
    cameras: { type: "string", default: "0,1" },
    window: { type: "string", default: "60" },
    rounds: { type: "string", default: "3" },
    warm: { type: "string", default: "20" },
    /** The camera: 2M = 1280x720 snow at 2 Mbit/s; low = camsim's 640x360 ball (~170 kbit/s sent), as in ingest.bench.ts. */
    rate: { type: "string", default: "2M" },
  },
});
const windowMs = Number(values.window) * 1000;
const rounds = Number(values.rounds);
const warmMs = Number(values.warm) * 1000;
const cameraCounts = values.cameras!.split(",").map(Number);
const here = join(import.meta.dir, "..");
const checkouts = [{ label: "this", root: here }, ...(values.before ? [{ label: "before", root: values.before }] : [])];

/** CPU ticks and context switches of one thread. */
interface ThreadSample {
  name: string;
  ticks: number;
  voluntary: number;
  involuntary: number;
}

function threads(pid: number): Map<number, ThreadSample> {
  const out = new Map<number, ThreadSample>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      out.set(Number(tid), {
        name: readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim(),
        ticks: Number(f[11]) + Number(f[12]),
        voluntary: Number(status.match(/^voluntary_ctxt_switches:\s*(\d+)/m)?.[1] ?? 0),
        involuntary: Number(status.match(/^nonvoluntary_ctxt_switches:\s*(\d+)/m)?.[1] ?? 0),
      });
    } catch {}
  }
  return out;
}

/** The process's own CPU ticks (also of threads that exited, e.g. JSC's collector and JIT helpers). */
function processTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

type Kind = "main" | "pool" | "jit" | "other";
const kindOf = (tid: number, pid: number, name: string): Kind => (tid === pid ? "main" : /Pool/.test(name) ? "pool" : /JIT/.test(name) ? "jit" : "other");

interface Window {
  cpu: number;
  byKind: Record<Kind, number>;
  wakeups: number;
  mainWakeups: number;
  involuntary: number;
  threadsNow: number;
}

function delta(pid: number, a: Map<number, ThreadSample>, b: Map<number, ThreadSample>, ticks: number, secs: number): Window {
  const byKind: Record<Kind, number> = { main: 0, pool: 0, jit: 0, other: 0 };
  let wakeups = 0;
  let mainWakeups = 0;
  let involuntary = 0;
  for (const [tid, s] of b) {
    const was = a.get(tid) ?? { ticks: 0, voluntary: 0, involuntary: 0 };
    const k = kindOf(tid, pid, s.name);
    byKind[k] += (s.ticks - was.ticks) / CLK_TCK / secs;
    wakeups += (s.voluntary - was.voluntary) / secs;
    involuntary += (s.involuntary - was.involuntary) / secs;
    if (k === "main") mainWakeups = (s.voluntary - was.voluntary) / secs;
  }
  // Threads that ended within the window (JSC starts and ends helpers) are in the process total only.
  const cpu = ticks / CLK_TCK / secs;
  byKind.other += Math.max(0, cpu - byKind.main - byKind.pool - byKind.jit - byKind.other);
  return { cpu, byKind, wakeups, mainWakeups, involuntary, threadsNow: b.size };
}

let cam: Camsim | undefined;
const spawned: { pid: number; kill(sig?: number): void; exited: Promise<number> }[] = [];
const rows: string[] = [];

async function run(cameras: number): Promise<void> {
  let url = "";
  if (cameras > 0) {
    const low = values.rate === "low";
    cam ??= await startCamsim({ cameras: 1, pattern: low ? "ball" : "snow", main: low ? { width: 640, height: 360, fps: 15, bitrateKbps: 800 } : { width: 1280, height: 720, fps: 15, bitrateKbps: 2000 }, discoveryPort: null });
    if (cam.rtspPid) Bun.spawnSync(["taskset", "-a", "-p", "-c", "0", String(cam.rtspPid)]);
    url = withCredentials(cam.cameras[0]!.rtspMain, cam.user, cam.password);
  }
  const dirs: string[] = [];
  const pids: number[] = [];
  for (const c of checkouts) {
    const dir = mkdtempSync(join(tmpdir(), "bench-edge-idle-"));
    dirs.push(dir);
    const cfg = {
      dataDir: join(dir, "data"),
      api: { enabled: false },
      storage: { segmentDurationMs: 60_000, minFreeBytes: 0 },
      ingest: { engine: "native" },
      cameras: Array.from({ length: cameras }, (_, i) => ({ id: `c${i + 1}`, rtsp: { main: url }, streams: ["main"] })),
    };
    writeFileSync(join(dir, "edge.json"), JSON.stringify(cfg));
    let env: Record<string, string> = {};
    try {
      env = (await import(join(c.root, "edge/process-env.ts"))).EDGE_PROCESS_ENV;
    } catch {}
    const p = Bun.spawn(["taskset", "-c", "1", "bun", join(c.root, "cli/outpost.ts"), "edge", "--config", join(dir, "edge.json")], { stdout: "ignore", stderr: "ignore", stdin: "ignore", env: { ...process.env, ...env } });
    spawned.push(p);
    pids.push(p.pid);
  }
  await Bun.sleep(warmMs);
  for (let r = 0; r < rounds; r++) {
    const a = pids.map(threads);
    const t0 = pids.map(processTicks);
    const start = performance.now();
    await Bun.sleep(windowMs);
    const secs = (performance.now() - start) / 1000;
    const b = pids.map(threads);
    const t1 = pids.map(processTicks);
    const load = loadavg()[0]!.toFixed(1);
    checkouts.forEach((c, i) => {
      const w = delta(pids[i]!, a[i]!, b[i]!, t1[i]! - t0[i]!, secs);
      const pct = (x: number) => `${(x * 100).toFixed(3)} %`;
      const at = (warmMs + r * windowMs) / 1000;
      rows.push(
        `| ${cameras} | ${c.label} | ${at}–${at + Math.round(secs)} s | ${pct(w.cpu)} | ${pct(w.byKind.main)} | ${pct(w.byKind.pool)} | ${pct(w.byKind.jit)} | ${pct(w.byKind.other)} | ${w.wakeups.toFixed(1)} | ${w.mainWakeups.toFixed(1)} | ${w.involuntary.toFixed(1)} | ${w.threadsNow} | ${load} |`,
      );
      console.error(rows[rows.length - 1]);
    });
  }
  for (const p of spawned.splice(0)) p.kill(2);
  await Promise.all(pids.map((pid) => Bun.spawn(["tail", `--pid=${pid}`, "-f", "/dev/null"]).exited));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

try {
  for (const n of cameraCounts) await run(n);
} finally {
  for (const p of spawned) p.kill(9);
  await cam?.close().catch(() => undefined);
}
console.log(
  [
    `Machine: ${machine()}; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(" ")}`,
    `Windows of ${windowMs / 1000} s after ${warmMs / 1000} s of warm-up; every edge at once, pinned to core 1; the camera (${values.rate === "low" ? "640x360 ball, camsim's low rate" : "1280x720 snow, 2 Mbit/s"}) on core 0.`,
    "",
    "| cameras | edge | window after start | CPU (% of a core) | JS thread | thread pool | JIT | other threads | wake-ups/s (all threads) | JS thread wake-ups/s | involuntary switches/s | threads | load (1 min) |",
    "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n"),
);
process.exit(0);

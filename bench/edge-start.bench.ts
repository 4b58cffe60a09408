/**
 * Restart after a crash: how long from `spawn` of the edge process to recording again, after a
 * kill -9 (the edge's store is left unclean: crash recovery runs at every measured start).
 * Each measured run: the edge records, is killed with SIGKILL, and is started again; timed from
 * the spawn call to
 *   first log line   first byte on stdout/stderr (the code has loaded as far as the logger)
 *   store open       the store's "store open" log line (crash recovery done)
 *   first fragment   per camera: the first new segment file holding media (init + first
 *                    fragment, written in one go by the store writer)
 *   phases           where the time goes (edges that have lib/starttrace.ts): the first time each
 *                    start phase is reached (runtime start, module loading, store index open and
 *                    recovery, RTSP connect/DESCRIBE/SETUP/PLAY, first RTP, first keyframe, first
 *                    fragment cut, written, durable), from OUTPOST_START_TRACE=1 lines on stderr
 * with baselines in the same run, interleaved with the edge runs (the load is the same):
 *   bun -e 0         a bare Bun start to exit
 *   ffmpeg -c copy   `ffmpeg -rtsp_transport tcp -i <camsim> -c copy` to fragmented MP4 on
 *                    stdout, fragments of ≤ 500 ms cut at keyframes (the edge's fragmenter),
 *                    to its first output byte and to its first fragment (moof)
 * and the ratios: edge first log line ÷ bare bun, edge first fragment ÷ ffmpeg first fragment.
 * The camera's keyframe interval bounds both: neither can write before the next keyframe.
 *
 *   bun bench/edge-start.bench.ts [--runs 7] [--cameras 4] [--no-api]
 *       [--exe PATH[,PATH]]   also compiled edges (`bun firmware/compile.ts firmware/entry.ts OUT
 *                             [--bytecode]`); runs with LD_LIBRARY_PATH at this checkout's libduckdb.so
 *       [--before DIR[,DIR]]  also the edges of other checkouts (DIR/cli/outpost.ts), runs interleaved
 *       [--keep]              keep the temporary folders (logs of each run: DIR/run-N.log)
 * Not part of `npm test`.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startCamsim, withCredentials } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "7" },
    cameras: { type: "string", default: "4" },
    "no-api": { type: "boolean", default: false },
    exe: { type: "string" },
    before: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const RUNS = Number(values.runs);
const CAMERAS = Number(values.cameras);
const REPO = join(import.meta.dir, "..");
const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const ms = (x: number | undefined) => (x === undefined ? "—" : `${Math.round(x)}`);
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const range = (xs: number[]) => (xs.length ? `${ms(Math.min(...xs))}–${ms(Math.max(...xs))}` : "—");

/** CPU seconds (user+sys) of one process so far, from /proc. */
function cpuOf(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Every .mp4 under dir (recursively) that holds bytes. */
function segmentFiles(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".mp4")) {
        try {
          if (statSync(p).size > 0) out.add(p);
        } catch {}
      }
    }
  };
  walk(dir);
  return out;
}

// ---- the edge under test ---------------------------------------------------------------------

interface Edge {
  label: string;
  cmd: (cfg: string) => string[];
  cwd: string;
  env: Record<string, string>;
  dir: string;
  cfgFile: string;
  dataDir: string;
  proc?: ReturnType<typeof Bun.spawn>;
  runs: EdgeRun[];
}
interface EdgeRun {
  firstLine?: number;
  storeOpen?: number;
  started?: number;
  firstFragment: Record<string, number>;
  /** ms from spawn to each traced start phase (lib/starttrace.ts), first occurrence. */
  phases: Record<string, number>;
  /** CPU seconds of the edge when its last camera's first fragment was written. */
  cpuAtAll?: number;
  problem?: string;
}

async function makeEdge(label: string, cmd: (cfg: string) => string[], cwd: string, urls: string[]): Promise<Edge> {
  const dir = mkdtempSync(join(tmpdir(), "bench-edgestart-"));
  const dataDir = join(dir, "data");
  const cfgFile = join(dir, "edge.json");
  writeFileSync(
    cfgFile,
    JSON.stringify({
      dataDir,
      logLevel: "info",
      // The appliance serves its API (HTTPS, own certificate): loading and starting it is part of a start.
      api: values["no-api"] ? { enabled: false } : { enabled: true, host: "127.0.0.1", port: 0 },
      storage: { minFreeBytes: 0 },
      ingest: { staggerMs: 100 },
      cameras: urls.map((u, i) => ({ id: `c${i + 1}`, rtsp: { main: u }, streams: ["main"] })),
    }),
  );
  // As the firmware launches it (edge/process-env.ts), where that checkout has it.
  const envFile = join(cwd, "edge/process-env.ts");
  const env = existsSync(envFile) ? ((await import(envFile)).EDGE_PROCESS_ENV as Record<string, string>) : {};
  // Phase marks where that checkout has them (an older edge's config refuses the unknown variable).
  if (existsSync(join(cwd, "lib/starttrace.ts"))) env.OUTPOST_START_TRACE = "1";
  return { label, cmd, cwd, env, dir, cfgFile, dataDir, runs: [] };
}

/** Starts the edge and times it; resolves when every camera wrote its first new fragment (or 60 s). */
async function startTimed(e: Edge): Promise<EdgeRun> {
  const before = segmentFiles(join(e.dataDir, "media"));
  const run: EdgeRun = { firstFragment: {}, phases: {} };
  const t0 = performance.now();
  const spawnedAt = performance.timeOrigin + t0;
  const proc = Bun.spawn(e.cmd(e.cfgFile), { cwd: e.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...e.env, OUTPOST_LOG_FORMAT: "json" } });
  e.proc = proc;
  let log = "";
  const read = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const c of s) {
      const now = performance.now() - t0;
      run.firstLine ??= now;
      log += dec.decode(c, { stream: true });
      if (run.storeOpen === undefined && log.includes('"store open"')) run.storeOpen = now;
      if (run.started === undefined && log.includes('"edge recorder started"')) run.started = now;
    }
  };
  const trace = /\{"startTrace":("[^"]*"),"at":([0-9.]+)\}/g;
  const readers = [read(proc.stdout as ReadableStream<Uint8Array>), read(proc.stderr as ReadableStream<Uint8Array>)];
  const cams = Array.from({ length: CAMERAS }, (_, i) => `c${i + 1}`);
  const end = Date.now() + 60_000;
  // 5 ms polling: a few readdir calls; the resolution it adds is well under the numbers measured.
  while (Object.keys(run.firstFragment).length < CAMERAS && Date.now() < end && proc.exitCode === null) {
    for (const c of cams) {
      if (run.firstFragment[c] !== undefined) continue;
      for (const f of segmentFiles(join(e.dataDir, "media", c))) {
        if (!before.has(f)) {
          run.firstFragment[c] = performance.now() - t0;
          break;
        }
      }
    }
    await Bun.sleep(5);
  }
  run.cpuAtAll = cpuOf(proc.pid);
  // The durable mark may follow the file's appearance by a durability tick: wait for it (briefly).
  for (let i = 0; i < 200 && !log.includes('"first fragment durable"') && proc.exitCode === null; i++) await Bun.sleep(5);
  for (const m of log.matchAll(trace)) run.phases[JSON.parse(m[1]!) as string] ??= Number(m[2]) - spawnedAt;
  if (Object.keys(run.firstFragment).length < CAMERAS) run.problem = proc.exitCode !== null ? `exited ${proc.exitCode}: ${log.slice(-800)}` : "not every camera recorded within 60 s";
  // The readers end with the process (after the kill).
  void Promise.all(readers).then(() => writeFileSync(join(e.dir, `run-${e.runs.length}.log`), log));
  return run;
}

async function kill9(e: Edge): Promise<void> {
  if (!e.proc) return;
  e.proc.kill("SIGKILL");
  await e.proc.exited;
  e.proc = undefined;
}

// ---- baselines -------------------------------------------------------------------------------

async function bareBun(): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn(["bun", "-e", "0"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  await p.exited;
  return performance.now() - t0;
}

/** ffmpeg -c copy of one camera to fragmented MP4 on stdout: ms to its first byte and to its first moof. */
async function ffmpegRun(url: string): Promise<{ firstByte?: number; firstFragment?: number }> {
  const t0 = performance.now();
  const p = Bun.spawn(
    [
      "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url, "-c", "copy",
      "-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "500000", "-flush_packets", "1", "pipe:1",
    ],
    { stdin: "ignore", stdout: "pipe", stderr: "ignore" },
  );
  const r: { firstByte?: number; firstFragment?: number } = {};
  const timer = setTimeout(() => p.kill("SIGKILL"), 30_000);
  // Top-level MP4 boxes: size (4 bytes) + type (4 bytes); the first "moof" is the first fragment.
  let buf = new Uint8Array(0);
  let at = 0;
  for await (const c of p.stdout as ReadableStream<Uint8Array>) {
    const now = performance.now() - t0;
    r.firstByte ??= now;
    const next = new Uint8Array(buf.length + c.length);
    next.set(buf);
    next.set(c, buf.length);
    buf = next;
    while (at + 8 <= buf.length) {
      const size = new DataView(buf.buffer, at).getUint32(0);
      const type = new TextDecoder().decode(buf.subarray(at + 4, at + 8));
      if (type === "moof") {
        r.firstFragment = now;
        break;
      }
      if (size < 8) break;
      at += size;
    }
    if (r.firstFragment !== undefined) break;
  }
  clearTimeout(timer);
  p.kill("SIGKILL");
  await p.exited;
  return r;
}

// ---- the run ---------------------------------------------------------------------------------

const quiet = new Logger({ component: "bench", sink: new MemorySink(), level: "error" });
const small = { width: 320, height: 180, fps: 15, bitrateKbps: 200 };
console.log(`edge start after kill -9: ${CAMERAS} camera(s), ${RUNS} runs, API ${values["no-api"] ? "off" : "on"}; ${cpus().length} cores; load ${load()}`);
const sim = await startCamsim({ cameras: CAMERAS, main: small, discoveryPort: null, log: quiet });
const urls = sim.cameras.map((c) => withCredentials(c.rtspMain, sim.user, sim.password));
const edges: Edge[] = [];
try {
  edges.push(await makeEdge("edge (this checkout)", (cfg) => ["bun", join(REPO, "cli/outpost.ts"), "edge", "--config", cfg], REPO, urls));
  // A compiled executable finds libduckdb.so through LD_LIBRARY_PATH (the appliance's `run` wrapper sets it).
  const duckdbLib = join(REPO, "node_modules", "@duckdb", `node-bindings-${process.platform}-${process.arch}`);
  for (const exe of values.exe?.split(",") ?? []) {
    const e = await makeEdge(`edge (${exe})`, (cfg) => [exe, "edge", "--config", cfg], REPO, urls);
    e.env.LD_LIBRARY_PATH = duckdbLib;
    edges.push(e);
  }
  for (const dir of values.before?.split(",") ?? []) {
    edges.push(await makeEdge(`edge (${dir})`, (cfg) => ["bun", join(dir, "cli/outpost.ts"), "edge", "--config", cfg], dir, urls));
  }
  // A first, clean start of each edge: it creates its store (and API certificate); not measured.
  // Every edge records 1.5 s after each start (an open segment for recovery to close), then is
  // killed: the measured starts run with no other edge alive, after the baselines.
  for (const e of edges) {
    const r = await startTimed(e);
    if (r.problem) throw new Error(`${e.label}: first start failed: ${r.problem}`);
    await Bun.sleep(1500);
    await kill9(e);
  }
  const bare: number[] = [];
  const ff: { firstByte?: number; firstFragment?: number }[] = [];
  const loads: number[] = [loadavg()[0]!];
  for (let i = 0; i < RUNS; i++) {
    bare.push(await bareBun());
    ff.push(await ffmpegRun(urls[0]!));
    console.log(`run ${i + 1} baselines: bun -e 0 ${ms(bare.at(-1))} ms; ffmpeg first byte ${ms(ff.at(-1)?.firstByte)} ms, first fragment ${ms(ff.at(-1)?.firstFragment)} ms; load ${load()}`);
    // Each run starts with another edge: the one right after the ffmpeg baseline ran slower from
    // its first phase on (a fixed order gave one checkout +60 ms before any of its own code ran).
    for (const e of [...edges.slice(i % edges.length), ...edges.slice(0, i % edges.length)]) {
      const r = await startTimed(e);
      e.runs.push(r);
      await Bun.sleep(1500);
      await kill9(e);
      const last = Math.max(...Object.values(r.firstFragment));
      console.log(
        `run ${i + 1} ${e.label}: first line ${ms(r.firstLine)} ms, store open ${ms(r.storeOpen)}, first fragment ${Object.entries(r.firstFragment).map(([c, t]) => `${c} ${ms(t)}`).join(", ")}, all ${ms(last)}, started ${ms(r.started)}; CPU ${r.cpuAtAll?.toFixed(2)} s${r.problem ? ` — ${r.problem}` : ""}`,
      );
    }
    loads.push(loadavg()[0]!);
  }

  const ffFrag = median(ff.map((f) => f.firstFragment ?? NaN));
  const bareMed = median(bare);
  console.log(`\nmedians over ${RUNS} runs (range), ms from spawn; load (1 min) ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`);
  console.log(`| what | median | range | ratio to baseline |`);
  console.log(`| --- | --- | --- | --- |`);
  console.log(`| bare \`bun -e 0\` (to exit) | ${ms(bareMed)} | ${range(bare)} | 1 |`);
  console.log(`| ffmpeg -c copy, first byte | ${ms(median(ff.map((f) => f.firstByte ?? NaN)))} | ${range(ff.map((f) => f.firstByte ?? NaN))} | |`);
  console.log(`| ffmpeg -c copy, first fragment | ${ms(ffFrag)} | ${range(ff.map((f) => f.firstFragment ?? NaN))} | 1 |`);
  for (const e of edges) {
    const ok = e.runs.filter((r) => !r.problem);
    const first = ok.map((r) => r.firstLine ?? NaN);
    const open = ok.map((r) => r.storeOpen ?? NaN);
    const one = ok.map((r) => Math.min(...Object.values(r.firstFragment)));
    const all = ok.map((r) => Math.max(...Object.values(r.firstFragment)));
    console.log(`| ${e.label}: first log line | ${ms(median(first))} | ${range(first)} | ${(median(first) / bareMed).toFixed(1)}× bare bun |`);
    console.log(`| ${e.label}: store open | ${ms(median(open))} | ${range(open)} | |`);
    console.log(`| ${e.label}: first fragment, first camera | ${ms(median(one))} | ${range(one)} | ${(median(one) / ffFrag).toFixed(2)}× ffmpeg |`);
    console.log(`| ${e.label}: first fragment, all ${CAMERAS} cameras | ${ms(median(all))} | ${range(all)} | ${(median(all) / ffFrag).toFixed(2)}× ffmpeg |`);
    console.log(`| ${e.label}: CPU until all recorded (s) | ${median(ok.map((r) => r.cpuAtAll ?? NaN)).toFixed(2)} | | |`);
    if (ok.length < e.runs.length) console.log(`  ${e.label}: ${e.runs.length - ok.length} run(s) failed`);
  }
  for (const e of edges) {
    const ok = e.runs.filter((r) => !r.problem);
    const names = [...new Set(ok.flatMap((r) => Object.keys(r.phases)))];
    if (names.length === 0) continue;
    const med = new Map(names.map((n) => [n, median(ok.map((r) => r.phases[n] ?? NaN))]));
    names.sort((a, b) => med.get(a)! - med.get(b)!);
    console.log(`\n${e.label}: start phases, ms from spawn (first occurrence over all cameras; median, range, step from the previous phase)`);
    console.log(`| phase | median | range | step |`);
    console.log(`| --- | --- | --- | --- |`);
    let prev = 0;
    for (const n of names) {
      const v = ok.map((r) => r.phases[n] ?? NaN).filter(Number.isFinite);
      console.log(`| ${n} | ${ms(med.get(n))} | ${range(v)} | +${ms(med.get(n)! - prev)} |`);
      prev = med.get(n)!;
    }
  }
} finally {
  for (const e of edges) await kill9(e).catch(() => undefined);
  await sim.close();
  for (const e of edges) {
    if (values.keep) console.log(`kept ${e.dir}`);
    else rmSync(e.dir, { recursive: true, force: true });
  }
}

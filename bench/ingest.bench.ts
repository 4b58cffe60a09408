/**
 * Recording cost per stream: Outpost's edge recorder (native engine; optionally the gst-launch
 * engine) against ffmpeg (-c copy to fragmented-MP4 segments), side by side in the same run, on
 * the same camsim streams, at two bitrates:
 *   low  — camsim's cheap "ball" picture, 640x360@15 (a simple picture: ~300 kbit/s actually sent)
 *   2M   — 1280x720@15 at 2 Mbit/s of hard-to-compress content ("snow"), where per-byte costs show
 *   8M   — the same at 8 Mbit/s: large keyframe bursts (does any system fall behind the camera?)
 * The bitrate each system actually received is measured (bytes written during the window), so a
 * camera that sends less than it claims shows in the table.
 *
 *   bun bench/ingest.bench.ts [--streams 1,4,8,16,50] [--rates low,2M] [--window 20] [--systems edge,ffmpeg[,gst]]
 *   bun bench/ingest.bench.ts --quick      # streams 1,4,16, window 8 s: a manual check, minutes not tens of minutes
 *   bun bench/ingest.bench.ts --together --before /path/to/older/checkout [--edge-env K=V]
 *   bun bench/ingest.bench.ts --together --exe PATH   also the compiled appliance executable (what a bus
 *       runs: `bun firmware/compile.ts firmware/entry.ts PATH`), with the same process settings
 *       every system at once on the same camera and window (a shared, loaded machine: the load is
 *       the same for all of them), plus the edge of an older checkout ("before")
 *   --settle S   wait S more seconds after every stream wrote media before the window opens: the
 *       edge's first ~80 s include JavaScriptCore compiling its hot code (≈ 0.1 % of a core on
 *       its JIT thread, gone later), which a recorder that runs for months does not pay; ffmpeg
 *       has no such phase. Default 0 (the window opens 5 s after the last stream's first media).
 *
 * CPU is utime+stime from /proc/PID/stat of the system under test only (the edge process; every
 * ffmpeg process), never camsim's. Camsim (one encoder on a shared mount; N RTSP sessions read it)
 * is pinned to core 0 and reported apart, the system under test to core 1.
 * Not part of `npm test`.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startCamsim, withCredentials, type Camsim } from "../camsim/index.ts";
import { scanFile } from "../lib/mp4/index.ts";
import { machine, measure, type Usage } from "./lib/proc.ts";

const { values } = parseArgs({
  options: {
    streams: { type: "string" },
    rates: { type: "string", default: "low,2M" },
    window: { type: "string" },
    systems: { type: "string", default: "edge,ffmpeg" },
    quick: { type: "boolean", default: false },
    durability: { type: "string" },
    before: { type: "string" },
    together: { type: "boolean", default: false },
    "edge-env": { type: "string" },
    settle: { type: "string", default: "0" },
    exe: { type: "string" },
  },
});
const quick = values.quick!;
const counts = (values.streams ?? (quick ? "1,4,16" : "1,4,8,16,50")).split(",").map(Number);
const windowMs = Number(values.window ?? (quick ? 8 : 20)) * 1000;
const systems = new Set(values.systems!.split(","));
const STAGGER_MS = 100;

interface Rate {
  name: string;
  pattern: string;
  main: { width: number; height: number; fps: number; bitrateKbps: number };
}
const RATES: Record<string, Rate> = {
  low: { name: "low (ball, 640x360, claims 800 kbit/s)", pattern: "ball", main: { width: 640, height: 360, fps: 15, bitrateKbps: 800 } },
  "2M": { name: "2 Mbit/s (snow, 1280x720)", pattern: "snow", main: { width: 1280, height: 720, fps: 15, bitrateKbps: 2000 } },
  // A fast camera: its keyframe bursts are what batched socket reads (ingest.readBatchMs) must not starve.
  "8M": { name: "8 Mbit/s (snow, 1280x720)", pattern: "snow", main: { width: 1280, height: 720, fps: 15, bitrateKbps: 8000 } },
};
const rates = values.rates!.split(",").map((r) => {
  const rate = RATES[r];
  if (!rate) throw new Error(`unknown rate ${r} (low, 2M, 8M)`);
  return rate;
});

type Sut = { name: string; start(n: number, dir: string, url: string): Promise<number[]>; verify(n: number, dir: string): string; mediaDir(dir: string): string };
const running: { kill(sig?: number): void; exited: Promise<number> }[] = [];

function spawnPinned(cmd: string[], cwd?: string, env?: Record<string, string>) {
  return Bun.spawn(["taskset", "-c", "1", ...cmd], { cwd, stdout: "ignore", stderr: "ignore", stdin: "ignore", ...(env ? { env: { ...process.env, ...env } } : {}) });
}

function bytesUnder(dir: string): number {
  let sum = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sum += bytesUnder(p);
    else if (e.name.endsWith(".mp4")) sum += statSync(p).size;
  }
  return sum;
}

function edgeSut(engine: "gstreamer" | "native", root = join(import.meta.dir, ".."), label = "", env?: Record<string, string>, exe?: string): Sut {
  return {
    name: (engine === "native" ? "outpost edge" : "outpost edge (gst engine)") + label,
    async start(n, dir, url) {
      const cfg = {
        dataDir: join(dir, "data"),
        api: { enabled: false },
        storage: { segmentDurationMs: 60_000, minFreeBytes: 0, ...(values.durability ? { durabilityMs: Number(values.durability) } : {}) },
        ingest: { engine, staggerMs: STAGGER_MS },
        cameras: Array.from({ length: n }, (_, i) => ({ id: `c${i + 1}`, rtsp: { main: url }, streams: ["main"] })),
      };
      writeFileSync(join(dir, "edge.json"), JSON.stringify(cfg));
      // As the firmware launches it (edge/process-env.ts); an older checkout ("before") without that file gets none.
      const shipped = existsSync(join(root, "edge/process-env.ts")) ? ((await import(join(root, "edge/process-env.ts"))).EDGE_PROCESS_ENV as Record<string, string>) : {};
      // A compiled executable finds libduckdb.so (an old index's one-time migration) as the appliance's `run` wrapper sets it.
      const lib = { LD_LIBRARY_PATH: join(root, "node_modules", "@duckdb", `node-bindings-${process.platform}-${process.arch}`) };
      const cmd = exe ? [exe, "edge", "--config", join(dir, "edge.json")] : ["bun", join(root, "cli/outpost.ts"), "edge", "--config", join(dir, "edge.json")];
      const p = spawnPinned(cmd, undefined, { ...shipped, ...(exe ? lib : {}), ...env });
      running.push(p);
      return [p.pid];
    },
    verify(n, dir) {
      let cams = 0;
      try {
        cams = readdirSync(join(dir, "data", "media")).length;
      } catch {}
      return cams === n ? "" : `only ${cams}/${n} streams wrote segments`;
    },
    mediaDir: (dir) => join(dir, "data", "media"),
  };
}

const ffmpeg: Sut = {
  name: "ffmpeg -c copy",
  async start(n, dir, url) {
    const pids: number[] = [];
    for (let i = 0; i < n; i++) {
      // Fragmented MP4 cut at every keyframe, flushed at once, 60 s segments: the edge's file layout.
      // ffmpeg has no fsync option: it pays no durability cost at all.
      const p = spawnPinned([
        "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url, "-c", "copy",
        "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1", "-segment_format", "mp4",
        "-segment_format_options", "movflags=+frag_keyframe+empty_moov+default_base_moof", "-flush_packets", "1",
        join(dir, `s${i}-%05d.mp4`),
      ]);
      running.push(p);
      pids.push(p.pid);
      await Bun.sleep(STAGGER_MS);
    }
    return pids;
  },
  verify(n, dir) {
    const streams = new Set(readdirSync(dir).filter((f) => f.endsWith(".mp4")).map((f) => f.split("-")[0]));
    return streams.size >= n ? "" : `only ${streams.size}/${n} streams wrote files`;
  },
  mediaDir: (dir) => dir,
};

const gst: Sut = {
  name: "gst-launch splitmuxsink",
  async start(n, dir, url) {
    const pids: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = spawnPinned(["gst-launch-1.0", "-q", "-e", "rtspsrc", `location=${url}`, "protocols=tcp", "!", "rtph264depay", "!", "h264parse", "!", "splitmuxsink", `location=${join(dir, `s${i}-%05d.mp4`)}`, "max-size-time=60000000000"]);
      running.push(p);
      pids.push(p.pid);
      await Bun.sleep(STAGGER_MS);
    }
    return pids;
  },
  verify: ffmpeg.verify,
  mediaDir: (dir) => dir,
};

// --edge-env K=V[,K=V]: the same edge once more with these environment variables (e.g. allocator options).
const edgeEnv = values["edge-env"] ? Object.fromEntries(values["edge-env"].split(",").map((kv) => kv.split("=") as [string, string])) : undefined;
const suts = [...(systems.has("ffmpeg") ? [ffmpeg] : []), ...(systems.has("gst") ? [gst] : []), ...(systems.has("edge-gst") ? [edgeSut("gstreamer")] : []), ...(systems.has("edge") ? [edgeSut("native")] : []), ...(values.before ? [edgeSut("native", values.before, " (before)")] : []), ...(edgeEnv ? [edgeSut("native", undefined, ` (${values["edge-env"]})`, edgeEnv)] : []), ...(values.exe ? [edgeSut("native", undefined, " (compiled)", undefined, values.exe)] : [])];

interface Row {
  rate: string;
  sut: string;
  n: number;
  usage: Usage;
  user: number;
  sys: number;
  /** CPU of the system's processes with their children (the edge's preview decoder), cores. */
  tree: number;
  camsim: Usage;
  kbpsPerStream: number;
  problem: string;
}
const rows: Row[] = [];
/** Bytes on disk ÷ video payload of the edge's store, at the largest stream count of the last bitrate. */
let overhead: { rate: string; n: number; fileBytes: number; payloadBytes: number; indexBytes: number; segments: number } | undefined;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

async function diskOverhead(dataDir: string) {
  let fileBytes = 0;
  let payloadBytes = 0;
  let indexBytes = 0;
  let segments = 0;
  for (const f of filesUnder(dataDir)) {
    const size = statSync(f).size;
    if (f.endsWith(".mp4") && f.includes("/media/")) {
      const scan = await scanFile(f);
      segments++;
      fileBytes += size;
      const buf = new Uint8Array(await Bun.file(f).arrayBuffer());
      const dv = new DataView(buf.buffer);
      for (const fr of scan.fragments) {
        // mdat payload = fragment size − moof size − mdat header
        const moofSize = dv.getUint32(fr.offset);
        payloadBytes += fr.size - moofSize - 8;
      }
    } else if (f.includes("index.duckdb")) indexBytes += size;
  }
  return { fileBytes, payloadBytes, indexBytes, segments };
}


/** utime and stime (seconds) of one process, from /proc/PID/stat. */
const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
function userSys(pids: number[]): { user: number; sys: number } {
  let user = 0;
  let sys = 0;
  for (const pid of pids) {
    try {
      const rest = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = rest.slice(rest.lastIndexOf(")") + 2).split(" ");
      user += Number(f[11]) / CLK_TCK;
      sys += Number(f[12]) / CLK_TCK;
    } catch {}
  }
  return { user, sys };
}

const alive = (pid: number | undefined) => {
  try {
    return !!pid && process.kill(pid, 0);
  } catch {
    return false;
  }
};

async function camsimFor(rate: Rate): Promise<{ cam: Camsim; url: string }> {
  const cam = await startCamsim({ cameras: 1, pattern: rate.pattern, main: rate.main, discoveryPort: null });
  if (cam.rtspPid) Bun.spawnSync(["taskset", "-a", "-p", "-c", "0", String(cam.rtspPid)]);
  return { cam, url: withCredentials(cam.cameras[0]!.rtspMain, cam.user, cam.password) };
}

/**
 * Until every stream of every system wrote media (a loaded machine can take 20 s to start an
 * edge: the window must not open before), at most 90 s, then a few seconds more.
 */
async function warmUp(n: number, checks: (() => string)[]): Promise<void> {
  const end = Date.now() + 90_000;
  await Bun.sleep(n * STAGGER_MS);
  while (Date.now() < end && checks.some((c) => c() !== "")) await Bun.sleep(500);
  await Bun.sleep((quick ? 3000 : 5000) + Number(values.settle) * 1000);
}

/** All systems at once, one window: what a loaded, shared machine can still compare fairly. */
async function together(rate: Rate, n: number, cam: Camsim, url: string): Promise<void> {
  const dirs = suts.map(() => mkdtempSync(join(tmpdir(), "bench-ingest-")));
  const pids: number[][] = [];
  for (let i = 0; i < suts.length; i++) pids.push(await suts[i]!.start(n, dirs[i]!, url));
  await warmUp(n, suts.map((sut, i) => () => sut.verify(n, dirs[i]!)));
  const b0 = suts.map((x, i) => bytesUnder(x.mediaDir(dirs[i]!)));
  const us0 = pids.map(userSys);
  const t0 = performance.now();
  const [camsim, ...usages] = await Promise.all([cam.rtspPid ? measure([cam.rtspPid], windowMs) : Promise.resolve({ cores: 0, rssBytes: 0, rootRssBytes: 0, rssMeanBytes: 0, rssPeakBytes: 0, processes: 0 }), ...pids.map((p) => measure(p, windowMs))]);
  const secs = (performance.now() - t0) / 1000;
  const us1 = pids.map(userSys);
  suts.forEach((sut, i) => {
    const usage = usages[i]!;
    const user = (us1[i]!.user - us0[i]!.user) / secs;
    const sys = (us1[i]!.sys - us0[i]!.sys) / secs;
    const tree = usage.cores;
    usage.cores = user + sys;
    const died = pids[i]!.filter((pid) => !alive(pid)).length;
    const problem = [sut.verify(n, dirs[i]!), died ? `${died} processes exited during the run` : "", alive(cam.rtspPid) ? "" : "camsim died"].filter(Boolean).join("; ");
    const kbpsPerStream = ((bytesUnder(sut.mediaDir(dirs[i]!)) - b0[i]!) * 8) / 1000 / secs / n;
    rows.push({ rate: rate.name, sut: sut.name, n, usage, user, sys, tree, camsim, kbpsPerStream, problem });
    console.error(`${rate.name} | ${sut.name} n=${n} (together): ${((usage.cores * 100) / n).toFixed(3)} % per stream, ${(usage.rssBytes / 2 ** 20).toFixed(0)} MiB (main ${(usage.rootRssBytes / 2 ** 20).toFixed(0)} MiB, mean ${(usage.rssMeanBytes / 2 ** 20).toFixed(0)}, peak ${(usage.rssPeakBytes / 2 ** 20).toFixed(0)}), ${kbpsPerStream.toFixed(0)} kbit/s ${problem}`);
  });
  for (const p of running.splice(0)) p.kill(2);
  await Promise.all(pids.flat().map((pid) => Bun.spawn(["tail", `--pid=${pid}`, "-f", "/dev/null"]).exited));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

for (const rate of rates) {
  let { cam, url } = await camsimFor(rate);
  if (values.together) {
    for (const n of counts) {
      if (!alive(cam.rtspPid)) {
        await cam.close().catch(() => undefined);
        ({ cam, url } = await camsimFor(rate));
      }
      await together(rate, n, cam, url);
    }
    await cam.close();
    continue;
  }
  for (const n of counts) {
    for (const sut of suts) {
     for (let attempt = 0; attempt < 2; attempt++) {
      // camsim's GStreamer child occasionally dies (a segfault in a python worker thread on a
      // loaded machine): a run without a camera measures nothing, so it is redone on a new one.
      if (!alive(cam.rtspPid)) {
        console.error("camsim's RTSP server is gone; starting a new one");
        await cam.close().catch(() => undefined);
        ({ cam, url } = await camsimFor(rate));
      }
      const dir = mkdtempSync(join(tmpdir(), "bench-ingest-"));
      const pids = await sut.start(n, dir, url);
      await warmUp(n, [() => sut.verify(n, dir)]);
      const b0 = bytesUnder(sut.mediaDir(dir));
      const t0 = performance.now();
      const us0 = userSys(pids);
      const [usage, camsim] = await Promise.all([measure(pids, windowMs), cam.rtspPid ? measure([cam.rtspPid], windowMs) : Promise.resolve({ cores: 0, rssBytes: 0, rootRssBytes: 0, rssMeanBytes: 0, rssPeakBytes: 0, processes: 0 })]);
      const us1 = userSys(pids);
      const secs = (performance.now() - t0) / 1000;
      const kbpsPerStream = ((bytesUnder(sut.mediaDir(dir)) - b0) * 8) / 1000 / secs / n;
      const died = pids.filter((pid) => !alive(pid)).length;
      const problem = [sut.verify(n, dir), died ? `${died} processes exited during the run` : ""].filter(Boolean).join("; ");
      const camsimDied = !alive(cam.rtspPid);
      // CPU of the listed processes only (the edge process, each ffmpeg); RSS from the same processes.
      const tree = usage.cores;
      usage.cores = (us1.user - us0.user + us1.sys - us0.sys) / secs;
      const row = { rate: rate.name, sut: sut.name, n, usage, user: (us1.user - us0.user) / secs, sys: (us1.sys - us0.sys) / secs, tree, camsim, kbpsPerStream, problem };
      if ((camsimDied || problem) && attempt === 0) {
        console.error(`${rate.name} | ${sut.name} n=${n}: redone (${camsimDied ? "camsim died" : problem})`);
        for (const p of running.splice(0)) p.kill(2);
        await Promise.all(pids.map((pid) => Bun.spawn(["tail", `--pid=${pid}`, "-f", "/dev/null"]).exited));
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      rows.push(row);
      console.error(`${rate.name} | ${sut.name} n=${n}: ${((usage.cores * 100) / n).toFixed(3)} % of a core per stream (user ${((row.user * 100) / n).toFixed(3)}, sys ${((row.sys * 100) / n).toFixed(3)}), ${(usage.rssBytes / 2 ** 20).toFixed(0)} MiB, ${kbpsPerStream.toFixed(0)} kbit/s per stream received ${problem}`);
      for (const p of running.splice(0)) p.kill(2);
      await Promise.all(pids.map((pid) => Bun.spawn(["tail", `--pid=${pid}`, "-f", "/dev/null"]).exited));
      if (sut.name === "outpost edge" && n === counts[counts.length - 1]) overhead = { rate: rate.name, n, ...(await diskOverhead(join(dir, "data"))) };
      rmSync(dir, { recursive: true, force: true });
      await Bun.sleep(500);
      break;
     }
    }
  }
  await cam.close();
}

const pct = (x: number) => `${(x * 100).toFixed(3)} %`;
const lines = [
  `Machine: ${machine()}; load average at the end ${loadavg().map((l: number) => l.toFixed(1)).join(" ")}`,
  `Window ${windowMs / 1000} s per run${values.together ? ", all systems at once in the same window" : ""}${Number(values.settle) ? `, opened ${values.settle} s after every stream wrote media (past the edge's JIT warm-up)` : ""}; camsim pinned to core 0, system under test to core 1.`,
  "",
  "CPU per Mbit/s = the system's CPU ÷ the bitrate it actually wrote (fair when a starved system receives less).",
  "",
  "CPU with children = the same plus the system's child processes (the edge's preview decoder: a burst after each committed segment, so it shows only in a window that holds a segment's commit).",
  "",
  "RSS total = the system's processes with their children (the edge's preview decoder, a Python/GStreamer child, when it runs) at the end of the window; RSS main = the recorder processes alone; RSS mean / peak = the total sampled every second over the window (ratios to ffmpeg: of the mean).",
  "",
  "| bitrate | streams | system | received per stream | CPU per stream (% of a core) | user | sys | CPU per Mbit/s | CPU with children | with children vs ffmpeg | RSS total | RSS main | RSS mean | RSS peak | RSS per stream | camsim CPU | CPU vs ffmpeg | CPU/Mbit vs ffmpeg | RSS vs ffmpeg | RSS main vs ffmpeg | RSS mean vs ffmpeg | problems |",
  "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
];
for (const r of rows) {
  const base = rows.find((x) => x.n === r.n && x.rate === r.rate && x.sut === ffmpeg.name);
  const cpuRatio = base ? `${(r.usage.cores / base.usage.cores).toFixed(2)}×` : "-";
  const rssRatio = base ? `${(r.usage.rssBytes / base.usage.rssBytes).toFixed(2)}×` : "-";
  const mainRatio = base ? `${(r.usage.rootRssBytes / base.usage.rssBytes).toFixed(2)}×` : "-";
  const meanRatio = base ? `${(r.usage.rssMeanBytes / base.usage.rssMeanBytes).toFixed(2)}×` : "-";
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const perMbit = (x: Row) => (x.kbpsPerStream > 0 ? (x.usage.cores * 100) / ((x.kbpsPerStream * x.n) / 1000) : NaN);
  const treeRatio = base ? `${(r.tree / base.tree).toFixed(2)}×` : "-";
  const mbitRatio = base ? `${(perMbit(r) / perMbit(base)).toFixed(2)}×` : "-";
  lines.push(
    `| ${r.rate} | ${r.n} | ${r.sut} | ${r.kbpsPerStream.toFixed(0)} kbit/s | ${pct(r.usage.cores / r.n)} | ${pct(r.user / r.n)} | ${pct(r.sys / r.n)} | ${perMbit(r).toFixed(3)} % | ${pct(r.tree / r.n)} | ${treeRatio} | ${(r.usage.rssBytes / 2 ** 20).toFixed(0)} MiB | ${(r.usage.rootRssBytes / 2 ** 20).toFixed(0)} MiB | ${mib(r.usage.rssMeanBytes)} | ${mib(r.usage.rssPeakBytes)} | ${(r.usage.rssBytes / r.n / 2 ** 20).toFixed(1)} MiB | ${(r.camsim.cores * 100).toFixed(1)} % | ${cpuRatio} | ${mbitRatio} | ${rssRatio} | ${mainRatio} | ${meanRatio} | ${r.problem || "-"} |`,
  );
}
if (overhead) {
  const ratio = (overhead.fileBytes + overhead.indexBytes) / overhead.payloadBytes;
  lines.push(
    "",
    `Outpost store at ${overhead.n} streams, ${overhead.rate}: ${overhead.segments} segment files, ${(overhead.fileBytes / 2 ** 20).toFixed(1)} MiB files + ${(overhead.indexBytes / 2 ** 10).toFixed(0)} KiB index for ${(overhead.payloadBytes / 2 ** 20).toFixed(1)} MiB video payload: ratio ${ratio.toFixed(4)} (files alone ${(overhead.fileBytes / overhead.payloadBytes).toFixed(4)}).`,
  );
}
console.log(lines.join("\n"));
process.exit(0);

/**
 * Recording cost per stream: Outpost's edge recorder (both ingest engines: native in-process and
 * one gst-launch child per stream) against ffmpeg (-c copy -f segment) and
 * gst-launch (rtspsrc ! splitmuxsink), in the same run, on the same camsim streams.
 * Also bytes on disk ÷ video payload bytes for Outpost's store.
 *
 *   bun bench/ingest.bench.ts [--streams 1,10,50] [--window 20]
 *
 * Camsim encodes one 640x360@15 stream (~800 kbit/s) on a shared mount; N RTSP sessions read it
 * (ingest load equals N cameras, encoder cost stays one). Camsim is pinned to core 0, the system
 * under test to core 1, and camsim's CPU is reported separately.
 */
import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startCamsim } from "../camsim/index.ts";
import { withCredentials } from "../camsim/index.ts";
import { scanFile } from "../lib/mp4/index.ts";
import { machine, measure, type Usage } from "./lib/proc.ts";

const { values } = parseArgs({ options: { streams: { type: "string", default: "1,10,50" }, window: { type: "string", default: "20" } } });
const counts = values.streams!.split(",").map(Number);
const windowMs = Number(values.window) * 1000;
const STAGGER_MS = 300;

const cam = await startCamsim({ cameras: 1, main: { width: 640, height: 360, fps: 15, bitrateKbps: 800 }, discoveryPort: null });
const url = withCredentials(cam.cameras[0]!.rtspMain, cam.user, cam.password);
if (cam.rtspPid) Bun.spawnSync(["taskset", "-a", "-p", "-c", "0", String(cam.rtspPid)]);

type Sut = { name: string; start(n: number, dir: string): Promise<number[]>; verify(n: number, dir: string): string };

function spawnPinned(cmd: string[], cwd?: string) {
  return Bun.spawn(["taskset", "-c", "1", ...cmd], { cwd, stdout: "ignore", stderr: "ignore", stdin: "ignore" });
}

const running: { kill(sig?: number): void; exited: Promise<number> }[] = [];

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

function outpostSut(engine: "gstreamer" | "native"): Sut {
  return {
    name: `outpost edge (${engine})`,
    async start(n, dir) {
      const cfg = {
        dataDir: join(dir, "data"),
        api: { enabled: false },
        storage: { segmentDurationMs: 60_000, minFreeBytes: 0 },
        ingest: { engine, staggerMs: STAGGER_MS },
        cameras: Array.from({ length: n }, (_, i) => ({ id: `c${i + 1}`, rtsp: { main: url }, streams: ["main"] })),
      };
      writeFileSync(join(dir, "edge.json"), JSON.stringify(cfg));
      const p = spawnPinned(["bun", join(import.meta.dir, "../cli/outpost.ts"), "edge", "--config", join(dir, "edge.json")]);
      running.push(p);
      return [p.pid];
    },
    verify(n, dir) {
      const media = join(dir, "data", "media");
      const cams = readdirSync(media).length;
      return cams === n ? "" : `only ${cams}/${n} streams wrote segments`;
    },
  };
}
const outpostGst = outpostSut("gstreamer");
const outpost = outpostSut("native");

const ffmpeg: Sut = {
  name: "ffmpeg -c copy -f segment",
  async start(n, dir) {
    const pids: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = spawnPinned(["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url, "-c", "copy", "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1", join(dir, `s${i}-%05d.mp4`)]);
      running.push(p);
      pids.push(p.pid);
      await Bun.sleep(STAGGER_MS);
    }
    return pids;
  },
  verify(n, dir) {
    const streams = new Set(readdirSync(dir).map((f) => f.split("-")[0]));
    return streams.size >= n ? "" : `only ${streams.size}/${n} streams wrote files`;
  },
};

const gst: Sut = {
  name: "gst-launch rtspsrc ! splitmuxsink",
  async start(n, dir) {
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
};

interface Row {
  sut: string;
  n: number;
  usage: Usage;
  camsim: Usage;
  problem: string;
}

const rows: Row[] = [];
let overhead: { fileBytes: number; payloadBytes: number; indexBytes: number; segments: number } | undefined;

for (const n of counts) {
  for (const sut of [ffmpeg, gst, outpostGst, outpost]) {
    const dir = mkdtempSync(join(tmpdir(), "bench-ingest-"));
    const pids = await sut.start(n, dir);
    await Bun.sleep(n * STAGGER_MS + 5000);
    const [usage, camsim] = await Promise.all([measure(pids, windowMs), cam.rtspPid ? measure([cam.rtspPid], windowMs) : Promise.resolve({ cores: 0, rssBytes: 0, processes: 0 })]);
    const problem = sut.verify(n, dir);
    rows.push({ sut: sut.name, n, usage, camsim, problem });
    console.error(`${sut.name} n=${n}: ${(usage.cores * 100).toFixed(2)} % of a core, ${(usage.rssBytes / 2 ** 20).toFixed(0)} MiB ${problem}`);
    for (const p of running.splice(0)) p.kill(2);
    await Bun.sleep(1500);
    if (sut === outpost && n === counts[counts.length - 1]) overhead = await diskOverhead(join(dir, "data"));
  }
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

await cam.close();

const fmt = (u: Usage, n: number) => `${((u.cores * 100) / n).toFixed(3)} % | ${(u.rssBytes / n / 2 ** 20).toFixed(1)} MiB`;
const lines = [
  `Machine: ${machine()}`,
  `Window ${windowMs / 1000} s per run; camsim (pinned to core 0) and system under test (core 1).`,
  "",
  "| streams | system | CPU per stream (% of a core) | RSS per stream | camsim CPU | vs ffmpeg CPU | problems |",
  "| ---: | --- | ---: | ---: | ---: | ---: | --- |",
];
for (const r of rows) {
  const base = rows.find((x) => x.n === r.n && x.sut === ffmpeg.name)!;
  lines.push(`| ${r.n} | ${r.sut} | ${fmt(r.usage, r.n).replace(" | ", " | ")} | ${(r.camsim.cores * 100).toFixed(1)} % | ${(r.usage.cores / base.usage.cores).toFixed(2)}× | ${r.problem || "-"} |`);
}
if (overhead) {
  const ratio = (overhead.fileBytes + overhead.indexBytes) / overhead.payloadBytes;
  lines.push(
    "",
    `Outpost store (native engine) at ${counts[counts.length - 1]} streams: ${overhead.segments} segment files, ${(overhead.fileBytes / 2 ** 20).toFixed(1)} MiB files + ${(overhead.indexBytes / 2 ** 10).toFixed(0)} KiB index for ${(overhead.payloadBytes / 2 ** 20).toFixed(1)} MiB video payload: ratio ${ratio.toFixed(4)} (files alone ${(overhead.fileBytes / overhead.payloadBytes).toFixed(4)}).`,
  );
}
console.log(lines.join("\n"));
process.exit(0);

/**
 * Benchmark (not a test): time to first byte of GET /cameras/{id}/video for a 1 h window of 60
 * one-minute segments, against Bun.serve sending one static file of the same size. Cold cases
 * (fresh API, empty scan cache): the whole window (progressive), `Range: bytes=0-` and HEAD (need
 * the exact length: from the index's stored fragment tables, and — the baseline in the same run —
 * from scanning every file, as before the tables existed).
 * Run: bun bench/playback-ttfb.bench.ts [--keep DIR]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEdgeApi } from "../edge/api/index.ts";
import { systemClock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { concat, scanSegment } from "../lib/mp4/index.ts";
import { planFragments } from "../lib/playback/plan.ts";
import { MediaStore } from "../lib/store/index.ts";

const dir = mkdtempSync(join(tmpdir(), "ttfb-"));
const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);
const clip = join(dir, "min.mp4");
// One minute, 640x360 15 fps (~ a camera sub stream), encoded once, copied 60 times.
const p = Bun.spawn([
  "gst-launch-1.0", "-q", "videotestsrc", "pattern=ball", "num-buffers=900", "!", "video/x-raw,width=640,height=360,framerate=15/1", "!",
  "x264enc", "key-int-max=15", "bitrate=800", "tune=zerolatency", "speed-preset=ultrafast", "!", "h264parse", "!",
  "mp4mux", "fragment-duration=500", "streamable=true", "!", "filesink", `location=${clip}`,
]);
if ((await p.exited) !== 0) throw new Error("gst-launch failed");
// A real store: segments imported (hashed, indexed with their fragment tables, as rebuild does).
const mediaStore = await MediaStore.open({ root: join(dir, "store"), clock: systemClock, log: new Logger({ component: "bench", sink: new MemorySink() }), minFreeBytes: 0 });
const rawClip = await Bun.file(clip).bytes();
const clipBytes = rawClip.subarray(0, scanSegment(rawClip).playableBytes); // without mp4mux's trailing mfra
const sha256 = new Bun.CryptoHasher("sha256").update(clipBytes).digest("hex");
for (let i = 0; i < 60; i++) {
  const tmp = join(dir, `in-${i}.mp4`);
  writeFileSync(tmp, clipBytes);
  await mediaStore.importSegment(tmp, { cameraId: "cam1", stream: "main", startMs: T0 + i * 60_000, sha256 });
}
const totalBytes = clipBytes.length * 60;
const staticPath = join(dir, "static.bin");
writeFileSync(staticPath, concat([new Uint8Array(totalBytes)]));

const withTables = mediaStore;
// Baseline: the same store without its tables (every file scanned, as before).
const scanOnly = Object.assign(Object.create(mediaStore) as MediaStore, { fragmentTables: undefined });
const log = new Logger({ component: "bench", sink: new MemorySink() });
const mkApi = (store: MediaStore = withTables) => {
  const api = createEdgeApi({ store, cameras: () => [{ id: "cam1", name: "c", streams: [] }], config: { warmRecentMs: 0 }, log, clock: systemClock, dataDir: dir, health: () => ({}) });
  const token = api.sessions.create("admin").token;
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: api.app.fetch });
  return { api, token, server };
};
const staticServer = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(Bun.file(staticPath)) });

async function ttfb(url: string, headers: Record<string, string> = {}): Promise<number> {
  const t = performance.now();
  const res = await fetch(url, { headers });
  const reader = res.body!.getReader();
  await reader.read();
  const ms = performance.now() - t;
  await reader.cancel();
  return ms;
}
async function headTime(url: string, headers: Record<string, string>): Promise<number> {
  const t = performance.now();
  await fetch(url, { method: "HEAD", headers });
  return performance.now() - t;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const win = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 3_600_000).toISOString()}`;

// Warm the OS page cache and the JIT for both paths first.
const warm = mkApi();
await ttfb(`http://127.0.0.1:${staticServer.port}/`);
await ttfb(`http://127.0.0.1:${warm.server.port}/api/v1/cameras/cam1/video?${win}`, { authorization: `Bearer ${warm.token}` });

const stat: number[] = [];
const hot: number[] = [];
const cold: number[] = [];
const coldRange: number[] = [];
const coldHead: number[] = [];
const coldRangeScan: number[] = [];
const coldHeadScan: number[] = [];
const coldFresh = async (headers: Record<string, string>, method = "GET", store = withTables) => {
  const fresh = mkApi(store); // empty scan cache
  const url = `http://127.0.0.1:${fresh.server.port}/api/v1/cameras/cam1/video?${win}`;
  const ms = method === "HEAD" ? await headTime(url, { authorization: `Bearer ${fresh.token}`, ...headers }) : await ttfb(url, { authorization: `Bearer ${fresh.token}`, ...headers });
  fresh.server.stop(true);
  return ms;
};
for (let i = 0; i < 15; i++) {
  stat.push(await ttfb(`http://127.0.0.1:${staticServer.port}/`));
  hot.push(await ttfb(`http://127.0.0.1:${warm.server.port}/api/v1/cameras/cam1/video?${win}`, { authorization: `Bearer ${warm.token}` }));
  cold.push(await coldFresh({})); // whole window: progressive, first and last segment scanned before the first byte
  coldRange.push(await coldFresh({ range: "bytes=0-" })); // a range needs the exact length: from the stored tables
  coldHead.push(await coldFresh({}, "HEAD"));
  coldRangeScan.push(await coldFresh({ range: "bytes=0-" }, "GET", scanOnly)); // baseline: all 60 files scanned
  coldHeadScan.push(await coldFresh({}, "HEAD", scanOnly));
}
const plan = await warm.api.playback.plan({ cameraId: "cam1", fromMs: T0, toMs: T0 + 3_600_000 });
console.log(JSON.stringify({
  segments: 60,
  bytes: totalBytes,
  fragments: [...planFragments(plan)].length,
  staticMs: +median(stat).toFixed(2),
  playbackWarmMs: +median(hot).toFixed(2),
  playbackColdMs: +median(cold).toFixed(2),
  playbackColdRangeMs: +median(coldRange).toFixed(2),
  playbackColdHeadMs: +median(coldHead).toFixed(2),
  playbackColdRangeScanMs: +median(coldRangeScan).toFixed(2),
  playbackColdHeadScanMs: +median(coldHeadScan).toFixed(2),
  ratioWarm: +(median(hot) / median(stat)).toFixed(2),
  ratioCold: +(median(cold) / median(stat)).toFixed(2),
  ratioColdRange: +(median(coldRange) / median(stat)).toFixed(2),
  ratioColdHead: +(median(coldHead) / median(stat)).toFixed(2),
  ratioColdRangeScan: +(median(coldRangeScan) / median(stat)).toFixed(2),
  ratioColdHeadScan: +(median(coldHeadScan) / median(stat)).toFixed(2),
  loadAvg: (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" "),
}));
await mediaStore.close();
warm.server.stop(true);
staticServer.stop(true);
if (!process.argv.includes("--keep")) rmSync(dir, { recursive: true, force: true });
else console.log(`kept ${dir}`);

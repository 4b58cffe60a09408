/**
 * "See before you pull": what previews (thumbnails + activity index, edge/preview) cost.
 *
 *   bun bench/preview.bench.ts [--cameras 8] [--window 60] [--pattern ball] [--decoder-idle S]
 *
 * --decoder-idle sets preview.decoderIdleSeconds (default: the edge's own default).
 *
 * Bytes: preview bytes ÷ the camera's main-stream video bytes at 1 Mbit/s, over the segments
 * that have a preview (target ≤ 1 %). CPU: the edge recorder (a process, its keyframe decoder
 * child included) recording N cameras (main 1 Mbit/s + sub), measured twice on the same
 * camsim streams — previews off, then on; the added CPU ÷ the ingest CPU (target ≤ 25 %).
 * Camsim encodes one camera on a shared mount (each "camera" is its own RTSP session);
 * camsim is pinned to core 0, the edge to core 1.
 */
import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startCamsim, withCredentials } from "../camsim/index.ts";
import { measure, type Usage } from "./lib/proc.ts";

const { values } = parseArgs({ options: { cameras: { type: "string", default: "8" }, window: { type: "string", default: "60" }, pattern: { type: "string", default: "ball" }, "decoder-idle": { type: "string" } } });
const decoderIdleSeconds = values["decoder-idle"] === undefined ? undefined : Number(values["decoder-idle"]);
const n = Number(values.cameras);
const windowMs = Number(values.window) * 1000;
const SEGMENT_MS = 20_000;

const cam = await startCamsim({ cameras: 1, pattern: values.pattern!, main: { width: 1280, height: 720, fps: 15, bitrateKbps: 1000 }, sub: { width: 640, height: 360, fps: 15, bitrateKbps: 300 }, discoveryPort: null });
const main = withCredentials(cam.cameras[0]!.rtspMain, cam.user, cam.password);
const sub = withCredentials(cam.cameras[0]!.rtspSub, cam.user, cam.password);
if (cam.rtspPid) Bun.spawnSync(["taskset", "-a", "-p", "-c", "0", String(cam.rtspPid)]);

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

async function run(preview: boolean): Promise<{ usage: Usage; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "bench-preview-"));
  const cfg = {
    dataDir: join(dir, "data"),
    api: { enabled: false },
    logLevel: "warn",
    storage: { segmentDurationMs: SEGMENT_MS, minFreeBytes: 0 },
    ingest: { staggerMs: 300 },
    preview: { enabled: preview, ...(decoderIdleSeconds === undefined ? {} : { decoderIdleSeconds }) },
    cameras: Array.from({ length: n }, (_, i) => ({ id: `c${i + 1}`, rtsp: { main, sub } })),
  };
  writeFileSync(join(dir, "edge.json"), JSON.stringify(cfg));
  const p = Bun.spawn(["taskset", "-c", "1", "bun", join(import.meta.dir, "../cli/outpost.ts"), "edge", "--config", join(dir, "edge.json")], { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
  // Past the staggered start and the first segment close (the decoder starts on the first preview).
  await Bun.sleep(n * 600 + SEGMENT_MS + 3000);
  const usage = await measure([p.pid], windowMs);
  p.kill(2);
  await p.exited;
  return { usage, dir };
}

const off = await run(false);
console.error(`previews off: ${(off.usage.cores * 100).toFixed(1)} % of a core`);
const on = await run(true);
console.error(`previews on: ${(on.usage.cores * 100).toFixed(1)} % of a core`);

let previewBytes = 0;
let mainBytes = 0;
let subBytes = 0;
let previews = 0;
let thumbs = 0;
let thumbBytes = 0;
// Main and sub segments of one camera start at different instants (the streams join one after
// another), so bytes are compared as totals per camera: every previewed sub segment's preview
// against all main-stream bytes recorded from the first previewed instant on.
const media = join(on.dir, "data", "media");
const startOf = (f: string) => Number(f.slice(f.lastIndexOf("/") + 1, f.lastIndexOf(".")));
for (const camDir of readdirSync(media)) {
  const files = filesUnder(join(media, camDir));
  const previewFiles = files.filter((f) => f.endsWith(".preview") && f.includes("/sub/"));
  if (!previewFiles.length) continue;
  const from = Math.min(...previewFiles.map(startOf));
  const to = Math.max(...previewFiles.map(startOf));
  for (const f of previewFiles) {
    previews++;
    previewBytes += statSync(f).size;
    subBytes += statSync(f.replace(/\.preview$/, ".mp4")).size;
    const buf = new Uint8Array(await Bun.file(f).arrayBuffer());
    const len = new DataView(buf.buffer).getUint32(4);
    const h = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + len))) as { thumbs: { bytes: number }[] };
    thumbs += h.thumbs.length;
    thumbBytes += h.thumbs.reduce((a, t) => a + t.bytes, 0);
  }
  // Main segments covering the same span as the previewed sub segments (starts within one segment).
  for (const m of files) if (m.endsWith(".mp4") && m.includes("/main/") && startOf(m) >= from - SEGMENT_MS && startOf(m) <= to) mainBytes += statSync(m).size;
}
const added = on.usage.cores - off.usage.cores;
const result = {
  cameras: n,
  windowSeconds: windowMs / 1000,
  decoderIdleSeconds: decoderIdleSeconds ?? "default",
  segmentSeconds: SEGMENT_MS / 1000,
  pattern: values.pattern,
  ingestCores: +off.usage.cores.toFixed(4),
  withPreviewCores: +on.usage.cores.toFixed(4),
  addedCores: +added.toFixed(4),
  addedOverIngestPercent: +((100 * added) / off.usage.cores).toFixed(1),
  previews,
  thumbnails: thumbs,
  meanThumbnailBytes: thumbs ? Math.round(thumbBytes / thumbs) : 0,
  previewBytes,
  mainBytes,
  subBytes,
  previewOverMainPercent: +((100 * previewBytes) / mainBytes).toFixed(3),
  // A loaded machine can starve the recorder: then the numbers describe nothing.
  problem: previews < n * Math.floor(windowMs / SEGMENT_MS) ? `only ${previews} previews (and ${subBytes} sub-stream bytes) for ${n} cameras over ${windowMs / 1000} s: not a valid run` : "",
};
console.log(JSON.stringify(result, null, 2));
await cam.close();

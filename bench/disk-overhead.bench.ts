/**
 * Benchmark (not a test): bytes on disk ÷ video payload for one camera recording one hour at
 * 1 Mbit/s, through the real path after RTP: the native ingest's Fragmenter (fMP4 muxing) and the
 * store's writer (segment files, journal, DuckDB index) — faster than real time on a manual clock.
 * Input: one minute of H.264 from ffmpeg (CBR 1 Mbit/s, 1 s GOP), fed `--minutes` times in a row.
 * The baseline (same run) is the payload itself: the H.264 NAL units as the camera sent them.
 *   bun bench/disk-overhead.bench.ts [--minutes 60] [--kbps 1000] [--fragment-ms 500]
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ManualClock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore } from "../lib/store/index.ts";
import { Fragmenter } from "../edge/ingest/native/fragmenter.ts";

const { values } = parseArgs({ options: { minutes: { type: "string", default: "60" }, kbps: { type: "string", default: "1000" }, "fragment-ms": { type: "string", default: "500" } } });
const MINUTES = Number(values.minutes);
const FPS = 15;
const dir = await mkdtemp(join(tmpdir(), "disk-overhead-"));
const es = join(dir, "min.h264");
const ff = Bun.spawn(
  ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", `testsrc2=size=1280x720:rate=${FPS}`, "-t", "60", "-c:v", "libx264", "-preset", "ultrafast", "-g", String(FPS), "-bf", "0",
    "-b:v", `${values.kbps}k`, "-minrate", `${values.kbps}k`, "-maxrate", `${values.kbps}k`, "-bufsize", `${values.kbps}k`, "-x264-params", "nal-hrd=cbr", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", es],
  { stderr: "inherit" },
);
if ((await ff.exited) !== 0) throw new Error("ffmpeg failed");

/** Annex B → NAL units (start codes dropped) → access units (split at AUD, which is dropped too). */
function accessUnits(buf: Uint8Array): Uint8Array[][] {
  const nals: Uint8Array[] = [];
  let start = -1;
  for (let i = 0; i + 2 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      if (start >= 0) nals.push(buf.subarray(start, i > 0 && buf[i - 1] === 0 ? i - 1 : i));
      start = i + 3;
      i += 2;
    }
  }
  if (start >= 0) nals.push(buf.subarray(start));
  const aus: Uint8Array[][] = [];
  for (const n of nals) {
    if ((n[0]! & 0x1f) === 9) aus.push([]);
    else aus[aus.length - 1]?.push(n);
  }
  return aus.filter((a) => a.length);
}
const aus = accessUnits(new Uint8Array(await Bun.file(es).arrayBuffer()));
const perMinute = aus.reduce((n, au) => n + au.reduce((m, x) => m + x.length, 0), 0);

const T0 = Date.UTC(2026, 0, 1, 10);
const clock = new ManualClock(T0);
const log = new Logger({ component: "bench", sink: new MemorySink(), level: "error" });
const store = await MediaStore.open({ root: join(dir, "store"), clock, log, minFreeBytes: 0 });
const writer = store.writer("cam1", "main");
let pending: Promise<void> = Promise.resolve();
const frag = new Fragmenter({
  codec: "h264",
  fragmentMs: Number(values["fragment-ms"]),
  now: () => clock.now(),
  onInit: (bytes, info) => writer.init(bytes, info),
  onFragment: (bytes, info) => {
    const at = T0 + info.startMs + info.durationMs;
    clock.set(at);
    pending = writer.fragment(bytes, info, at);
  },
});
let payload = 0;
let ts = 0;
const t0 = performance.now();
for (let m = 0; m < MINUTES; m++) {
  for (const nals of aus) {
    frag.video({ timestamp: ts >>> 0, nals });
    payload += nals.reduce((n, x) => n + x.length, 0);
    ts += 90_000 / FPS;
    await pending;
  }
}
frag.video({ timestamp: ts >>> 0, nals: aus[0]! }); // closes the last fragment
await pending;
clock.set(clock.now() + 2000);
await store.close();
const feedS = (performance.now() - t0) / 1000;

async function walk(d: string): Promise<{ path: string; bytes: number }[]> {
  const out: { path: string; bytes: number }[] = [];
  for (const e of await readdir(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push({ path: p.slice(join(dir, "store").length + 1), bytes: (await stat(p)).size });
  }
  return out;
}
const files = await walk(join(dir, "store"));
const sum = (f: (p: string) => boolean) => files.filter((x) => f(x.path)).reduce((n, x) => n + x.bytes, 0);
const media = sum((p) => p.endsWith(".mp4"));
const index = sum((p) => p.includes("duckdb"));
const other = sum((p) => !p.endsWith(".mp4") && !p.includes("duckdb"));
const segments = files.filter((x) => x.path.endsWith(".mp4")).length;
const r = (x: number) => +(x / payload).toFixed(5);
console.log(JSON.stringify({
  minutes: MINUTES,
  payloadMB: +(payload / 1e6).toFixed(2),
  payloadKbps: +((perMinute * 8) / 60 / 1000).toFixed(0),
  segments,
  mediaMB: +(media / 1e6).toFixed(2),
  indexKB: +(index / 1024).toFixed(0),
  otherKB: +(other / 1024).toFixed(1),
  containerBytesPerMinute: Math.round((media - payload) / MINUTES),
  mediaOverPayload: r(media),
  allOverPayload: r(media + index + other),
  feedSeconds: +feedS.toFixed(1),
}));
await rm(dir, { recursive: true, force: true });

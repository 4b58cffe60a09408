/**
 * Cameras the edge did not grow up with, recorded into the real store (DuckDB index, segment
 * files) by startEdge, against camsim: H.264 with B-frames, H.265 with B-frames, AAC, MP4A-LATM,
 * G.711 μ-law/A-law, RTP timestamps that wrap, jump forward and back, a slow media clock and a
 * camera host-clock step. Every committed segment must decode with `ffmpeg -v error -f null`
 * saying nothing, and its ffprobe duration must match the time range the store gave it.
 * 320×180 at 15 fps, 2 s segments: the shape matters here, not the size.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCamsim, type Camsim, type CamsimOptions } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import type { SegmentRecord } from "../lib/store/types.ts";
import { startEdge, type Edge } from "../edge/main.ts";

const log = new Logger({ component: "test", sink: new MemorySink(), level: "info" });
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await Bun.sleep(100);
  }
}

async function run(cmd: string[]): Promise<{ out: string; err: string; code: number }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { out: out.trim(), err: err.trim(), code: await p.exited };
}

interface SegmentCheck {
  path: string;
  rangeS: number;
  probedS: number;
  decodeErr: string;
  streams: string;
}

/** Every closed segment of camera/main: ffmpeg decode errors, ffprobe duration vs the store's range. */
async function checkSegments(edge: Edge, camera: string): Promise<SegmentCheck[]> {
  const segs: SegmentRecord[] = (await edge.store.segments({ cameraId: camera, stream: "main", fromMs: 0, toMs: Date.now() + 3_600_000 })).filter((s) => !s.open);
  const out: SegmentCheck[] = [];
  for (const s of segs) {
    const path = edge.store.absPath(s);
    const dec = await run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-f", "null", "-"]);
    const probe = await run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "default=nw=1", path]);
    const streams = [...probe.out.matchAll(/codec_name=(\w+)/g)].map((m) => m[1]).join(",");
    // The video the file holds: first presentation time to the end of the last frame.
    const pk = await run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", path]);
    const rows = pk.out.split("\n").map((l) => l.split(",").map(Number));
    const first = Math.min(...rows.map((r) => r[0]!));
    const end = Math.max(...rows.map((r) => r[0]! + (r[1] || 0)));
    out.push({ path: s.path, rangeS: (s.endMs - s.startMs) / 1000, probedS: end - first, decodeErr: (dec.err + probe.err + pk.err).trim(), streams });
  }
  return out;
}

function expectClean(segs: SegmentCheck[], min = 2): void {
  expect(segs.length).toBeGreaterThanOrEqual(min);
  for (const s of segs) {
    expect({ path: s.path, err: s.decodeErr }).toEqual({ path: s.path, err: "" });
    // The video in the file spans the segment's time range.
    expect({ path: s.path, diff: Math.abs(s.probedS - s.rangeS) < 0.35 }).toEqual({ path: s.path, diff: true });
  }
}

async function setup(sim: Partial<CamsimOptions>, engine: "native" | "gstreamer", cameras = 1): Promise<{ sim: Camsim; edge: Edge }> {
  const cs = await startCamsim({
    cameras,
    main: { width: 320, height: 180, fps: 15, bitrateKbps: 200 },
    sub: { width: 160, height: 90, fps: 5, bitrateKbps: 50 },
    discoveryPort: null,
    log: log.child({ component: "camsim" }),
    ...sim,
  });
  cleanups.push(() => cs.close());
  const dir = await mkdtemp(join(tmpdir(), "outpost-variety-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const edge = await startEdge(
    {
      dataDir: dir,
      storage: { segmentDurationMs: 2000, minFreeBytes: 0, retentionIntervalMs: 60_000 },
      ingest: { engine, connectTimeoutMs: 6000, backoffInitialMs: 200, backoffMaxMs: 2000, stableMs: 3000, staggerMs: 200 },
      cameras: cs.cameras.map((c) => ({ id: c.id, rtsp: { main: c.rtspMain }, user: cs.user, password: cs.password, streams: ["main" as const] })),
    },
    { log, serveApi: false },
  );
  cleanups.push(() => edge.stop());
  return { sim: cs, edge };
}

const recording = (edge: Edge, cam = "cam1") => edge.ingest(cam, "main")?.status().state === "recording";

interface Variety {
  name: string;
  sim: Partial<CamsimOptions>;
  engines: ("native" | "gstreamer")[];
  video: string;
  /** ffprobe codec name of the recorded audio per engine (undefined: not recorded). */
  audio: Partial<Record<"native" | "gstreamer", string>>;
}

const VARIETIES: Variety[] = [
  {
    name: "H.264 with B-frames (gstreamer: without) + AAC, RTP timestamps wrapping 2^32 after 3 s",
    sim: { codec: "h264", bframes: 2, audio: true, audioCodec: "aac", rtpTimestampOffset: 2 ** 32 - 3 * 90_000 },
    engines: ["native", "gstreamer"],
    video: "h264",
    audio: { native: "aac", gstreamer: "aac" },
  },
  {
    name: "H.265 with B-frames (gstreamer: without) + G.711 μ-law",
    sim: { codec: "h265", bframes: 2, audio: true, audioCodec: "pcmu" },
    engines: ["native", "gstreamer"],
    video: "hevc",
    audio: { native: "flac" },
  },
  { name: "H.264 + G.711 A-law", sim: { audio: true, audioCodec: "pcma" }, engines: ["native"], video: "h264", audio: { native: "flac" } },
  { name: "H.264 + MP4A-LATM AAC", sim: { audio: true, audioCodec: "latm" }, engines: ["native", "gstreamer"], video: "h264", audio: { native: "aac" } },
];

for (const v of VARIETIES) {
  for (const engine of v.engines) {
    test(`${v.name} (${engine}): recorded; every segment decodes cleanly and is as long as its range`, async () => {
      // The gstreamer engine (mp4mux) cannot fragment B-frame streams cleanly: it gets them without.
      const { edge } = await setup(engine === "gstreamer" ? { ...v.sim, bframes: 0 } : v.sim, engine);
      await until("recording", () => recording(edge));
      await Bun.sleep(7_000);
      const st = edge.ingest("cam1", "main")!.status();
      expect(st.audioRecorded).toBe(v.audio[engine] !== undefined);
      if (v.audio[engine] === "flac") expect(st.audioDetail).toContain("FLAC");
      await edge.ingest("cam1", "main")!.stop();
      const segs = await checkSegments(edge, "cam1");
      expectClean(segs);
      for (const s of segs) expect(s.streams).toBe([v.video, v.audio[engine]].filter(Boolean).join(","));
    }, 60_000);
  }
}

// Native engine only: the gstreamer engine stops producing media after a backward RTP jump
// (rtspsrc drops the packets), with or without buffer-mode=none (docs/design/ingest.md).
describe("camera clock faults", () => {
  for (const engine of ["native"] as const) {
    test(`RTP jump −3 s, host-clock step −20 s, slow clock (0.99×), a 2 s freeze (${engine}): every segment decodes cleanly`, async () => {
      const { sim, edge } = await setup({ codec: "h264", bframes: 2, audio: true }, engine);
      await until("recording", () => recording(edge));
      await Bun.sleep(3_000);
      // 0.99×, not slower: ffmpeg's null muxer rounds times to the nominal frame rate from the
      // SPS, so a clock that much slower collides frames within a 2 s segment (real crystals
      // drift by ppm). A forward jump in camsim is a pause of that length (docs/ref/camsim.md).
      for (const fault of [() => sim.jump("cam1", -3), () => sim.clockStep("cam1", -20), () => sim.setClockRate("cam1", 0.99), () => sim.jump("cam1", 2)]) {
        await fault();
        await Bun.sleep(3_500);
        await until("recording after the fault", () => recording(edge));
      }
      const gaps = (await edge.store.timeline({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: Date.now() + 3_600_000 })).gaps;
      await edge.ingest("cam1", "main")!.stop();
      // Each backward step is a new recording session, said so in the gap.
      expect(gaps.filter((g) => g.reason === "restart" && /jumped|stepped back/.test(g.detail ?? "")).length).toBeGreaterThanOrEqual(2);
      expectClean(await checkSegments(edge, "cam1"), 4);
    }, 90_000);
  }
});

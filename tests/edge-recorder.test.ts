/**
 * System test of the edge recorder with its API served: camsim (2 cameras, H.264 + AAC) →
 * startEdge (real GStreamer, real store, Bun.serve on 127.0.0.1:0) → HTTP. 2 cameras × 2
 * streams for ≥ 20 s: one continuous range per stream through GET …/timeline, every segment
 * decodes cleanly with `ffmpeg -v error -f null` (empty stderr), an export plays and lasts
 * its window ± 1 s, HLS over HTTP reads without errors, fMP4 playback honours Range, and the
 * snapshot is a JPEG.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { ApiClient, ffmpegErrors, strictDts, gstProcesses, hashPassword, isoOf, pgrepGst, probeDuration, probeFrames, removeTempDirs, run, tempDir, until, closeRig } from "./helpers.ts";

let sim: Camsim;
let edge: Edge;
let dir: string;
let api: ApiClient;
const sink = new MemorySink();
const log = new Logger({ component: "test", sink });
const PASSWORD = "recorder-test-pw";
let from = 0;
let to = 0;

beforeAll(async () => {
  dir = await tempDir("edge-recorder");
  sim = await startCamsim({ cameras: 2, main: { width: 640, height: 360, bitrateKbps: 500 }, sub: { width: 320, height: 180, bitrateKbps: 150 }, audio: true, discoveryPort: null, log });
  edge = await startEdge(
    {
      dataDir: dir,
      api: { port: 0, plainHttp: true }, // not a TLS test
      admin: { passwordHash: await hashPassword(PASSWORD) },
      storage: { segmentDurationMs: 4000, minFreeBytes: 0 },
      ingest: { stallTimeoutMs: 2000, backoffInitialMs: 200, backoffMaxMs: 2000, staggerMs: 300 },
      cameras: sim.cameras.map((c) => ({ id: c.id, onvif: { address: c.onvifUrl }, user: sim.user, password: sim.password })),
    },
    { log },
  );
  api = await ApiClient.login(edge.url!, "admin", PASSWORD);
}, 30_000);

afterAll(async () => {
  await closeRig(edge, sim);
}, 30_000);

test("2 cameras × 2 streams ≥ 20 s: continuous timeline via the API, every segment decodes with ffmpeg", async () => {
  await until(
    "all 4 streams recording",
    async () => {
      const j = await api.json<{ cameras: { id: string; streams: { stream: string; status: string }[] }[] }>("/cameras");
      return j.cameras.length === 2 && j.cameras.every((c) => c.streams.length === 2 && c.streams.every((s) => s.status === "recording"));
    },
    30_000,
    200,
  );
  from = Date.now();
  // ≥ 20 s of recording; the wait is the scenario, not a synchronisation.
  await Bun.sleep(22_000);
  to = Date.now();
  const failures: string[] = [];
  for (const cam of ["cam1", "cam2"]) {
    for (const stream of ["main", "sub"] as const) {
      const tl = await api.json<{ ranges: { start: string; end: string }[]; gaps: { reason: string }[]; segments: number }>(
        `/cameras/${cam}/timeline?from=${isoOf(from)}&to=${isoOf(to)}&stream=${stream}`,
      );
      expect({ cam, stream, ranges: tl.ranges.length, gaps: tl.gaps }).toEqual({ cam, stream, ranges: 1, gaps: [] });
      const r = tl.ranges[0]!;
      expect(Date.parse(r.start)).toBe(from);
      // The open segment is reported up to its last fragment (≤ ~0.5 s + a segment's cut).
      expect(Date.parse(r.end)).toBeGreaterThan(to - 2000);
      expect(tl.segments).toBeGreaterThanOrEqual(5);
      const segs = (await edge.store.timeline({ cameraId: cam, stream, fromMs: from, toMs: to })).segments.filter((s) => !s.open);
      expect(segs.length).toBeGreaterThanOrEqual(4);
      for (const s of segs) {
        const path = edge.store.absPath(s);
        const err = await ffmpegErrors(path);
        if (err) failures.push(`${s.path}: ${err}`);
        const dts = await strictDts(path);
        if (dts) failures.push(`${s.path}: DTS not strictly increasing: ${dts}`);
        const v = await probeFrames(path);
        expect({ seg: s.path, codec: v.codec, ok: v.frames > 0, err: v.err }).toEqual({ seg: s.path, codec: "h264", ok: true, err: "" });
      }
    }
  }
  expect(failures).toEqual([]);
}, 90_000);

test("export of a 10 s window: job finishes, the MP4 downloads, ffprobe reads it, duration = window ± 1 s", async () => {
  expect(to).toBeGreaterThan(0);
  const wFrom = from + 3000;
  const wTo = wFrom + 10_000;
  const r = await api.post("/exports", { cameraId: "cam1", from: isoOf(wFrom), to: isoOf(wTo) });
  expect(r.status).toBe(202);
  const job = (await r.json()) as { id: string };
  expect(r.headers.get("location")).toBe(`/api/v1/exports/${job.id}`);
  const done = await until(
    "export done",
    async () => {
      const j = await api.json<{ state: string; progress: number; download?: string; error?: string }>(`/exports/${job.id}`);
      if (j.state === "failed") throw new Error(`export failed: ${j.error}`);
      return j.state === "done" ? j : null;
    },
    30_000,
    200,
  );
  expect(done.progress).toBe(100);
  const file = await api.fetch(done.download!.replace(/^\/api\/v1/, ""));
  expect(file.status).toBe(200);
  const out = join(dir, "export.mp4");
  await Bun.write(out, await file.arrayBuffer());
  expect(await ffmpegErrors(out)).toBe("");
  expect(await strictDts(out)).toBe("");
  const dur = await probeDuration(out);
  expect(Math.abs(dur - 10)).toBeLessThanOrEqual(1);
  const v = await probeFrames(out);
  expect(v.codec).toBe("h264");
  expect(v.frames).toBeGreaterThan(100); // 15 fps × 10 s ≈ 150
}, 60_000);

test("HLS: video.m3u8 is a valid VOD playlist and ffmpeg reads it over HTTP without errors", async () => {
  const q = `from=${isoOf(from + 2000)}&to=${isoOf(from + 14_000)}`;
  const pl = await api.fetch(`/cameras/cam2/video.m3u8?${q}&stream=sub`);
  expect(pl.status).toBe(200);
  expect(pl.headers.get("content-type")).toContain("mpegurl");
  const text = await pl.text();
  expect(text.startsWith("#EXTM3U")).toBe(true);
  for (const tag of ["#EXT-X-VERSION:7", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-MAP:", "#EXT-X-ENDLIST", "#EXT-X-PROGRAM-DATE-TIME:"]) expect(text).toContain(tag);
  const durations = [...text.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]));
  expect(durations.length).toBeGreaterThanOrEqual(2);
  // From the keyframe at or before `from` (≤ 1 s GOP earlier) to the last fragment before `to`.
  const total = durations.reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThan(11);
  expect(total).toBeLessThan(14);
  const url = `${api.base}/api/v1/cameras/cam2/video.m3u8?${q}&stream=sub`;
  const headers = ["-headers", `Authorization: Bearer ${api.token}\r\n`];
  expect(await ffmpegErrors(url, headers)).toBe("");
  const dur = await probeDuration(url, headers);
  expect(Math.abs(dur - total)).toBeLessThanOrEqual(0.5);
  // Without the session the playlist is refused (problem+json).
  const anon = await fetch(url);
  expect(anon.status).toBe(401);
  expect(anon.headers.get("content-type")).toContain("application/problem+json");
}, 60_000);

test("fMP4 playback: whole window decodes; Range gives 206 with exact Content-Range; beyond the end 416", async () => {
  const q = `from=${isoOf(from + 4000)}&to=${isoOf(from + 12_000)}`;
  const whole = await api.fetch(`/cameras/cam1/video?${q}`);
  expect(whole.status).toBe(200);
  expect(whole.headers.get("accept-ranges")).toBe("bytes");
  expect(whole.headers.get("content-type")).toBe("video/mp4");
  const body = new Uint8Array(await whole.arrayBuffer());
  expect(Number(whole.headers.get("content-length"))).toBe(body.length);
  const start = Date.parse(whole.headers.get("x-outpost-start")!);
  expect(start).toBeLessThanOrEqual(from + 4000);
  expect(start).toBeGreaterThan(from + 4000 - 2000); // the keyframe at or before `from` (1 s GOP)
  const f = join(dir, "window.mp4");
  await Bun.write(f, body);
  expect(await ffmpegErrors(f)).toBe("");
  expect(Math.abs((await probeDuration(f)) - (12_000 - (start - from)) / 1000)).toBeLessThanOrEqual(1);
  const part = await api.fetch(`/cameras/cam1/video?${q}`, { headers: { range: "bytes=1000-4999" } });
  expect(part.status).toBe(206);
  expect(part.headers.get("content-range")).toBe(`bytes 1000-4999/${body.length}`);
  expect(new Uint8Array(await part.arrayBuffer())).toEqual(body.slice(1000, 5000));
  const tail = await api.fetch(`/cameras/cam1/video?${q}`, { headers: { range: `bytes=${body.length - 100}-` } });
  expect(tail.status).toBe(206);
  expect(new Uint8Array(await tail.arrayBuffer())).toEqual(body.slice(body.length - 100));
  const bad = await api.fetch(`/cameras/cam1/video?${q}`, { headers: { range: `bytes=${body.length + 10}-` } });
  expect(bad.status).toBe(416);
  expect(bad.headers.get("content-range")).toBe(`bytes */${body.length}`);
}, 60_000);

test("snapshot.jpg: a JPEG of the newest keyframe, timed near now", async () => {
  for (const stream of ["main", "sub"]) {
    const r = await api.fetch(`/cameras/cam2/snapshot.jpg?stream=${stream}`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("image/jpeg");
    const at = Date.parse(r.headers.get("x-outpost-time")!);
    expect(Date.now() - at).toBeLessThan(10_000);
    const jpeg = new Uint8Array(await r.arrayBuffer());
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
    const f = join(dir, `snap-${stream}.jpg`);
    await Bun.write(f, jpeg);
    const p = await run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", f]);
    expect(p.stdout.trim()).toBe(stream === "main" ? "mjpeg,640,360" : "mjpeg,320,180");
  }
}, 30_000);

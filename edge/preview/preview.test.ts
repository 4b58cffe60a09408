/**
 * edge/preview with a real camera (camsim, static test pattern, a block moving across it at set
 * times) and a real edge recording short segments: previews beside the sub stream's segments,
 * small JPEG thumbnails per slot, activity where (and only where) the block moved, ONVIF motion
 * folded in, and the preview deleted with its segment by retention.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../../camsim/index.ts";
import { startEdge, type Edge } from "../main.ts";
import { activityRuns, decodePreview, type Preview } from "../../lib/preview/format.ts";
import { previewRelPath } from "../../lib/store/layout.ts";
import { frameDifference, motionIntervals, secondLevels } from "./activity.ts";
import { removeTempDirs, tempDir, until } from "../../tests/helpers.ts";

setDefaultTimeout(120_000);

let sim: Camsim;
let edge: Edge;
let dir: string;
let t0: number;

beforeAll(async () => {
  dir = await tempDir("outpost-preview-");
  sim = await startCamsim({ cameras: 2, user: "", pattern: "colors", sub: { width: 320, height: 180, fps: 10, bitrateKbps: 200 }, main: { width: 640, height: 360, fps: 10, bitrateKbps: 400 } });
  t0 = Date.now();
  // cam1: a moving block 5–10 s from now (pictures only); cam2: ONVIF motion 5–8 s from now with no picture change.
  await sim.scheduleActivity("cam1", [{ fromMs: t0 + 5000, toMs: t0 + 10_000 }]);
  edge = await startEdge({
    dataDir: dir,
    api: { enabled: false },
    storage: { minFreeBytes: 0, segmentDurationMs: 2000 },
    preview: { everySeconds: 2 },
    cameras: [
      { id: "cam1", rtsp: { main: sim.cameras[0]!.rtspMain, sub: sim.cameras[0]!.rtspSub } },
      { id: "cam2", onvif: { address: sim.cameras[1]!.onvifUrl }, user: "", password: "" },
    ],
  });
});

afterAll(async () => {
  await edge?.stop();
  await sim?.close();
  await removeTempDirs();
});

async function previews(cameraId: string): Promise<Preview[]> {
  const segs = await edge.store.segments({ cameraId, stream: "sub", fromMs: 0, toMs: Date.now() + 60_000 });
  const out: Preview[] = [];
  for (const s of segs) {
    const buf = await readFile(join(dir, previewRelPath(s.path))).catch(() => null);
    if (buf) out.push(decodePreview(new Uint8Array(buf)));
  }
  return out;
}

test("thumbnails every slot from the sub stream, activity where the block moved, nowhere else", async () => {
  await until("cam1 previews past the activity", async () => (await previews("cam1")).some((p) => p.header.segmentStartMs > t0 + 14_000), 40_000);
  const ps = await previews("cam1");
  expect(ps.every((p) => p.header.stream === "sub" && p.header.source === "frame-diff")).toBe(true);
  const thumbs = ps.flatMap((p) => p.header.thumbs.map((t, i) => ({ ...t, jpeg: p.thumbs[i]! })));
  // one per 2 s slot, small JPEGs (≈ 160 px wide; ≤ 6 KB)
  expect(thumbs.length).toBeGreaterThanOrEqual(5);
  for (const t of thumbs) {
    expect(t.width).toBe(160);
    expect(t.height).toBe(90);
    expect(t.jpeg[0]).toBe(0xff);
    expect(t.jpeg[1]).toBe(0xd8);
    expect(t.bytes).toBeLessThanOrEqual(6 * 1024);
  }
  const slots = thumbs.map((t) => Math.floor(t.atMs / 2000));
  expect(new Set(slots).size).toBe(slots.length);
  // activity: the runs lie in the scripted window (± one keyframe interval of 1 s), and some exist
  const runs = ps.flatMap((p) => activityRuns(p.header.activity));
  expect(runs.length).toBeGreaterThan(0);
  for (const r of runs) {
    expect(r.startMs).toBeGreaterThanOrEqual(t0 + 5000 - 2000);
    expect(r.endMs).toBeLessThanOrEqual(t0 + 10_000 + 2000);
  }
  const active = runs.reduce((a, r) => a + r.endMs - r.startMs, 0);
  expect(active).toBeGreaterThanOrEqual(3000);
});

test("ONVIF motion events set the level for their seconds even when the picture does not change", async () => {
  const from = Date.now() + 1000;
  await until("cam2 recording with previews", async () => (await previews("cam2")).length > 0, 30_000);
  await until("ONVIF listener of cam2", () => edge.status().cameras[1]?.streams.length, 10_000);
  await Bun.sleep(1500);
  sim.emitEvent("cam2", { type: "motion", state: true });
  await Bun.sleep(3000);
  sim.emitEvent("cam2", { type: "motion", state: false });
  await until("cam2 previews past the motion", async () => (await previews("cam2")).some((p) => p.header.segmentStartMs > from + 7000), 30_000);
  const ps = await previews("cam2");
  const runs = ps.flatMap((p) => activityRuns(p.header.activity));
  expect(ps.some((p) => p.header.source === "frame-diff+onvif")).toBe(true);
  const total = runs.reduce((a, r) => a + r.endMs - r.startMs, 0);
  expect(total).toBeGreaterThanOrEqual(2000);
  expect(total).toBeLessThanOrEqual(6000);
  expect(runs.every((r) => r.peak === 100)).toBe(true);
});

test("retention deletes a preview with its segment", async () => {
  const before = await edge.store.segments({ cameraId: "cam1", stream: "sub", fromMs: 0, toMs: Date.now() });
  const withPreview = [];
  for (const s of before) if (await stat(join(dir, previewRelPath(s.path))).catch(() => null)) withPreview.push(s);
  expect(withPreview.length).toBeGreaterThan(2);
  // keep only the last 3 s of cam1
  await edge.store.enforceRetention((id) => (id === "cam1" ? { maxAgeMs: 3000 } : {}));
  const after = new Set((await edge.store.segments({ cameraId: "cam1", stream: "sub", fromMs: 0, toMs: Date.now() })).map((s) => s.path));
  const gone = withPreview.filter((s) => !after.has(s.path));
  expect(gone.length).toBeGreaterThan(0);
  for (const s of gone) expect(await stat(join(dir, previewRelPath(s.path))).catch(() => null)).toBeNull();
  const day = join(dir, "media", "cam1", "sub");
  const left = (await readdir(day, { recursive: true })).filter((f) => String(f).endsWith(".preview"));
  expect(left.length).toBeLessThanOrEqual(after.size);
});

test("frame difference: noise-sized changes are 0, a moved block is a level, levels per second and motion intervals", () => {
  const w = 160;
  const h = 90;
  const a = new Uint8Array(w * h).fill(80);
  const b = a.slice();
  b[5] = 250; // one pixel: a clock digit
  expect(frameDifference(a, b, w, h)).toBe(0);
  for (let y = 30; y < 60; y++) for (let x = 40; x < 70; x++) b[y * w + x] = 240;
  expect(frameDifference(a, b, w, h)).toBeGreaterThanOrEqual(5);
  const lv = secondLevels(10_500, 14_200, [{ fromMs: 11_000, toMs: 12_000, level: 30 }], [{ fromMs: 13_100, toMs: 13_900 }]);
  expect(lv).toEqual({ startMs: 10_000, levels: [0, 30, 0, 100, 0] });
  expect(motionIntervals([{ atMs: 5, active: true }, { atMs: 20, active: false }, { atMs: 30, active: true }], 10, 40)).toEqual([{ fromMs: 10, toMs: 20 }, { fromMs: 30, toMs: 40 }]);
});

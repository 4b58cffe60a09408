/**
 * Progressive playback (Playback.open with a body over the size bound): the bytes, media origin,
 * end time and live flag must be exactly those of plan() + stream(), for windows that start on
 * a non-keyframe, cross gaps and a resolution change, end inside a segment or in a gap, hold an
 * open (growing) last segment, or hold nothing playable — and the body stays frame-exact.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Playback } from "./playback.ts";
import { FileSource, countFrames, gappedSource } from "./testkit.ts";

const dir = mkdtempSync(join(tmpdir(), "progressive-"));
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
let source: FileSource;

beforeAll(async () => {
  // 8 s back to back, a 5 s gap, 4 s more, a resolution change after another gap, then a
  // segment that is still being written.
  source = await gappedSource(dir, T0);
  source.add("cam1", "main", T0 + 24_000, join(dir, "a.mp4")).open = true;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const windows: [string, number, number][] = [
  ["everything", T0 - 60_000, T0 + 60_000],
  ["from a non-keyframe, across a gap", T0 + 1500, T0 + 15_500],
  ["across the resolution change, ending inside a segment", T0 + 12_000, T0 + 22_300],
  ["ending in a gap", T0 + 500, T0 + 10_000],
  ["starting in a gap", T0 + 9000, T0 + 18_000],
  ["only the open segment", T0 + 24_500, T0 + 60_000],
  ["one fragment", T0 + 4100, T0 + 4200],
];

for (const [name, fromMs, toMs] of windows) {
  test(`${name}: same bytes and headers as the full plan`, async () => {
    const pb = new Playback({ source }); // cold: nothing scanned yet
    const opened = await pb.open({ cameraId: "cam1", fromMs, toMs }, 0);
    const full = new Playback({ source });
    const plan = await full.plan({ cameraId: "cam1", fromMs, toMs });
    const want = new Uint8Array(await new Response(full.stream(plan)).arrayBuffer());
    expect(opened && "progressive" in opened).toBe(true);
    if (!opened || !("progressive" in opened)) return;
    const p = opened.progressive;
    const got = new Uint8Array(await new Response(p.body).arrayBuffer());
    expect(got.length).toBe(plan.total);
    expect(Buffer.compare(Buffer.from(got), Buffer.from(want))).toBe(0);
    expect([p.originMs, p.endMs, p.live]).toEqual([plan.originMs, plan.endMs, plan.live]);
  });
}

test("the progressive body decodes frame-exact", async () => {
  const pb = new Playback({ source });
  const opened = await pb.open({ cameraId: "cam1", fromMs: T0 + 1500, toMs: T0 + 15_500 }, 0);
  if (!opened || !("progressive" in opened)) throw new Error("expected a progressive body");
  const path = join(dir, "p.mp4");
  await Bun.write(path, new Uint8Array(await new Response(opened.progressive.body).arrayBuffer()));
  const { frames, stderr } = await countFrames(path);
  expect(stderr).toBe("");
  expect(frames).toBe(45 + 60 + 44); // as the full plan of this window (playback.test.ts)
});

test("a window under the bound gets the full plan; nothing playable gives null", async () => {
  const pb = new Playback({ source });
  const small = await pb.open({ cameraId: "cam1", fromMs: T0, toMs: T0 + 3000 }, 1 << 30);
  expect(small && "plan" in small && small.plan.total > 0).toBe(true);
  expect(await pb.open({ cameraId: "cam1", fromMs: T0 + 9000, toMs: T0 + 12_000 }, 0)).toBeNull(); // inside a gap
  expect(await pb.open({ cameraId: "cam1", fromMs: T0 + 9000, toMs: T0 + 12_000 }, 1 << 30)).toBeNull();
  expect(await pb.open({ cameraId: "nobody", fromMs: T0, toMs: T0 + 60_000 }, 0)).toBeNull();
});

test("the first bytes arrive before the later segments are scanned", async () => {
  const pb = new Playback({ source });
  const opened = await pb.open({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 }, 0);
  if (!opened || !("progressive" in opened)) throw new Error("expected a progressive body");
  // Scanned so far: the first segment (origin) and the last one (end, live; open segments are
  // never cached), not the three between.
  expect(pb.cache.size).toBe(1);
  const reader = opened.progressive.body.getReader();
  await reader.read();
  expect(pb.cache.size).toBe(1);
  while (!(await reader.read()).done);
  expect(pb.cache.size).toBe(4);
});

/**
 * Host-clock steps (issue 13 item 2) and holes without reasons (item 4). The clock is injected
 * (ManualClock: step() moves wall time only, as NTP or an operator does), the media is real.
 * A step forward is a "clock-step" gap, not a silent hole; a step back that undoes it moves the
 * footage filed in the future back to where it belongs; a restart with the right clock does the
 * same from the journal; a re-anchoring to host time leaves a gap with a reason.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { MediaStore, checkStore, type Timeline } from "./index.ts";
import { feed, fragmentAt, makeMedia, type Media } from "./testdata/media.ts";

let dir: string;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const HOUR = 3_600_000;
const quiet = () => new Logger({ component: "store", sink: new MemorySink() });
setDefaultTimeout(60_000);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "store-clock-"));
  media = await makeMedia(dir, 10);
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh store (2 s segments) under `name`, its clock at T0, and the writer of cam1/main, initialised. */
async function openRecording(name: string) {
  const clock = new ManualClock(T0);
  const root = join(dir, name);
  const store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  return { clock, root, store, w };
}

/** Media end of fragment n-1 fed from 0 (ms). */
const mediaEnd = (n: number) => Math.round(fragmentAt(media, n - 1).info.startMs + fragmentAt(media, n - 1).info.durationMs);

/** Holes (> 1.5 s) between ranges that no gap covers. */
function unexplainedHoles(t: Timeline): { startMs: number; endMs: number }[] {
  const out: { startMs: number; endMs: number }[] = [];
  for (let i = 1; i < t.ranges.length; i++) {
    const a = t.ranges[i - 1]!.endMs;
    const b = t.ranges[i]!.startMs;
    if (b - a > 1500 && !t.gaps.some((g) => g.startMs <= a + 5 && g.endMs >= b - 5)) out.push({ startMs: a, endMs: b });
  }
  return out;
}

test("+1 h step and back within a session: a clock-step gap, then the future footage moves back; nothing is filed in the future", async () => {
  const { clock, root, store, w } = await openRecording("step");
  await feed(w, media, clock, T0, 0, 10);
  clock.step(HOUR);
  await feed(w, media, clock, T0 + HOUR, 10, 20);
  // Meanwhile: the hole has a reason.
  const mid = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 2 * HOUR });
  expect(mid.gaps.map((g) => g.reason)).toContain("clock-step");
  expect(unexplainedHoles(mid)).toEqual([]);
  clock.step(-HOUR);
  await feed(w, media, clock, T0, 20, 30);
  await w.end("stopped");
  expect(store.clockSteps.map((s) => s.stepMs)).toEqual([expect.closeTo(HOUR, -3), expect.closeTo(-HOUR, -3)]);
  const segs = await store.segments({ cameraId: "cam1", fromMs: T0 - HOUR, toMs: T0 + 3 * HOUR });
  expect(segs.every((s) => s.endMs <= T0 + mediaEnd(30) + 2000)).toBe(true); // none in the future
  for (let i = 1; i < segs.length; i++) expect(segs[i]!.startMs).toBeGreaterThanOrEqual(segs[i - 1]!.endMs);
  const t = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + mediaEnd(30) + 1000 });
  expect(unexplainedHoles(t)).toEqual([]);
  expect(t.ranges.at(-1)!.endMs).toBe(T0 + mediaEnd(30));
  await store.close();
  const report = await checkStore(root, { rebuild: false, log: quiet() });
  expect(report.problems).toEqual([]);
  expect(report.recoverable).toEqual([]);
});

test("+1 h step and back, the first fragment after the step late (its segment's start settles earlier): that segment moves back too", async () => {
  const { clock, root, store, w } = await openRecording("step-settled");
  await feed(w, media, clock, T0, 0, 10);
  clock.step(HOUR);
  // The first fragment on the stepped clock arrives 80 ms late, the rest on time: the segment
  // it opens is dated 80 ms late at first and settles earlier over the next fragments.
  let late = 80; // (the first keyframe's fragment: the one that opens the segment)
  for (let n = 10; n < 20; n++) {
    const f = fragmentAt(media, n);
    const at = T0 + HOUR + f.info.startMs + f.info.durationMs + (f.info.keyframe ? late : 0);
    if (f.info.keyframe) late = 0;
    clock.set(at);
    await w.fragment(f.bytes, f.info, at);
  }
  await w.settled();
  clock.step(-HOUR);
  await feed(w, media, clock, T0, 20, 30);
  await w.end("stopped");
  const segs = await store.segments({ cameraId: "cam1", fromMs: T0 - HOUR, toMs: T0 + 3 * HOUR });
  expect(segs.filter((s) => s.endMs > T0 + mediaEnd(30) + 2000).map((s) => s.path)).toEqual([]); // before: the settled segment stayed an hour ahead
  for (let i = 1; i < segs.length; i++) expect(segs[i]!.startMs).toBeGreaterThanOrEqual(segs[i - 1]!.endMs);
  await store.close();
  const report = await checkStore(root, { rebuild: false, log: quiet() });
  expect(report.problems).toEqual([]);
});

test("restart with the right clock after recording 1 h ahead: the footage filed in the future moves back, new footage is not pinned to a future end", async () => {
  const clock = new ManualClock(T0);
  const root = join(dir, "restart");
  let store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  let w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 10);
  clock.step(HOUR);
  await feed(w, media, clock, T0 + HOUR, 10, 20);
  await store.close();
  // Rebooted with the clock right again (a fresh monotonic clock).
  const clock2 = new ManualClock(T0 + mediaEnd(20) + 5000);
  store = await MediaStore.open({ root, clock: clock2, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock2, T0 + mediaEnd(20) + 5000, 0, 8);
  await w.settled();
  const now = clock2.now();
  const segs = await store.segments({ cameraId: "cam1", fromMs: T0 - HOUR, toMs: T0 + 3 * HOUR });
  expect(segs.filter((s) => s.startMs > now + 2000)).toEqual([]);
  for (let i = 1; i < segs.length; i++) expect(segs[i]!.startMs).toBeGreaterThanOrEqual(segs[i - 1]!.endMs);
  const t = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: now + 1000 });
  expect(unexplainedHoles(t)).toEqual([]);
  expect(t.ranges.at(-1)!.endMs).toBe(Math.round(now));
  await store.close();
  expect((await checkStore(root, { rebuild: false, log: quiet() })).problems).toEqual([]);
});

test("camera and host time > 2 s apart: the re-anchoring hole is a gap with a reason", async () => {
  const { clock, root, store, w } = await openRecording("reanchor");
  await feed(w, media, clock, T0, 0, 6);
  // Host time runs 8 s ahead of the camera's (fragments delayed under load, or lost upstream).
  await feed(w, media, clock, T0 + 8000, 6, 16);
  await w.end("stopped");
  const t = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: clock.now() + 1000 });
  expect(t.ranges.length).toBeGreaterThan(1);
  expect(unexplainedHoles(t)).toEqual([]);
  expect(t.gaps.map((g) => g.reason)).toContain("resync");
  await store.close();
});

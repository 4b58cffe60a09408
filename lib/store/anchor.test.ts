/**
 * A session's wall-clock anchor does not rest on its first fragment's arrival alone: a first
 * fragment that arrives late (read out of a backlog while the edge starts) must not date the
 * whole session late, or its footage ends in the future and the next session's 'restart' gap
 * is clamped away.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { MediaStore, type SegmentRecord } from "./index.ts";
import { fragmentAt, makeMedia, type Media } from "./testdata/media.ts";
import type { SegmentWriter, StreamWriter } from "./writer.ts";

let dir: string;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
setDefaultTimeout(60_000);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "store-anchor-"));
  media = await makeMedia(dir, 4);
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A fresh store (2 s segments) under `name`, its clock at T0, and the writer of cam1/main. */
async function openStore(name: string) {
  const clock = new ManualClock(T0);
  const root = join(dir, name);
  const store = await MediaStore.open({ root, clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 2000, minFreeBytes: 0 });
  return { clock, root, store, w: store.writer("cam1", "main") };
}

/** Fragments [0, n) of one session starting at wall time `base`; fragment i arrives `late(i)` ms after it ends. */
async function session(w: SegmentWriter, clock: ManualClock, base: number, n: number, late: (i: number) => number): Promise<number> {
  w.init(media.init, media.info);
  let end = base;
  for (let i = 0; i < n; i++) {
    const f = fragmentAt(media, i);
    end = base + f.info.startMs + f.info.durationMs;
    clock.set(end + late(i));
    await w.fragment(f.bytes, f.info, end + late(i));
  }
  return Math.round(end);
}

test("a late first fragment does not date its session late; the next session keeps its short 'restart' gap", async () => {
  const { clock, root, store, w } = await openStore("late-first");
  const commits: SegmentRecord[] = [];
  w.onCommit = (s) => commits.push(s);
  // Session 1: its first fragment comes 110 ms late (a backlog at start), the rest on time.
  const end1 = await session(w, clock, T0, 6, (i) => (i === 0 ? 110 : 0));
  // A format change: the camera's new encoder starts 60 ms after the old one stopped; this
  // session's first fragment is late too (40 ms).
  await w.end("restart", "camera changed the stream format (resolution or profile)");
  const base2 = end1 + 60;
  await session(w, clock, base2, 4, (i) => (i === 0 ? 40 : 0));
  await w.end("stopped");
  await w.settled();

  const first = commits[0]!;
  expect(first.startMs).toBe(T0); // before: T0 + 110 (the late arrival dated the session)
  expect(first.path).toBe(`media/cam1/main/2026-01-10/${T0}.mp4`); // the file carries its settled start
  expect(existsSync(join(root, first.path))).toBe(true);
  expect(existsSync(join(root, `media/cam1/main/2026-01-10/${T0 + 110}.mp4`))).toBe(false);
  expect(first.id).toBe(`cam1/main/${T0}`);
  const t = await store.timeline({ cameraId: "cam1", fromMs: T0 - 10_000, toMs: T0 + 60_000 });
  const restart = t.gaps.find((g) => g.reason === "restart");
  // Before: session 1 ended 110 ms in the future, session 2 was clamped onto that end, the
  // restart gap had no length and was dropped.
  expect(restart).toBeDefined();
  expect(restart!.startMs).toBe(end1);
  const second = t.segments.find((s) => s.startMs >= end1)!;
  expect(second.startMs).toBe(base2); // settled too, and the gap it closed ends there
  expect(restart!.endMs).toBe(second.startMs);
  // Segments stay in order, none overlapping.
  for (let i = 1; i < t.segments.length; i++) expect(t.segments[i]!.startMs).toBeGreaterThanOrEqual(t.segments[i - 1]!.endMs);
  await store.close();

  // The index and the files agree after a reopen (recovery finds nothing to fix).
  const again = await MediaStore.open({ root, clock, log: new Logger({ component: "store", sink: new MemorySink() }), minFreeBytes: 0 });
  const segs = await again.segments({ cameraId: "cam1", stream: "main", fromMs: T0 - 10_000, toMs: T0 + 60_000 });
  expect(segs.map((s) => s.startMs)).toEqual(t.segments.map((s) => s.startMs));
  for (const s of segs) expect(existsSync(join(root, s.path))).toBe(true);
  await again.close();
});

test("arrivals only ever move a session earlier, and never before the previous footage's end", async () => {
  const { clock, root, store, w } = await openStore("floor");
  const commits: SegmentRecord[] = [];
  w.onCommit = (s) => commits.push(s);
  const end1 = await session(w, clock, T0, 4, () => 0);
  // Later fragments arriving late do not move the session later.
  expect(commits[0]?.startMs ?? w.current()!.startMs).toBe(T0);
  // A new session whose later fragments say it began 300 ms before the previous one ended
  // (its first fragment 200 ms late, the camera's clock overlapping): it starts at that end.
  await w.end("restart", "format change");
  await session(w, clock, end1 - 300, 4, (i) => (i === 0 ? 200 : i === 1 ? 0 : 50));
  await w.end("stopped");
  await w.settled();
  const t = await store.timeline({ cameraId: "cam1", fromMs: T0 - 10_000, toMs: T0 + 60_000 });
  for (let i = 1; i < t.segments.length; i++) expect(t.segments[i]!.startMs).toBeGreaterThanOrEqual(t.segments[i - 1]!.endMs);
  expect(t.segments.find((s) => s.startMs >= end1)!.startMs).toBe(end1 + 1); // the 'restart' boundary (next test)
  await store.close();
});

test("a seamless format change (no media lost) keeps its session boundary as a 1 ms 'restart' gap", async () => {
  const { clock, root, store, w } = await openStore("seamless");
  const end1 = await session(w, clock, T0, 4, () => 0);
  await w.end("restart", "camera changed the stream format (resolution or profile)");
  // The new format's keyframe follows the last frame at once (camsim changes seamlessly); its
  // first fragment even arrives 2 ms "before" the old session's (guessed) last frame ended.
  await session(w, clock, end1 - 2, 4, () => 0);
  await w.end("stopped");
  await w.settled();
  const t = await store.timeline({ cameraId: "cam1", fromMs: T0 - 10_000, toMs: T0 + 60_000 });
  const restart = t.gaps.filter((g) => g.reason === "restart");
  // Before: the gap closed at its start and was dropped (no trace of the session change).
  expect(restart.map((g) => ({ s: g.startMs, e: g.endMs }))).toEqual([{ s: end1, e: end1 + 1 }]);
  expect(t.segments.find((s) => s.startMs > end1 - 10)!.startMs).toBe(end1 + 1);
  // One range: a 1 ms hole is not a hole in playback.
  expect(t.ranges.length).toBe(1);
  await store.close();
});

test("a closing segment whose start settled is listed under its new name only: the file a reader is handed exists", async () => {
  const { clock, root, store, w } = await openStore("listed-name");
  w.init(media.init, media.info);
  const missing: string[] = [];
  // What the store lists for closed segments not yet indexed (StreamWriter.closing), read between the writer's steps.
  const listed = () => {
    for (const s of (w as StreamWriter).closing()) if (!existsSync(join(root, s.path))) missing.push(s.path);
  };
  for (let i = 0; i < 16; i++) {
    const f = fragmentAt(media, i);
    const at = T0 + f.info.startMs + f.info.durationMs + (i === 0 ? 110 : 0);
    clock.set(at);
    let done = false;
    const written = w.fragment(f.bytes, f.info, at).finally(() => (done = true));
    // Listed while the fragment (and a commit it starts) is still in flight, as a reader would.
    while (!done) {
      listed();
      await new Promise((r) => setImmediate(r));
    }
    await written;
    listed();
  }
  await w.end("stopped");
  await w.settled();
  expect(missing).toEqual([]);
  await store.close();
});

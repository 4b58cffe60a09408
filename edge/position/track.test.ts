import { afterAll, beforeAll, expect, spyOn, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { feed, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { TrackStore } from "./track.ts";

let dir: string;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const quiet = () => new Logger({ component: "track", sink: new MemorySink() });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "track-"));
  media = await makeMedia(dir, 10);
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

test("segments committed while no box could be stored (shutdown order, crash) get one at the next open", async () => {
  const clock = new ManualClock(T0);
  const root = join(dir, "store");
  const store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const track = await TrackStore.open({ store, dataDir: dir, log: quiet() });
  // A vehicle moving north-east through the whole recording.
  for (let i = 0; i <= 12; i++) await track.add({ atMs: T0 + i * 500 - 1000, mode: 3, lat: 47.0 + i * 0.001, lon: 8.5 + i * 0.001, speed: 10, heading: 45 });
  // The track stops boxing (as when the store's index closes before the boxes are written).
  await track.close();
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 14);
  const committed = (await store.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 })).filter((s) => !s.open);
  expect(committed.length).toBeGreaterThanOrEqual(2);
  expect(await track.segmentBoxes(T0, T0 + 60_000)).toEqual([]);

  const reopened = await TrackStore.open({ store, dataDir: dir, log: quiet() });
  const boxes = await reopened.segmentBoxes(T0, T0 + 60_000);
  expect(boxes.map((b) => b.startMs)).toEqual(committed.map((s) => s.startMs));
  for (const b of boxes) {
    expect(b.fixes).toBeGreaterThan(0);
    expect(b.minLat).toBeGreaterThanOrEqual(47.0);
    expect(b.maxLat).toBeLessThanOrEqual(47.012);
  }
  // Opening again boxes nothing twice and keeps the same boxes.
  const again = await TrackStore.open({ store, dataDir: dir, log: quiet() });
  expect(await again.segmentBoxes(T0, T0 + 60_000)).toEqual(boxes);
  await again.close();
  await reopened.close();
  await store.close();
});

test("an edge without a position source boxes its segments without reading the track from the index; once a point is kept it reads it", async () => {
  const clock = new ManualClock(T0);
  const root = join(dir, "no-source");
  const store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const track = await TrackStore.open({ store, dataDir: join(dir, "no-source-track"), log: quiet() });
  const reads = spyOn(store.companionIndex, "all");
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 10);
  await track.close(); // waits for the boxes of what was committed
  const committed = (await store.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 })).filter((s) => !s.open);
  expect(committed.length).toBeGreaterThanOrEqual(1);
  const trackReads = () => reads.mock.calls.filter(([sql]) => String(sql).includes("FROM track_points")).length;
  expect(trackReads()).toBe(0);
  // Every committed segment still has its (empty) box row: boxMissed at the next open has nothing to redo.
  const boxes = await track.segmentBoxes(T0, T0 + 60_000);
  expect(boxes.map((b) => b.startMs)).toEqual(committed.map((s) => s.startMs));
  expect(boxes.every((b) => b.fixes === 0)).toBe(true);

  // A source appears: its kept points are read for the next boxes.
  const withFix = await TrackStore.open({ store, dataDir: join(dir, "no-source-track"), log: quiet() });
  await withFix.add({ atMs: clock.now(), mode: 3, lat: 47.1, lon: 8.6 });
  await feed(w, media, clock, T0, 10, 20);
  await withFix.close();
  expect(trackReads()).toBeGreaterThan(0);
  const later = (await withFix.segmentBoxes(T0, T0 + 60_000)).filter((b) => b.fixes > 0);
  expect(later.length).toBeGreaterThanOrEqual(1);
  reads.mockRestore();
  await store.close();
});

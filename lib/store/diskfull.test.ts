/**
 * A real small filesystem: an 8 MiB tmpfs the test mounts (root only; skipped otherwise).
 * Recording runs into a truly full volume (ENOSPC from the kernel, no quota, no floor):
 * retention must make room, keep the locked segment, and recording must go on.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm, statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { MediaStore, checkStore } from "./index.ts";
import { feed, fragmentAt, makeMedia, type Media } from "./testdata/media.ts";

let dir: string;
let mnt: string;
let mounted = false;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "store-full-"));
  mnt = join(dir, "mnt");
  media = await makeMedia(dir, 10);
  if (process.getuid?.() !== 0) return;
  await Bun.$`mkdir -p ${mnt}`.quiet();
  const r = await Bun.$`mount -t tmpfs -o size=8m tmpfs ${mnt}`.nothrow().quiet();
  mounted = r.exitCode === 0;
}, 60_000);

afterAll(async () => {
  if (mounted) await Bun.$`umount ${mnt}`.nothrow().quiet();
  await rm(dir, { recursive: true, force: true });
});

test("full tmpfs: ENOSPC → retention frees space, locked footage kept, recording continues", async () => {
  if (!mounted) {
    console.warn("skipped: needs root to mount a tmpfs");
    return;
  }
  const clock = new ManualClock(T0);
  const sink = new MemorySink();
  const store = await MediaStore.open({ root: join(mnt, "store"), clock, log: new Logger({ component: "store", sink }), segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  const lock = await store.createLock({ cameraId: "cam1", startMs: T0 + 2500, endMs: T0 + 3500, reason: "incident", createdBy: "test" });
  const fs0 = await statfs(mnt);
  const capacity = fs0.blocks * fs0.bsize;
  // Write about three times what the volume holds.
  let n = 0;
  let written = 0;
  while (written < 3 * capacity) {
    const f = fragmentAt(media, n);
    written += f.bytes.length;
    n++;
  }
  await feed(w, media, clock, T0, 0, n);
  const errors = sink.records.filter((r) => r.level === "error");
  const segs = await store.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 86_400_000 });
  const f = fragmentAt(media, n - 1).info;
  expect(segs.at(-1)!.endMs).toBe(T0 + Math.round(f.startMs + f.durationMs)); // recording reached the end
  expect(segs.some((s) => s.startMs === T0 + 2000)).toBe(true); // the locked segment survived
  expect(segs[0]!.startMs).toBe(T0 + 2000);
  const tl = await store.timeline({ cameraId: "cam1", fromMs: T0 + 4000, toMs: T0 + 86_400_000 });
  // Retention made room in time, at worst a fragment was dropped at the moment of ENOSPC.
  expect(tl.gaps.filter((g) => g.reason === "disk-full").length).toBeLessThanOrEqual(1);
  expect(sink.records.some((r) => r.msg === "retention deleted segments")).toBe(true);
  await store.deleteLock(lock.id);
  await store.close();
  const report = await checkStore(join(mnt, "store"), { rebuild: false });
  expect(report.problems).toEqual([]);
  console.log(`tmpfs ${capacity} bytes; wrote ${written} bytes in ${n} fragments; ${segs.length} segments kept; errors logged: ${errors.length}; disk-full gaps: ${tl.gaps.length}`);
}, 120_000);

test("a small volume: the default free-space floor scales to it (closed segments are kept); a floor above the volume is refused", async () => {
  if (!mounted) {
    console.warn("skipped: needs root to mount a tmpfs");
    return;
  }
  const small = join(dir, "small");
  await Bun.$`mkdir -p ${small}`.quiet();
  await Bun.$`mount -t tmpfs -o size=16m tmpfs ${small}`.quiet();
  try {
    await smallVolume(small);
  } finally {
    await Bun.$`umount ${small}`.nothrow().quiet();
  }
}, 60_000);

async function smallVolume(small: string): Promise<void> {
  const root = join(small, "store");
  const fs0 = await statfs(small);
  const volume = fs0.blocks * fs0.bsize;
  const log = new Logger({ component: "store", sink: new MemorySink() });
  await expect(MediaStore.open({ root, log, minFreeBytes: 256 * 1024 * 1024 })).rejects.toThrow(/not below the size of the volume/);
  const clock = new ManualClock(T0);
  const sink = new MemorySink();
  const store = await MediaStore.open({ root, clock, log: new Logger({ component: "store", sink }), segmentDurationMs: 2000 });
  try {
    await recordAndKeep(store, clock, volume);
  } finally {
    await store.close();
  }
}

async function recordAndKeep(store: MediaStore, clock: ManualClock, volume: number): Promise<void> {
  expect(store.minFreeBytes).toBeLessThanOrEqual(volume * 0.05);
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 24); // a few closed segments, well within the volume
  const r = await store.enforceRetention(() => ({}));
  expect(r.deleted).toEqual([]);
  const segs = await store.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 });
  expect(segs.filter((s) => !s.open).length).toBeGreaterThanOrEqual(2);
}

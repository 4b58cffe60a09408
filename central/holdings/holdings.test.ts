import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { feed, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { centralRanges, holdings } from "./index.ts";

let root: string;
let media: Media;
const quiet = new Logger({ component: "test", sink: new MemorySink(), level: "error" });

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "holdings-"));
  media = await makeMedia(root, 4);
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** Central's store recording "live" into 60 s segments (central's default), fed 0.5 s fragments. */
async function liveStore(name: string) {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 12));
  const store = await MediaStore.open({ root: path.join(root, name), clock, minFreeBytes: 0, log: quiet });
  const w = store.writer("s1.cam1", "main");
  w.init(media.init, media.info);
  return { store, w, clock, base: clock.now() };
}

const seg = (base: number, from: number, to: number) => ({ startMs: base + from, endMs: base + to, bytes: 123_456 });

// The test clip: 11 fragments per 4 s loop, a keyframe every second; fragments 0–9 end at 3.467 s.

test("the open live segment counts up to its last received fragment", async () => {
  const { store, w, clock, base } = await liveStore("open");
  await feed(w, media, clock, base, 0, 10); // ~3.5 s of live, still open
  const h = await holdings(store, "s1.cam1", "main", base, base + 10_000);
  const live = h.live!;
  expect(live.open).toBe(true);
  expect(live.endMs - base).toBeGreaterThan(3400);
  // Edge segments inside what live already delivered are held, though central's segment is open.
  expect(h.has(seg(base, 1000, 2000))).toBe(true);
  expect(h.has(seg(base, 2000, 3000))).toBe(true);
  // Beyond the last fragment: not held, but live is carrying it (not to be uploaded).
  const next = seg(base, 3000, 4500);
  expect(h.has(next)).toBe(false);
  expect(h.awaitingLive(next)).toBe(true);
  // An edge segment that began before central's live run is not live's to finish.
  expect(h.awaitingLive(seg(base, -1000, 4000))).toBe(false);
  // Far ahead of the last fragment (live stuck for longer than LIVE_LAG_MS): not awaited.
  expect(h.awaitingLive(seg(base, 25_000, 26_000))).toBe(false);
  // Live that stopped receiving (an uplink that only pings) is not waited for forever.
  clock.set(live.endMs + 20_000);
  expect((await holdings(store, "s1.cam1", "main", base, base + 10_000)).awaitingLive(next)).toBe(false);
  // The merged timeline's central side: the open segment up to its last fragment.
  expect(h.clip(base - 5000, base + 10_000)).toEqual([{ startMs: base, endMs: live.endMs }]);
  // Nothing to export or list with a hash yet: the only segment is still being written.
  expect(h.closedIn(base, base + 10_000)).toEqual([]);
  await w.end("stopped");
  await store.close();
});

test("live that stalled leaves a hole: segments in it are neither held nor awaited", async () => {
  const { store, w, clock, base } = await liveStore("stall");
  await feed(w, media, clock, base, 0, 10); // [0, ~3.5 s)
  await w.end("stall", "live uplink lost");
  w.init(media.init, media.info);
  await feed(w, media, clock, base, 18, 24); // live resumes at 7 s (the next keyframe it got)
  const h = await holdings(store, "s1.cam1", "main", base, base + 20_000);
  expect(h.ranges.map((r) => r.startMs - base)).toEqual([0, 7000]);
  const inHole = seg(base, 4000, 5000);
  expect(h.has(inHole)).toBe(false);
  expect(h.awaitingLive(inHole)).toBe(false);
  const straddles = seg(base, 6000, 8000); // live resumed mid-segment: its start is missing
  expect(h.has(straddles)).toBe(false);
  expect(h.awaitingLive(straddles)).toBe(false);
  expect(h.has(seg(base, 2000, 3000))).toBe(true);
  expect(h.has(seg(base, 7500, 8500))).toBe(true);
  await w.end("stopped");
  await store.close();
});

test("a half-second hole between held pieces is not papered over by the timeline's 1.5 s rule", async () => {
  const { store, w, clock, base } = await liveStore("seam");
  await feed(w, media, clock, base, 0, 4); // [0, ~1.47 s)
  await w.end("stall");
  w.init(media.init, media.info);
  await feed(w, media, clock, base, 6, 10); // [2 s, ~3.47 s)
  await w.end("stopped");
  const closed = await store.segments({ cameraId: "s1.cam1", stream: "main", fromMs: base, toMs: base + 6000 });
  expect(closed.length).toBe(2);
  const h = await holdings(store, "s1.cam1", "main", base, base + 6000);
  expect(h.has(seg(base, 1000, 2000))).toBe(false);
  expect(h.clip(base, base + 6000)).toEqual(closed.map((c) => ({ startMs: c.startMs, endMs: c.endMs })));
  // Exports and the segment listing: exactly the closed segments overlapping the window, by start —
  // the same as the store answers for that window; one that ends at the window's start is outside.
  expect(h.closedIn(base, base + 6000)).toEqual(closed);
  expect(h.closedIn(closed[0]!.endMs, base + 6000)).toEqual([closed[1]!]);
  expect(h.closedIn(base + 1000, base + 1200)).toEqual([closed[0]!]);
  // An exact copy is recognised by its hash.
  expect(h.hasCopy(closed[0]!.startMs, closed[0]!.bytes, closed[0]!.sha256)).toBe(true);
  expect(h.hasCopy(closed[0]!.startMs, closed[0]!.bytes, "0".repeat(64))).toBe(false);
  // centralRanges (the timeline's, playback's stream=best and the transfer module's one answer): the
  // held ranges clipped to the window; a stream that is neither main nor sub holds nothing.
  expect(await centralRanges(store, "s1.cam1", "main", base + 1000, base + 6000)).toEqual(h.clip(base + 1000, base + 6000));
  expect((await centralRanges(store, "s1.cam1", "main", base + 1000, base + 6000))[0]!.startMs).toBe(base + 1000);
  expect(await centralRanges(store, "s1.cam1", "best", base, base + 6000)).toEqual([]);
  expect(await centralRanges(store, "s1.cam1", "sub", base, base + 6000)).toEqual([]);
  await store.close();
});

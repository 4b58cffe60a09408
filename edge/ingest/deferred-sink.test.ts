/**
 * deferredSink against real stores: what a stream hands over while the store is still opening
 * ends up on disk exactly as if the store had been open from the start (same segments, bytes,
 * gaps), filed at arrival time; an arrival pause while held is not taken for a clock step; the
 * held bytes are bounded; a store that never opens fails fragments and lets sessions end.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore, type Timeline } from "../../lib/store/index.ts";
import { fragmentAt, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { deferredSink } from "./deferred-sink.ts";
import type { FragmentSink } from "./stream.ts";

setDefaultTimeout(60_000);
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
let dir: string;
let media: Media;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-deferred-sink-"));
  media = await makeMedia(dir, 6);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const shape = (t: Timeline) => ({
  ranges: t.ranges,
  gaps: t.gaps.map((g) => ({ s: g.startMs, e: g.endMs, r: g.reason })),
  segs: t.segments.map((s) => ({ s: s.startMs, e: s.endMs, b: s.bytes, h: s.sha256 })),
});

/**
 * Plays fragments 0..n-1 into a sink, each arriving (clock moved there first) when it ends,
 * with `pauseMs` more before fragment `pauseAt` (the camera's packets held up in the network),
 * then ends the session. `opened` is called before fragment `openAt` (never when undefined).
 */
async function play(sink: FragmentSink, clock: ManualClock, n: number, o: { pauseAt?: number; pauseMs?: number; openAt?: number; opened?: () => void } = {}): Promise<void> {
  const calls: Promise<void>[] = [];
  sink.init(media.init, media.info);
  let extra = 0;
  for (let i = 0; i < n; i++) {
    if (i === o.pauseAt) extra += o.pauseMs ?? 0;
    if (i === o.openAt) o.opened?.();
    const f = fragmentAt(media, i);
    const at = T0 + extra + Math.round(f.info.startMs + f.info.durationMs);
    clock.set(at);
    calls.push(sink.fragment(f.bytes, f.info, at));
  }
  calls.push(sink.end("stopped"));
  await Promise.all(calls);
}

async function record(name: string, held: boolean, o: { pauseAt?: number; pauseMs?: number; openAt?: number } = {}) {
  const clock = new ManualClock(T0);
  const logs = new MemorySink();
  const open = () => MediaStore.open({ root: join(dir, name), clock, log: new Logger({ component: "store", sink: logs, level: "info" }), segmentDurationMs: 2000, minFreeBytes: 0 });
  let store: MediaStore;
  if (held) {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const opening = gate.then(open);
    const sink = deferredSink(opening.then((s) => s.writer("cam1", "main")), clock);
    await play(sink, clock, 12, { ...o, opened: release });
    store = await opening;
  } else {
    store = await open();
    await play(store.writer("cam1", "main"), clock, 12, o);
  }
  await store.writer("cam1", "main").settled();
  const tl = shape(await store.timeline({ cameraId: "cam1", stream: "main", fromMs: T0 - 60_000, toMs: T0 + 60_000 }));
  await store.close();
  return { tl, logs: logs.records.map((r) => r.msg) };
}

test("fragments held while the store opens are recorded as if it had been open: same segments, bytes and gaps, filed at arrival", async () => {
  const direct = await record("direct", false);
  const held = await record("held", true, { openAt: 9 }); // 3 s of footage (a 2 s segment closed) wait for the store
  expect(direct.tl.segs.length).toBeGreaterThanOrEqual(2);
  expect(direct.tl.segs[0]!.s).toBe(T0); // the first fragment arrived at its end: the segment starts at its start
  expect(held.tl).toEqual(direct.tl);
});

test("a pause in arrivals while held is not a host-clock step (the monotonic time of arrival goes with the fragment)", async () => {
  const direct = await record("pause-direct", false, { pauseAt: 4, pauseMs: 3000 });
  const held = await record("pause-held", true, { pauseAt: 4, pauseMs: 3000, openAt: 10 });
  expect(direct.logs.filter((m) => m.includes("clock stepped"))).toEqual([]);
  expect(held.logs.filter((m) => m.includes("clock stepped"))).toEqual([]);
  expect(held.tl).toEqual(direct.tl);
});

test("held bytes are bounded: past the bound a fragment fails (the ingest retries) and nothing is written out of order", async () => {
  const clock = new ManualClock(T0);
  let release!: () => void;
  const opening = new Promise<void>((r) => (release = r)).then(() => MediaStore.open({ root: join(dir, "bound"), clock, log: new Logger({ component: "store", sink: new MemorySink(), level: "error" }), segmentDurationMs: 2000, minFreeBytes: 0 }));
  const f0 = fragmentAt(media, 0);
  const sink = deferredSink(
    opening.then((s) => s.writer("cam1", "main")),
    clock,
    f0.bytes.length + 1,
  );
  sink.init(media.init, media.info);
  const first = sink.fragment(f0.bytes, f0.info, T0 + 333);
  const f1 = fragmentAt(media, 1);
  await expect(sink.fragment(f1.bytes, f1.info, T0 + 666)).rejects.toThrow(/not open yet/);
  release();
  await first;
  const store = await opening;
  await sink.end("stopped");
  await store.writer("cam1", "main").settled();
  const tl = await store.timeline({ cameraId: "cam1", stream: "main", fromMs: T0 - 60_000, toMs: T0 + 60_000 });
  expect(tl.segments.map((s) => s.bytes)).toEqual([media.init.length + f0.bytes.length]);
  await store.close();
});

test("a store that fails to open: fragments fail with its error, ending the session does not", async () => {
  const clock = new ManualClock(T0);
  const sink = deferredSink(Promise.reject(new Error("minFreeBytes is larger than the volume")), clock);
  sink.init(media.init, media.info);
  const f = fragmentAt(media, 0);
  await expect(sink.fragment(f.bytes, f.info, T0)).rejects.toThrow("minFreeBytes is larger than the volume");
  await expect(sink.end("stopped")).resolves.toBeUndefined();
});

/**
 * The loss budget under a slow disk (issue 13 item 1): an injected fsync that takes 500 ms
 * models an SD card or a loaded eMMC. Every fragment must be on stable storage within 1 s of
 * arriving (so a power cut loses ≤ 1 s per stream), with several streams writing at once; a
 * disk slower than the budget makes the writer drop fragments with a "disk-slow" gap and
 * report its lag instead of queueing without bound.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, readlink, rm } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ManualClock } from "../clock.ts";
import { fsyncDir } from "../fsutil.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { MediaStore } from "./index.ts";
import { volumeSyncer } from "./sync-thread.ts";
import { SYNC_STALL_MS } from "./append.ts";
import { fragmentAt, makeMedia, type Media } from "./testdata/media.ts";
import { Wakeups } from "../timers/wakeups.ts";
import { manual } from "../timers/manual-timer.ts";

let dir: string;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
setDefaultTimeout(120_000);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "store-durability-"));
  media = await makeMedia(dir, 10);
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A disk whose fsyncs take `delayMs`, recording what each completed fsync made durable. */
function slowDisk(delayMs: () => number) {
  const fileSyncs: { path: string; size: number; doneAt: number }[] = [];
  const dirSyncs: { dir: string; startAt: number; doneAt: number }[] = [];
  return {
    fileSyncs,
    dirSyncs,
    sync: {
      file: async (fh: FileHandle) => {
        const path = await readlink(`/proc/self/fd/${fh.fd}`);
        const size = (await fh.stat()).size; // what this fsync covers: everything written before it
        await Bun.sleep(delayMs());
        await fh.sync();
        fileSyncs.push({ path, size, doneAt: performance.now() });
      },
      dir: async (d: string) => {
        const startAt = performance.now();
        await Bun.sleep(delayMs());
        await fsyncDir(d);
        dirSyncs.push({ dir: d, startAt, doneAt: performance.now() });
      },
    },
  };
}

/**
 * Feeds `n` fragments to `w`, one every `periodMs` of real time from `start` (the clock set to
 * each one's end), and says for each: its file, the file's size after it, and when it arrived —
 * when it was due: a writer that makes the reader wait is late too.
 */
async function feedPaced(w: ReturnType<MediaStore["writer"]>, clock: ManualClock, root: string, o: { start: number; periodMs: number; n: number }) {
  const written: { path: string; end: number; arrived: number }[] = [];
  for (let n = 0; n < o.n; n++) {
    const due = o.start + n * o.periodMs;
    if (performance.now() < due) await Bun.sleep(due - performance.now());
    const f = fragmentAt(media, n);
    clock.set(T0 + f.info.startMs + f.info.durationMs);
    const dropped = w.status().dropped;
    await w.fragment(f.bytes, f.info, clock.now());
    const cur = w.current();
    // A machine too slow for the pace makes the writer shed (its backlog bound, by design): a
    // dropped fragment is counted, never written — not a durability miss.
    if (!cur || w.status().dropped > dropped) {
      expect(w.status().dropped).toBeGreaterThan(dropped);
      continue;
    }
    written.push({ path: join(root, cur.path), end: cur.bytes, arrived: due });
  }
  return written;
}

// A tick (200 ms) and fsync right after each write (0, the edge's default).
for (const durabilityMs of [200, 0])
test(`slow fsync (500 ms), 3 streams at 10 fragments/s, durabilityMs ${durabilityMs}: every fragment durable within 1 s of arriving`, async () => {
  const disk = slowDisk(() => 500);
  const clock = new ManualClock(T0);
  const root = join(dir, `slow-${durabilityMs}`);
  const store = await MediaStore.open({ root, clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 2000, minFreeBytes: 0, durabilityMs, sync: disk.sync });
  const written: { path: string; end: number; arrived: number; created: number }[] = [];
  const start = performance.now();
  // 5× real time: 0.5 s fragments every 100 ms
  const streams = ["cam1", "cam2", "cam3"].map(async (cam) => {
    const w = store.writer(cam, "main");
    w.init(media.init, media.info);
    const created = new Map<string, number>();
    for (const f of await feedPaced(w, clock, root, { start, periodMs: 100, n: 40 })) {
      if (!created.has(f.path)) created.set(f.path, f.arrived);
      written.push({ ...f, created: created.get(f.path)! });
    }
    await w.end("stopped");
  });
  await Promise.all(streams);
  await store.close();

  const lags = written.map((f) => {
    const file = disk.fileSyncs.filter((s) => s.path === f.path && s.size >= f.end).map((s) => s.doneAt);
    const dirDone = disk.dirSyncs.filter((s) => s.dir === dirname(f.path) && s.doneAt >= f.created).map((s) => s.doneAt);
    return Math.max(Math.min(...file), Math.min(...dirDone)) - f.arrived;
  });
  const worst = Math.max(...lags);
  console.log(`fragments ${written.length}; fsyncs ${disk.fileSyncs.length} (per fragment: ${(disk.fileSyncs.length / written.length).toFixed(2)}); durable after arrival: worst ${Math.round(worst)} ms, median ${Math.round(lags.sort((a, b) => a - b)[lags.length >> 1]!)} ms`);
  // The requirement itself is a deadline (≤ 1 s lost per crash); expected worst ≈ tick 200 + fsync 500,
  // or at once: fsync 500 + a retry's 100 ms where a file's fsyncs in flight reached their bound.
  expect(worst).toBeLessThanOrEqual(1000);
  // Group commit: fewer fsyncs than fragments with a tick; at most one per fragment without.
  if (durabilityMs > 0) expect(disk.fileSyncs.length).toBeLessThan(written.length);
  else expect(disk.fileSyncs.length).toBeLessThanOrEqual(written.length);
});

test("one volume sync (syncfs) per tick covers every stream: 12 streams, a slow volume (300 ms), every fragment durable within 1 s", async () => {
  const real = volumeSyncer();
  expect(real).not.toBeNull(); // Linux + glibc: the default durability path
  const clock = new ManualClock(T0);
  const root = join(dir, "volume");
  const cams = Array.from({ length: 12 }, (_, i) => `cam${i + 1}`);
  const writers = new Map<string, ReturnType<MediaStore["writer"]>>();
  // What each volume sync covers: every open file's size when it starts.
  const volumeSyncs: { covers: Map<string, number>; doneAt: number; tookMs: number }[] = [];
  const fileSyncs: number[] = [];
  const dirSyncs: { dir: string; doneAt: number }[] = [];
  const store = await MediaStore.open({
    root, clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 60_000, minFreeBytes: 0, durabilityMs: 200,
    sync: {
      file: async (fh) => {
        fileSyncs.push(performance.now());
        await fh.sync();
      },
      dir: async (d) => {
        await fsyncDir(d);
        dirSyncs.push({ dir: d, doneAt: performance.now() });
      },
      volume: async (r) => {
        const covers = new Map<string, number>();
        for (const w of writers.values()) {
          const cur = w.current();
          if (cur) covers.set(join(root, cur.path), cur.bytes);
        }
        await Bun.sleep(300);
        const t = performance.now();
        await real!(r);
        volumeSyncs.push({ covers, doneAt: performance.now(), tookMs: performance.now() - t });
      },
    },
  });
  const start = performance.now();
  const written = (
    await Promise.all(
      cams.map(async (cam) => {
        const w = store.writer(cam, "main");
        writers.set(cam, w);
        w.init(media.init, media.info);
        return feedPaced(w, clock, root, { start, periodMs: 100, n: 30 });
      }),
    )
  ).flat();
  await until(() => cams.every((c) => writers.get(c)!.status().lagMs === 0), 10_000);
  const filesBeforeClose = fileSyncs.length;
  const stats = { ...store.volumeSyncStats };
  await store.close();

  const lags = written.map((f) => {
    const vol = volumeSyncs.filter((v) => (v.covers.get(f.path) ?? -1) >= f.end).map((v) => v.doneAt);
    const dirDone = dirSyncs.filter((d) => d.dir === dirname(f.path)).map((d) => d.doneAt);
    return Math.max(Math.min(...vol), Math.min(...dirDone)) - f.arrived;
  });
  const worst = Math.max(...lags);
  console.log(`fragments ${written.length}; volume syncs ${volumeSyncs.length} covering ${(stats.streams / stats.ticks).toFixed(1)} streams each; per-file fsyncs while recording ${filesBeforeClose}; durable after arrival: worst ${Math.round(worst)} ms`);
  // No fragment is durable by anything but a volume sync while its file is open.
  expect(filesBeforeClose).toBe(0);
  // One sync per tick for all streams: each covered most of the 12 (a tick can fall between fragments of some).
  expect(stats.streams / stats.ticks).toBeGreaterThan(6);
  expect(volumeSyncs.length).toBeLessThan(written.length / cams.length);
  // Every fragment was made durable by a volume sync while recording (none waited for close).
  expect(lags.every(Number.isFinite)).toBe(true);
  // The requirement itself is a deadline (≤ 1 s lost per crash); expected worst ≈ tick 200 + sync 300 + the real
  // syncfs. A loaded machine whose syncfs alone takes longer than the rest of the budget cannot meet it: then only
  // the order above is checked (tests never fail because the machine is slow).
  const slowestReal = Math.max(...volumeSyncs.map((v) => v.tookMs));
  if (slowestReal <= 250) expect(worst).toBeLessThanOrEqual(1000);
  else console.log(`syncfs took up to ${Math.round(slowestReal)} ms here: deadline not asserted`);
});

test("fsyncs slower than the budget: the writer says lagging with its lag, nothing is queued in memory", async () => {
  const disk = slowDisk(() => 2500);
  const clock = new ManualClock(T0);
  const store = await MediaStore.open({ root: join(dir, "lagging"), clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 60_000, minFreeBytes: 0, durabilityMs: 200, sync: disk.sync });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  const seen: { state: string; lagMs: number; queued: number }[] = [];
  for (let n = 0; n < 30; n++) {
    const f = fragmentAt(media, n);
    clock.set(T0 + f.info.startMs + f.info.durationMs);
    await w.fragment(f.bytes, f.info, clock.now());
    seen.push(w.status());
    await Bun.sleep(100);
  }
  expect(seen.some((s) => s.state === "lagging" && s.lagMs > 1000)).toBe(true);
  expect(Math.max(...seen.map((s) => s.queued))).toBeLessThanOrEqual(1);
  await store.close();
});

test("writes stuck (the writer busy closing a segment on a disk that does not answer): the backlog is bounded, fragments dropped with a disk-slow gap, then recording resumes", async () => {
  let delay = 6000;
  const disk = slowDisk(() => delay);
  const clock = new ManualClock(T0);
  const root = join(dir, "stalled");
  const store = await MediaStore.open({ root, clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 60_000, minFreeBytes: 0, durabilityMs: 200, sync: disk.sync });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  let n = 0;
  const next = () => {
    const f = fragmentAt(media, n++);
    clock.set(T0 + f.info.startMs + f.info.durationMs);
    return w.fragment(f.bytes, f.info, clock.now());
  };
  for (let i = 0; i < 4; i++) await next();
  // The camera re-negotiates: the new session waits for the old segment's final fsync (6 s).
  w.init(media.init, media.info);
  let maxQueued = 0;
  const states = new Set<string>();
  for (let i = 0; i < 100; i++) {
    void next(); // the native engine does not wait either
    maxQueued = Math.max(maxQueued, w.status().queued);
    states.add(w.status().state);
    await Bun.sleep(20);
  }
  delay = 10; // the disk answers again
  await until(() => w.status().queued === 0, 20_000);
  for (let i = 0; i < 6; i++) await next();
  await w.settled();
  expect(states.has("disk-slow")).toBe(true);
  expect(maxQueued).toBeLessThanOrEqual(64);
  expect(w.status().dropped).toBeGreaterThan(0);
  expect(w.status().state).toBe("writing");
  const tl = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: clock.now() + 1000 });
  const slow = tl.gaps.filter((g) => g.reason === "disk-slow");
  expect(slow.length).toBe(1);
  expect(slow[0]!.endMs).toBeLessThan(clock.now()); // closed: recording resumed
  expect(tl.ranges.at(-1)!.endMs).toBeGreaterThan(slow[0]!.endMs);
  await store.close();
});

test("the durability tick runs only while written bytes wait for it: none while idle, one per burst of writes, retried after a failed fsync without new writes", async () => {
  let failNext = 0;
  const synced: number[] = [];
  const clock = new ManualClock(T0);
  const store = await MediaStore.open({
    root: join(dir, "armed"), clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 60_000, minFreeBytes: 0, durabilityMs: 50,
    sync: {
      file: async (fh) => {
        if (failNext > 0 && failNext--) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
        await fh.sync();
        synced.push(performance.now());
      },
    },
  });
  // Idle (a recorder whose cameras are offline): no tick in 10 tick periods.
  await Bun.sleep(500);
  expect(store.durabilityStats.ticks).toBe(0);
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  const write = (n: number) => writeFragment(w, clock, n);
  await write(0);
  await write(1);
  // (The manual clock stands still, so lagMs alone says nothing here: wait on the tick itself.)
  await until(() => store.durabilityStats.ticks >= 1 && w.status().lagMs === 0, 5000);
  await Bun.sleep(150); // a second tick, if the second write came after the first one
  const afterBurst = store.durabilityStats.ticks;
  expect(afterBurst).toBeGreaterThanOrEqual(1); // one, or two when the second write came after the first tick
  await Bun.sleep(300); // 6 more tick periods: nothing waits, nothing runs
  expect(store.durabilityStats.ticks).toBe(afterBurst);
  // An fsync that fails leaves its bytes waiting: the next tick retries though nothing new was written.
  failNext = 1;
  const syncedBefore = synced.length;
  await write(2);
  // The failed fsync's tick, then the retry's, which succeeds without a new write.
  await until(() => store.durabilityStats.ticks >= afterBurst + 2 && synced.length > syncedBefore, 5000);
  expect(failNext).toBe(0);
  await store.close();
});

test("the durability tick runs in another wake-up of the process within its slack, and never later than durabilityMs alone", async () => {
  const clock = new ManualClock(T0);
  const m = manual();
  const timers = new Wakeups(m.schedule, m.unschedule, m.now);
  const store = await MediaStore.open({ root: join(dir, "ride"), clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 60_000, minFreeBytes: 0, durabilityMs: 250, timers });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  const write = (n: number) => writeFragment(w, clock, n);
  await write(0); // a new file: synced at once, no tick
  await write(1); // an append: waits for the tick, due 250 ms from now
  const ticks = store.durabilityStats.ticks;
  const other = () => undefined; // e.g. the batched camera reads' turn
  timers.after(other, 100);
  m.advance(m.t + 100); // too early for the tick (its slack is 100 ms of 250)
  expect(store.durabilityStats.ticks).toBe(ticks);
  timers.after(other, 60);
  const wakes = m.wakes;
  m.advance(m.t + 60); // 160 ms after the write: the tick runs in this turn
  expect(store.durabilityStats.ticks).toBe(ticks + 1);
  expect(m.wakes).toBe(wakes + 1); // and took no wake-up of its own
  // With nothing else waking the loop, the tick runs at its deadline.
  await w.settled();
  await write(2);
  const armedAt = m.t;
  m.advance(armedAt + 249);
  expect(store.durabilityStats.ticks).toBe(ticks + 1);
  m.advance(armedAt + 250);
  expect(store.durabilityStats.ticks).toBe(ticks + 2);
  await store.close();
});

test("an fsync that does not return keeps fragment writes off the event loop until it returns (a hung disk blocks a pool thread, not the recorder)", async () => {
  let release = () => {};
  let hung: Promise<void> | null = new Promise<void>((r) => (release = r));
  let inFlight = 0;
  const clock = new ManualClock(T0);
  const store = await MediaStore.open({
    root: join(dir, "hung"), clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 60_000, minFreeBytes: 0, durabilityMs: 200,
    sync: {
      file: async (fh) => {
        inFlight++;
        try {
          if (hung) await hung;
          await fh.sync();
        } finally {
          inFlight--;
        }
      },
      dir: fsyncDir,
    },
  });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  await writeFragment(w, clock, 0); // a new file: its fsync starts at once, and hangs
  let n = 1;
  await writeFragment(w, clock, n++);
  // Fsync waits are real time (the store's manual clock does not count): wait past the limit.
  await Bun.sleep(SYNC_STALL_MS + 100);
  await writeFragment(w, clock, n++);
  expect(store.writeStats.inline).toBeGreaterThan(0); // before the fsync had waited too long
  expect(store.writeStats.pooled).toBeGreaterThan(0);
  const inline = store.writeStats.inline;
  release();
  hung = null;
  await until(() => inFlight === 0, 10_000);
  await writeFragment(w, clock, n++);
  expect(store.writeStats.inline).toBe(inline + 1); // the disk answered: inline again
  await store.close();
});

/** Fragment `n` of the test media to `w`, arriving at its end on `clock`. */
async function writeFragment(w: ReturnType<MediaStore["writer"]>, clock: ManualClock, n: number): Promise<void> {
  const f = fragmentAt(media, n);
  clock.set(T0 + f.info.startMs + f.info.durationMs);
  await w.fragment(f.bytes, f.info, clock.now());
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error("timed out");
    await Bun.sleep(50);
  }
}

test("recording that starts or resumes is durable at once: its first fragment is synced without waiting for the tick (file and volume sync)", async () => {
  for (const mode of ["file", "volume"] as const) {
    const clock = new ManualClock(T0);
    const root = join(dir, `resume-${mode}`);
    const syncs: string[] = [];
    const sync = {
      file: async (fh: FileHandle) => {
        syncs.push("file");
        await fh.sync();
      },
      ...(mode === "volume" ? { volume: async () => void syncs.push("volume") } : {}),
    };
    // A tick far longer than the test's steps: any sync seen below was not the tick's.
    const open = () => MediaStore.open({ root, clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 60_000, minFreeBytes: 0, durabilityMs: 1000, sync });
    let store = await open();
    const feed = async (w: ReturnType<MediaStore["writer"]>, n: number) => {
      const f = fragmentAt(media, n);
      clock.set(T0 + f.info.startMs + f.info.durationMs);
      await w.fragment(f.bytes, f.info, clock.now());
    };
    let w = store.writer("cam1", "main");
    w.init(media.init, media.info);
    await feed(w, 0);
    expect({ mode, syncs }).toEqual({ mode, syncs: [mode] }); // the stream's first file
    await feed(w, 1);
    expect({ mode, syncs }).toEqual({ mode, syncs: [mode] }); // an append waits for the tick
    // The camera drops out and comes back: recording resumes after a gap.
    await w.end("camera-offline");
    syncs.length = 0;
    w.init(media.init, media.info);
    await feed(w, 3); // fragments 0, 3, 6 … start with a keyframe
    expect({ mode, syncs }).toEqual({ mode, syncs: [mode] });
    await store.close();
    // A restart of the recorder: its first fragment is synced at once again.
    store = await open();
    syncs.length = 0;
    w = store.writer("cam1", "main");
    w.init(media.init, media.info);
    await feed(w, 6);
    expect({ mode, syncs }).toEqual({ mode, syncs: [mode] });
    await store.close();
  }
});

test("durabilityMs 0: a fragment's fsync starts when the turn that wrote it is done — every stream that wrote in that turn in one round, no timer of its own; a failed fsync is retried after a pause, not at once", async () => {
  const clock = new ManualClock(T0);
  const m = manual();
  const timers = new Wakeups(m.schedule, m.unschedule, m.now);
  const calls: number[] = [];
  let fail = false;
  const store = await MediaStore.open({
    root: join(dir, "at-once"), clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 60_000, minFreeBytes: 0, durabilityMs: 0, timers,
    sync: {
      file: async (fh) => {
        calls.push(fh.fd);
        if (fail) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
        await fh.sync();
      },
    },
  });
  const a = store.writer("cam1", "main");
  const b = store.writer("cam2", "main");
  for (const w of [a, b]) w.init(media.init, media.info);
  await Promise.all([writeFragment(a, clock, 0), writeFragment(b, clock, 0)]); // new files: synced at once
  await Promise.all([a.settled(), b.settled()]);
  // Their fsyncs returned (nothing pending) and settled (a turn later).
  await until(() => a.status().lagMs === 0 && b.status().lagMs === 0, 5000);
  await new Promise((r) => setImmediate(r));
  const ticks = store.durabilityStats.ticks;
  calls.length = 0;
  // One turn (the batched reads) completes a fragment of each stream.
  await Promise.all([writeFragment(a, clock, 1), writeFragment(b, clock, 1)]);
  expect(calls).toHaveLength(0); // not inside the write: once the turn is done
  await new Promise((r) => setImmediate(r));
  expect(store.durabilityStats.ticks).toBe(ticks + 1); // one round for both streams
  expect(new Set(calls).size).toBe(2);
  expect(m.wakes).toBe(0); // no timer woke the loop for it
  await until(() => a.status().lagMs === 0 && b.status().lagMs === 0, 5000);
  // A failing disk: the fsync is tried again after RETRY_MS (200 ms) on the timer, not in a loop.
  fail = true;
  calls.length = 0;
  await writeFragment(a, clock, 2);
  await until(() => calls.length >= 1, 5000);
  await Bun.sleep(100); // real time: a retry at once would have run many times by now
  expect(calls).toHaveLength(1);
  fail = false;
  m.advance(m.t + 200);
  await until(() => calls.length === 2 && a.status().lagMs === 0, 5000);
  await store.close();
});


test("durabilityMs 0: bytes written while the stream's fsync is in flight are synced when it returns; the retry armed meanwhile is dropped, and no fsync repeats covered bytes", async () => {
  const clock = new ManualClock(T0);
  const m = manual();
  const timers = new Wakeups(m.schedule, m.unschedule, m.now);
  let calls = 0;
  let gate: Promise<void> | null = null;
  let open = () => {};
  const store = await MediaStore.open({
    root: join(dir, "in-flight"), clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 60_000, minFreeBytes: 0, durabilityMs: 0, timers,
    sync: {
      file: async (fh) => {
        calls++;
        if (gate) await gate;
        await fh.sync();
      },
    },
  });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  await writeFragment(w, clock, 0);
  await until(() => w.status().lagMs === 0, 5000);
  await new Promise((r) => setImmediate(r));
  calls = 0;
  gate = new Promise<void>((r) => (open = r));
  await writeFragment(w, clock, 1);
  await new Promise((r) => setImmediate(r));
  expect(calls).toBe(1); // fragment 1's fsync, held by the disk
  await writeFragment(w, clock, 2); // while it is in flight: waits (a retry is armed)
  await new Promise((r) => setImmediate(r));
  expect(calls).toBe(1);
  expect(m.armed).toHaveLength(1);
  gate = null;
  open(); // the held fsync returns: fragment 2's starts at once...
  await until(() => calls === 2 && w.status().lagMs === 0, 5000);
  await new Promise((r) => setImmediate(r));
  expect(m.armed).toHaveLength(0); // ...and the retry is gone: no wake-up for it
  m.advance(m.t + 1000);
  expect(calls).toBe(2); // nothing covered is synced again
  await store.close();
});

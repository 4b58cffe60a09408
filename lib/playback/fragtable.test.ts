/**
 * Fragment tables stored in the index: written by the recorder at commit, rebuilt from disk by
 * recovery, and planning from them gives the very bytes of planning from file scans.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { decodeFragmentTable, encodeFragmentTable } from "../mp4/index.ts";
import { MediaStore } from "../store/index.ts";
import { INDEX_FILE } from "../store/layout.ts";
import type { SegmentRecord } from "../store/types.ts";
import { Playback, type SegmentSource } from "./playback.ts";
import { scanSegmentFile } from "./scan.ts";
import { feedClip, makeClip } from "./testkit.ts";

const dir = mkdtempSync(join(tmpdir(), "fragtable-"));
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const quiet = () => new Logger({ component: "t", sink: new MemorySink() });
let store: MediaStore;
const root = join(dir, "store");

beforeAll(async () => {
  await Promise.all([makeClip(join(dir, "a.mp4"), { seconds: 6 }), makeClip(join(dir, "b.mp4"), { seconds: 4, width: 640, height: 360 })]);
  store = await MediaStore.open({ root, clock: new ManualClock(T0), log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = store.writer("cam1", "main");
  // 6 s in 2 s segments, a 3 s hole, then another resolution: several files, a gap, a new init.
  const end = await feedClip(w, join(dir, "a.mp4"), T0);
  await feedClip(w, join(dir, "b.mp4"), end + 3000);
  await w.end("stopped");
  await w.settled();
});
afterAll(async () => {
  await store.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const all = (s: MediaStore) => s.segments({ cameraId: "cam1", fromMs: T0 - 60_000, toMs: T0 + 60_000 });

test("the writer stores each segment's fragment table at commit; it equals a scan of the file", async () => {
  const segs = await all(store);
  expect(segs.length).toBeGreaterThanOrEqual(4);
  const tables = await store.fragmentTables("cam1", "main", segs);
  expect(tables.size).toBe(segs.length);
  for (const s of segs) {
    const scan = scanSegmentFile(store.absPath(s), s.bytes)!;
    const t = decodeFragmentTable(tables.get(s.startMs)!);
    expect(t.initLen).toBe(scan.initBytes.length);
    expect(t.frags).toEqual(scan.frags);
    const last = t.frags[t.frags.length - 1]!;
    expect(last.offset + last.size).toBe(s.bytes);
    // ~8 bytes per fragment (the index stays small: bytes on disk ÷ payload ≤ 1.005).
    expect(tables.get(s.startMs)!.length).toBeLessThan(16 * t.frags.length + 16);
  }
});

test("an index rebuilt from disk has the same tables", async () => {
  const before = await all(store);
  const tablesBefore = await store.fragmentTables("cam1", "main", before);
  await store.close();
  rmSync(join(root, INDEX_FILE), { force: true });
  rmSync(join(root, `${INDEX_FILE}-wal`), { force: true });
  store = await MediaStore.open({ root, clock: new ManualClock(T0), log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  expect(store.recovery.actions.filter((a) => a.action === "indexed-orphan").length).toBe(before.length);
  const after = await all(store);
  const tablesAfter = await store.fragmentTables("cam1", "main", after);
  expect(after.map((s) => s.startMs)).toEqual(before.map((s) => s.startMs));
  for (const s of before) expect(Buffer.from(tablesAfter.get(s.startMs)!).equals(Buffer.from(tablesBefore.get(s.startMs)!))).toBe(true);
});

test("encoding is exact for times that are not whole milliseconds and refuses what it cannot hold", () => {
  const f = { offset: 900, size: 5000, grow: 4, mediaStartMs: (1001 * 1000) / 90000, durationMs: (45045 * 1000) / 90000, keyframe: true, frames: 15, timescale: 90000 };
  const g = { ...f, offset: 5900, mediaStartMs: f.mediaStartMs + f.durationMs, keyframe: false, grow: 0 };
  expect(decodeFragmentTable(encodeFragmentTable(900, [f, g])!)).toEqual({ initLen: 900, frags: [f, g] });
  expect(encodeFragmentTable(900, [{ ...f, mediaStartMs: 0.1234567 }])).toBeNull(); // not a whole tick
  expect(encodeFragmentTable(900, [f, { ...g, offset: 10 }])).toBeNull(); // overlapping
  expect(() => decodeFragmentTable(Uint8Array.of(1, 2))).toThrow();
});

test("property: any byte range planned from stored tables equals the same slice planned from file scans", async () => {
  const scanned: SegmentSource = { segments: (q) => store.segments(q), absPath: (s: SegmentRecord) => store.absPath(s) };
  const fromTables = () => new Playback({ source: store });
  const q = { cameraId: "cam1", fromMs: T0 - 1000, toMs: T0 + 60_000 };
  const ref = new Playback({ source: scanned });
  const refPlan = await ref.plan(q);
  const whole = new Uint8Array(await new Response(ref.stream(refPlan)).arrayBuffer());
  expect(whole.length).toBe(refPlan.total);
  // Planning reads the tables and each file's init only: over copies that hold nothing but
  // the init, the plan is the same (a scan of those would find no fragment).
  const initOnly = join(dir, "init-only");
  for (const s of await all(store)) {
    const initLen = decodeFragmentTable((await store.fragmentTables("cam1", "main", [s])).get(s.startMs)!).initLen;
    mkdirSync(dirname(join(initOnly, s.path)), { recursive: true });
    writeFileSync(join(initOnly, s.path), readFileSync(store.absPath(s)).subarray(0, initLen));
  }
  const tablesOnly: SegmentSource = { ...scanned, absPath: (s) => join(initOnly, s.path), fragmentTables: (c, st, segs) => store.fragmentTables(c, st, segs) };
  expect((await new Playback({ source: tablesOnly }).plan(q)).total).toBe(refPlan.total);
  expect((await new Playback({ source: { ...tablesOnly, fragmentTables: undefined } }).plan(q)).total).toBe(0);
  const pb = fromTables();
  const plan = await pb.plan(q);
  expect(plan.total).toBe(refPlan.total);
  expect(Buffer.from(new Uint8Array(await new Response(pb.stream(plan)).arrayBuffer())).equals(Buffer.from(whole))).toBe(true);
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: whole.length - 1 }),
      fc.integer({ min: 1, max: whole.length }),
      fc.integer({ min: 0, max: 30_000 }),
      fc.integer({ min: 500, max: 30_000 }),
      async (start, len, fromOff, span) => {
        // A fresh API each time: cold, planned from the tables only.
        const cold = fromTables();
        const range = { start, end: Math.min(whole.length, start + len) };
        const got = new Uint8Array(await new Response(cold.stream(await cold.plan(q), range)).arrayBuffer());
        expect(Buffer.from(got).equals(Buffer.from(whole.subarray(range.start, range.end)))).toBe(true);
        // Any window: the same plan (layout and bytes) as from scans.
        const w = { cameraId: "cam1", fromMs: T0 + fromOff - 1000, toMs: T0 + fromOff - 1000 + span };
        const [a, b] = [await fromTables().plan(w), await ref.plan(w)];
        expect(a.total).toBe(b.total);
        expect([a.originMs, a.endMs, a.frames]).toEqual([b.originMs, b.endMs, b.frames]);
        if (a.total > 0) expect(Buffer.from(new Uint8Array(await new Response(fromTables().stream(a)).arrayBuffer())).equals(Buffer.from(new Uint8Array(await new Response(ref.stream(b)).arrayBuffer())))).toBe(true);
      },
    ),
    { numRuns: 40 },
  );
});

/**
 * The timeline's cached coverage (IndexDb.coverageIn) against the segment rows in DuckDB: for
 * random recordings — back-to-back runs, holes just under/at/over the 1.5 s merge distance,
 * overlaps, very short segments — and random windows (edges inside holes, on boundaries, empty
 * streams), merged and clipped ranges must equal those built from the segments themselves, also
 * after commits of newer segments, late older ones, deletions and raw SQL. Gaps come from a cache
 * too and must equal a direct query.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INDEX_IMPLS, type TestIndex } from "./index-testkit.ts";
import type { SegmentRecord } from "./types.ts";

for (const impl of INDEX_IMPLS) describe(impl.name, () => {
  let dir: string;
  let db: TestIndex;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "coverage-"));
    db = await impl.open(dir);
  });
  afterAll(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** MediaStore.timeline's merge and clip. */
  function ranges(starts: number[], ends: number[], fromMs: number, toMs: number) {
    const out: { startMs: number; endMs: number }[] = [];
    for (let i = 0; i < starts.length; i++) {
      const last = out[out.length - 1];
      if (last && starts[i]! - last.endMs <= 1500) last.endMs = Math.max(last.endMs, ends[i]!);
      else out.push({ startMs: starts[i]!, endMs: ends[i]! });
    }
    return out.map((r) => ({ startMs: Math.max(r.startMs, fromMs), endMs: Math.min(r.endMs, toMs) })).filter((r) => r.endMs > r.startMs);
  }

  async function fromSegments(cam: string, fromMs: number, toMs: number) {
    const sp = await db.spans(cam, "main", fromMs, toMs);
    return ranges(sp.start, sp.end, fromMs, toMs);
  }
  async function fromCoverage(cam: string, fromMs: number, toMs: number) {
    const c = await db.coverageIn(cam, "main", fromMs, toMs);
    return ranges(c.start, c.end, fromMs, toMs);
  }

  const seg = (cameraId: string, startMs: number, endMs: number): SegmentRecord => ({ id: "", cameraId, stream: "main", startMs, endMs, bytes: 100, path: "", mime: "video/mp4" });

  /** Steps between segments: back to back, holes around the merge distance, overlaps. */
  const step = fc.constantFrom(0, 0, 0, 0, 1, 1499, 1500, 1501, 4000, -300, -1000);
  const dur = fc.constantFrom(1, 500, 1000, 2000, 2000, 2000, 60_000);
  const recording = fc.array(fc.tuple(step, dur), { minLength: 0, maxLength: 25 });

  function layout(parts: [number, number][], t0 = 1_000_000): [number, number][] {
    const out: [number, number][] = [];
    let t = t0;
    for (const [gap, d] of parts) {
      const start = Math.max(t + gap, out.length ? out[out.length - 1]![0] + 1 : t0);
      out.push([start, start + d]);
      t = start + d;
    }
    return out;
  }

  let n = 0;
  test("ranges from cached coverage equal ranges from segments (random recordings, windows and changes)", async () => {
    await fc.assert(
      fc.asyncProperty(recording, recording, fc.array(fc.tuple(fc.integer({ min: -5000, max: 400_000 }), fc.integer({ min: 0, max: 400_000 })), { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 3 }), async (a, b, windows, change) => {
        const cam = `c${n++}`;
        const first = layout(a);
        for (const [s, e] of first) await db.putSegment(seg(cam, s, e));
        const wins = windows.map(([from, len]) => [1_000_000 + from, 1_000_000 + from + len] as const);
        // Window edges exactly on segment boundaries and inside every hole.
        for (const [s, e] of first.filter((_, i) => i % Math.ceil(first.length / 6) === 0)) wins.push([s, e], [e, e + 1000], [e + 1, s + 400_000], [s - 1500, e - 1]);
        const check = async () => {
          for (const [from, to] of wins) {
            expect(await fromCoverage(cam, from, to)).toEqual(await fromSegments(cam, from, to));
            expect(await db.countSegments(cam, "main", from, to)).toBe((await db.spans(cam, "main", from, to)).start.length);
          }
        };
        await check(); // loads the cache
        await check(); // answers from it
        const end = first.length ? first[first.length - 1]![1] : 1_000_000;
        if (change === 0) for (const [s, e] of layout(b, end)) await db.putSegment(seg(cam, s, e)); // commits after the newest
        if (change === 1) for (const [s, e] of layout(b, 1_000_000 - 500_000)) await db.putSegment(seg(cam, s, e)); // late, older rows
        if (change === 2 && first.length) await db.deleteSegment({ cameraId: cam, stream: "main", startMs: first[Math.floor(first.length / 2)]![0] });
        if (change === 3 && first.length) await db.run(`UPDATE segments SET end_ms = end_ms + 2500 WHERE camera_id = $1 AND start_ms = $2`, [cam, first[0]![0]]);
        await check();
      }),
      { numRuns: 25 },
    );
  }, 120_000); // a few seconds alone; many more on a loaded machine

  test("an empty or unknown stream has no coverage; a commit to it shows at once", async () => {
    expect(await db.coverageIn("nobody", "main", 0, 1e13)).toEqual({ start: [], end: [] });
    await db.putSegment(seg("late-cam", 5000, 6000));
    expect(await fromCoverage("late-cam", 0, 1e13)).toEqual([{ startMs: 5000, endMs: 6000 }]);
    await db.putSegment(seg("late-cam", 6000, 7000)); // extends the cached run
    await db.putSegment(seg("late-cam", 8000, 9000)); // within 1.5 s: same range
    await db.putSegment(seg("late-cam", 11_000, 12_000)); // a new range
    expect(await fromCoverage("late-cam", 0, 1e13)).toEqual([{ startMs: 5000, endMs: 9000 }, { startMs: 11_000, endMs: 12_000 }]);
    expect(await fromCoverage("late-cam", 6500, 11_500)).toEqual(await fromSegments("late-cam", 6500, 11_500));
    expect(await db.countSegments("late-cam", "main", 0, 1e13)).toBe(4);
    expect(await db.countSegments("late-cam", "main", 0, 1e13, [6000, 11_000])).toBe(2); // counted elsewhere (closing)
    await db.putSegment(seg("late-cam", 1000, 2000)); // older than the newest: reloaded
    expect(await fromCoverage("late-cam", 0, 1e13)).toEqual([{ startMs: 1000, endMs: 2000 }, { startMs: 5000, endMs: 9000 }, { startMs: 11_000, endMs: 12_000 }]);
  });

  test("gaps from the cache equal a direct query, after put, close, delete and replace", async () => {
    const direct = async (from: number, to: number) =>
      (await db.all(`SELECT start_ms, end_ms FROM gaps WHERE camera_id = 'g' AND stream = 'main' AND start_ms < $1 AND (end_ms IS NULL OR end_ms > $2) ORDER BY start_ms`, [to, from])).map((r) => [Number(r.start_ms), r.end_ms === null ? null : Number(r.end_ms)]);
    const cached = async (from: number, to: number) => (await db.gaps("g", "main", from, to)).map((g) => [g.startMs, g.endMs]);
    const same = async () => {
      for (const [f, t] of [[0, 1e13], [1500, 2500], [2000, 2001], [3000, 9000], [10_000, 20_000]] as const) expect(await cached(f, t)).toEqual(await direct(f, t));
    };
    await same();
    await db.putGap({ cameraId: "g", stream: "main", startMs: 1000, endMs: 2000, reason: "camera-offline" });
    await same();
    await db.putGap({ cameraId: "g", stream: "main", startMs: 5000, endMs: null, reason: "camera-offline" });
    await same();
    expect(await cached(0, 1e13)).toEqual([[1000, 2000], [5000, null]]);
    await db.putGap({ cameraId: "g", stream: "main", startMs: 5000, endMs: 8000, reason: "camera-offline" }); // closed
    await same();
    expect(await cached(8000, 9000)).toEqual([]);
    await db.deleteGap({ cameraId: "g", stream: "main", startMs: 1000 });
    await same();
    expect(await cached(0, 1e13)).toEqual([[5000, 8000]]);
    const before = await db.gaps("g", "main", 0, 1e13);
    before[0]!.endMs = 1; // a caller changing its copy does not change the cache
    await same();
    await db.replaceGapsAndLocks([{ cameraId: "g", stream: "main", startMs: 100, endMs: 200, reason: "crash" }], []);
    await same();
    expect(await cached(0, 1e13)).toEqual([[100, 200]]);
  });
});

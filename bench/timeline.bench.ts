/**
 * Micro-benchmark (not a test): MediaStore.timeline over 30 days of one camera = 43,200
 * one-minute segments, in an index that also holds 3 more cameras × 2 streams of the same.
 * Rows go straight into an index (no media files: opening a MediaStore would reconcile them
 * away), and the query runs through the same index calls MediaStore.timeline() makes (the
 * edge's SQLite index). The baseline (same run) is the per-call index query the ranges-only
 * timeline made before its coverage cache.
 * Usage: bun bench/timeline.bench.ts
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteIndex } from "../lib/store/sqlite-index.ts";
import { MONTH_SEGMENTS, MONTH_T0, writeMonthIndex } from "./lib/month-index.ts";

const dir = await mkdtemp(join(tmpdir(), "store-bench-"));
const path = join(dir, "index.sqlite");
const T0 = MONTH_T0;
const N = MONTH_SEGMENTS;
let t = performance.now();
await writeMonthIndex(path);
const db = await SqliteIndex.open(path);
console.log(`index with ${8 * N} rows ready in ${(performance.now() - t).toFixed(0)} ms`);

/** MediaStore.timeline's merge and clip to the window. */
function merge(starts: number[], ends: number[], from: number, to: number) {
  const ranges: { startMs: number; endMs: number }[] = [];
  for (let i = 0; i < starts.length; i++) {
    const last = ranges[ranges.length - 1];
    if (last && starts[i]! - last.endMs <= 1500) last.endMs = Math.max(last.endMs, ends[i]!);
    else ranges.push({ startMs: starts[i]!, endMs: ends[i]! });
  }
  return ranges.map((r) => ({ startMs: Math.max(r.startMs, from), endMs: Math.min(r.endMs, to) })).filter((r) => r.endMs > r.startMs);
}

const runs = 41;
const stats = (xs: number[]) => {
  xs.sort((a, b) => a - b);
  return { median: xs[Math.floor(xs.length / 2)]!, p90: xs[Math.floor(xs.length * 0.9)]!, min: xs[0]! };
};
const fmt = (x: { median: number; p90: number; min: number }) => `median ${x.median.toFixed(2)} ms, p90 ${x.p90.toFixed(2)} ms, min ${x.min.toFixed(2)} ms`;
// Baseline in the same run: the queries the timeline made before the coverage cache (the index for
// the segment rows and the gaps on every call), through the same connection.
const baseline = async (from: number, to: number) => {
  const sp = await db.spans("cam2", "main", from, to);
  await db.all(`SELECT * FROM gaps WHERE camera_id = $1 AND stream = $2 AND start_ms < $3 AND (end_ms IS NULL OR end_ms > $4) ORDER BY start_ms`, ["cam2", "main", to, from]);
  return merge(sp.start, sp.end, from, to);
};
t = performance.now();
await db.coverageIn("cam2", "main", T0, T0 + 1);
console.log(`first query of the stream (loads its coverage): ${(performance.now() - t).toFixed(1)} ms`);
for (const [label, from, to] of [["30 days", T0, T0 + N * 60_000], ["1 hour", T0 + 10 * 86_400_000, T0 + 10 * 86_400_000 + 3_600_000]] as const) {
  const full: number[] = [];
  const lean: number[] = [];
  const base: number[] = [];
  const api: number[] = [];
  let n = 0;
  for (let i = 0; i < runs; i++) {
    t = performance.now();
    const segs = await db.segmentsLite("cam2", "main", from, to);
    await db.gaps("cam2", "main", from, to);
    merge(segs.map((s) => s.startMs), segs.map((s) => s.endMs), from, to);
    full.push(performance.now() - t);
    n = segs.length;
    t = performance.now();
    const sp = await db.coverageIn("cam2", "main", from, to);
    await db.gaps("cam2", "main", from, to);
    const got = merge(sp.start, sp.end, from, to);
    lean.push(performance.now() - t);
    t = performance.now();
    await db.coverageIn("cam2", "main", from, to);
    await db.gaps("cam2", "main", from, to);
    await db.countSegments("cam2", "main", from, to);
    api.push(performance.now() - t);
    t = performance.now();
    const want = await baseline(from, to);
    base.push(performance.now() - t);
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error("ranges differ from the baseline");
  }
  const [l, b] = [stats(lean), stats(base)];
  console.log(`timeline ${label} (${n} segments), with segment objects: ${fmt(stats(full))}`);
  console.log(`timeline ${label} (${n} segments), ranges+gaps only:     ${fmt(l)}`);
  console.log(`timeline ${label} (${n} segments), + segment count (the edge API's form): ${fmt(stats(api))}`);
  console.log(`timeline ${label} (${n} segments), baseline (index query per call): ${fmt(b)}; ratio median ${(l.median / b.median).toFixed(3)}`);
}
await db.close();
await rm(dir, { recursive: true, force: true });

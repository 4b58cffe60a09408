/**
 * Micro-benchmark (not a test): MediaStore.timeline over 30 days of one camera = 43,200
 * one-minute segments, in an index that also holds 3 more cameras × 2 streams of the same.
 * Rows go straight into an index (no media files: opening a MediaStore would reconcile them
 * away), and the query runs through the same IndexDb calls MediaStore.timeline() makes.
 * Usage: bun bench/timeline.bench.ts
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IndexDb } from "../lib/store/db.ts";

const dir = await mkdtemp(join(tmpdir(), "store-bench-"));
const path = join(dir, "index.duckdb");
let db = await IndexDb.open(path);
const T0 = Date.UTC(2026, 0, 1);
const N = 43_200;
let t = performance.now();
await db.run(`INSERT INTO formats VALUES (1, 'video/mp4; codecs="avc1.64001f"', 1280, 720)`);
await db.run(
  `INSERT INTO segments SELECT 'cam' || c, s, $1::BIGINT + i * 60000, $1::BIGINT + i * 60000 + 60000, 6000000, 1, repeat('0', 64)
   FROM range(1, 5) r(c), (VALUES ('main'), ('sub')) v(s), range($2::BIGINT) q(i)`,
  [BigInt(T0), BigInt(N)],
);
await db.close();
db = await IndexDb.open(path);
console.log(`index with ${8 * N} rows ready in ${(performance.now() - t).toFixed(0)} ms`);

function merge(starts: number[], ends: number[]) {
  const ranges: { startMs: number; endMs: number }[] = [];
  for (let i = 0; i < starts.length; i++) {
    const last = ranges[ranges.length - 1];
    if (last && starts[i]! - last.endMs <= 1500) last.endMs = Math.max(last.endMs, ends[i]!);
    else ranges.push({ startMs: starts[i]!, endMs: ends[i]! });
  }
  return ranges;
}

const runs = 41;
const stats = (xs: number[]) => {
  xs.sort((a, b) => a - b);
  return `median ${xs[Math.floor(xs.length / 2)]!.toFixed(2)} ms, p90 ${xs[Math.floor(xs.length * 0.9)]!.toFixed(2)} ms, min ${xs[0]!.toFixed(2)} ms`;
};
for (const [label, from, to] of [["30 days", T0, T0 + N * 60_000], ["1 hour", T0 + 10 * 86_400_000, T0 + 10 * 86_400_000 + 3_600_000]] as const) {
  const full: number[] = [];
  const lean: number[] = [];
  let n = 0;
  for (let i = 0; i < runs; i++) {
    t = performance.now();
    const segs = await db.segmentsLite("cam2", "main", from, to);
    await db.gaps("cam2", "main", from, to);
    merge(segs.map((s) => s.startMs), segs.map((s) => s.endMs));
    full.push(performance.now() - t);
    n = segs.length;
    t = performance.now();
    const sp = await db.spans("cam2", "main", from, to);
    await db.gaps("cam2", "main", from, to);
    merge(sp.start, sp.end);
    lean.push(performance.now() - t);
  }
  console.log(`timeline ${label} (${n} segments), with segment objects: ${stats(full)}`);
  console.log(`timeline ${label} (${n} segments), ranges+gaps only:     ${stats(lean)}`);
}
await db.close();
await rm(dir, { recursive: true, force: true });

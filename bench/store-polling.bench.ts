/**
 * What the edge's periodic store work costs as the index grows, each next to its baseline in
 * the same run: the disk watcher's and health report's volume figures (usage(), with its
 * per-camera GROUP BY, vs volumeUsage(), statfs only), and a retention pass of 16 cameras with
 * an age limit and nothing to delete (with retention's AgeQuiet memory vs without: a query per
 * camera every storage.retentionIntervalMs, and the camera list's GROUP BY every pass). CPU of
 * this process per call, after one warm call.
 *
 *   bun bench/store-polling.bench.ts [--rows 1000,100000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MediaStore } from "../lib/store/index.ts";
import type { SegmentRecord } from "../lib/store/types.ts";
import { cpuMsPerCall } from "./lib/proc.ts";

const { values } = parseArgs({ options: { rows: { type: "string", default: "1000,100000" } } });
const CAMERAS = 16;


const lines = ["| index rows | usage() | volumeUsage() | retention pass, age limit, 16 cameras: without memory | with AgeQuiet | retention pass, no limits: without memory | with AgeQuiet |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"];
for (const n of values.rows!.split(",").map(Number)) {
  const root = mkdtempSync(join(tmpdir(), "store-polling-"));
  const store = await MediaStore.open({ root, minFreeBytes: 0 });
  // Rows only (no files): the queries are what is measured; nothing is old enough to delete.
  const db = (store as unknown as { db: { putSegments(r: SegmentRecord[]): Promise<void> } }).db;
  const rows: SegmentRecord[] = [];
  for (let i = 0; i < n; i++) {
    const cameraId = `cam${i % CAMERAS}`;
    const startMs = 1_700_000_000_000 + Math.floor(i / CAMERAS) * 60_000;
    rows.push({ id: `${cameraId}/main/${startMs}`, cameraId, stream: "main", startMs, endMs: startMs + 60_000, bytes: 15_000_000, path: `media/${cameraId}/main/d/${startMs}.mp4`, mime: "video/mp4", sha256: "0".repeat(64) } as SegmentRecord);
  }
  for (let i = 0; i < rows.length; i += 5000) await db.putSegments(rows.slice(i, i + 5000));
  const age = () => ({ maxAgeMs: 1e13 });
  const usage = await cpuMsPerCall(() => store.usage());
  const volume = await cpuMsPerCall(() => store.volumeUsage());
  const memo = await cpuMsPerCall(() => store.enforceRetention(age));
  const memoNone = await cpuMsPerCall(() => store.enforceRetention(() => ({})));
  (store as unknown as { ageQuiet: unknown }).ageQuiet = undefined; // the same store without the memory
  const plain = await cpuMsPerCall(() => store.enforceRetention(age));
  const plainNone = await cpuMsPerCall(() => store.enforceRetention(() => ({})));
  lines.push(`| ${n} | ${usage.toFixed(2)} ms | ${volume.toFixed(2)} ms | ${plain.toFixed(2)} ms | ${memo.toFixed(2)} ms | ${plainNone.toFixed(2)} ms | ${memoNone.toFixed(2)} ms |`);
  await store.close();
  rmSync(root, { recursive: true, force: true });
}
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}; CPU per call\n\n${lines.join("\n")}`);

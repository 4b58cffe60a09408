/**
 * Memory and CPU of reading a 30-day edge index (issue 13): 4 cameras × 2 streams × 43,200
 * one-minute segments, as bench/timeline.bench.ts builds it. Each case runs in its own child
 * process with the edge's process settings (edge/process-env.ts: freed
 * memory stays in RSS for 30 s), does the same read `--reads` times, and reports RSS before and
 * after, JavaScriptCore heap capacity, DuckDB's duckdb_memory() and CPU per read. The cases run
 * interleaved, `--rounds` times each. Baselines (same run): the forms the reads had before —
 * every column as JSON row objects turned into records, and the index digest made from those.
 *
 *   bun bench/index-reads.bench.ts [--reads 10] [--rounds 2]
 *
 * It reads the DuckDB index the edge ran until 2026-12-05 (now SQLite: bench/timeline.bench.ts).
 */
import { heapStats } from "bun:jsc";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EDGE_PROCESS_ENV } from "../edge/process-env.ts";
import { dayDigests, digestDays } from "../federation/protocol/digest.ts";
import { IndexDb } from "../lib/store/db.ts";
import { MONTH_SEGMENTS, MONTH_T0, writeMonthIndex } from "./lib/month-index.ts";
import { segmentId, segmentRelPath } from "../lib/store/layout.ts";
import type { SegmentRecord, StreamKind } from "../lib/store/types.ts";

const T0 = MONTH_T0;
const N = MONTH_SEGMENTS;
const STREAMS = ["cam1", "cam2", "cam3", "cam4"].flatMap((c) => (["main", "sub"] as const).map((s) => [c, s] as const));
const CASES = {
  "segments, row objects (before)": "old-segments",
  "segments, columns (now)": "segments",
  "spans: numbers only (now)": "spans",
  "digest of 8 streams from row objects (before)": "old-digest",
  "digest of 8 streams from spans (fallback)": "digest",
  "digest of 8 streams from SQL day hashes (now)": "sql-digest",
} as const;
type Case = (typeof CASES)[keyof typeof CASES];

const { values } = parseArgs({ options: { reads: { type: "string", default: "10" }, rounds: { type: "string", default: "2" }, child: { type: "string" }, index: { type: "string" } } });

if (values.child) {
  console.log(JSON.stringify(await child(values.index!, values.child as Case, Number(values.reads))));
  process.exit(0);
}

const dir = await mkdtemp(join(tmpdir(), "index-reads-"));
const path = join(dir, "index.duckdb");
await writeMonthIndex(path, "duckdb");
const results = new Map<string, Result[]>();
const loads = [loadavg()[0]!];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const [label, c] of Object.entries(CASES)) {
    const p = Bun.spawn([process.execPath, import.meta.path, "--child", c, "--index", path, "--reads", values.reads!], { env: { ...process.env, ...EDGE_PROCESS_ENV }, stdout: "pipe", stderr: "inherit" });
    const out = await new Response(p.stdout).text();
    if ((await p.exited) !== 0) throw new Error(`case ${c} failed`);
    results.set(label, [...(results.get(label) ?? []), JSON.parse(out) as Result]);
    loads.push(loadavg()[0]!);
  }
}
await rm(dir, { recursive: true, force: true });
const mb = (b: number) => (b / 1048576).toFixed(0);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${values.reads} reads per process, ${values.rounds} processes per case; load average (1 min) ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${navigator.hardwareConcurrency} cores\n`);
console.log("| read (30 days, 43,200 segments per stream) | RSS before reads | RSS after reads (runs) | growth | JSC heap capacity, max | DuckDB memory | CPU per read, median |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [label, rs] of results) {
  const growth = rs.map((r) => r.rssAfter - r.rssBefore);
  console.log(`| ${label} | ${mb(med(rs.map((r) => r.rssBefore)))} MB | ${rs.map((r) => mb(r.rssAfter)).join(", ")} MB | +${mb(med(growth))} MB | ${mb(Math.max(...rs.map((r) => r.heapCapMax)))} MB | ${mb(Math.max(...rs.map((r) => r.duckMax)))} MB | ${med(rs.flatMap((r) => r.cpuMs)).toFixed(0)} ms |`);
}

interface Result {
  rssBefore: number;
  rssAfter: number;
  heapCapMax: number;
  duckMax: number;
  cpuMs: number[];
}

async function child(indexPath: string, c: Case, reads: number): Promise<Result> {
  const db = await IndexDb.open(indexPath);
  const duck = async () => Number((await db.all(`SELECT sum(memory_usage_bytes)::DOUBLE AS b FROM duckdb_memory()`))[0]!.b);
  const to = T0 + N * 60_000 + 1;
  // The row-object read as IndexDb.segments() made it before (issue 13): every column as JSON, a record per row object.
  const toSegment = (r: Record<string, unknown>): SegmentRecord => {
    const [cameraId, stream, startMs] = [String(r.camera_id), r.stream as StreamKind, Number(r.start_ms)];
    const s: SegmentRecord = { id: segmentId(cameraId, stream, startMs), cameraId, stream, startMs, endMs: Number(r.end_ms), bytes: Number(r.bytes), path: segmentRelPath(cameraId, stream, startMs), mime: 'video/mp4; codecs="avc1.64001f"', width: 1280, height: 720 };
    if (r.sha256 !== null && r.sha256 !== undefined) s.sha256 = String(r.sha256);
    return s;
  };
  const rowObjects = async (cameraId: string, stream: StreamKind): Promise<SegmentRecord[]> =>
    (await db.all(`SELECT camera_id, stream, start_ms, end_ms, bytes, fmt, sha256 FROM segments WHERE camera_id = $1 AND stream = $2 AND start_ms < $3 AND end_ms > $4 ORDER BY start_ms`, [cameraId, stream, to, 0])).map(toSegment);
  const read = async (): Promise<unknown> => {
    if (c === "old-segments") return rowObjects("cam2", "main");
    if (c === "segments") return db.segments("cam2", "main", 0, to);
    if (c === "spans") return db.spans("cam2", "main", 0, to);
    const out = [];
    for (const [cam, st] of STREAMS) {
      let segs: [number, number, number][];
      if (c === "old-digest") {
        segs = (await rowObjects(cam, st)).filter((s) => !s.open).map((s) => [s.startMs, s.endMs, s.bytes]);
        out.push(dayDigestsBefore(segs));
      } else if (c === "sql-digest") out.push(digestDays(await db.segmentDays(cam, st, 0, to, to), []));
      else {
        const sp = await db.spans(cam, st, 0, to);
        segs = sp.start.map((s, i) => [s, sp.end[i]!, sp.bytes[i]!]);
        out.push(dayDigests(segs, []));
      }
    }
    return out;
  };
  await db.all(`SELECT count(*) FROM segments`); // warm: the index's blocks are read once
  const r: Result = { rssBefore: process.memoryUsage().rss, rssAfter: 0, heapCapMax: 0, duckMax: 0, cpuMs: [] };
  let keep: unknown;
  for (let i = 0; i < reads; i++) {
    const c0 = process.cpuUsage();
    keep = await read();
    const cu = process.cpuUsage(c0);
    r.cpuMs.push((cu.user + cu.system) / 1000);
    r.heapCapMax = Math.max(r.heapCapMax, heapStats().heapCapacity);
    r.duckMax = Math.max(r.duckMax, await duck());
  }
  void keep;
  r.rssAfter = process.memoryUsage().rss;
  await db.close();
  return r;
}

/** dayDigests as it was (every line of every day made first), segments only: the baseline. */
function dayDigestsBefore(segments: [number, number, number][]): [number, number, string][] {
  const days = new Map<number, string[]>();
  for (const [s, e, b] of segments) {
    const d = Math.floor(s / 86_400_000) * 86_400_000;
    let l = days.get(d);
    if (!l) days.set(d, (l = []));
    l.push(`s${s},${e},${b}`);
  }
  return [...days.entries()].sort((a, b) => a[0] - b[0]).map(([d, lines]) => [d, lines.length, createHash("sha256").update(lines.sort().join("\n")).digest("hex").slice(0, 16)]);
}

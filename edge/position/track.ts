/**
 * The edge's position track. Kept fixes go first to a journal on disk (one JSON-lines file per
 * UTC day under <dataDir>/track/, appended and fsynced), then to the `track_points` table in
 * the store's index; the journal is the truth, so a lost or rebuilt index is refilled from it
 * at open. Each committed segment gets the bounding box of the track during it
 * (`segment_bbox`), from the kept points and the raw fixes still in memory; segments committed
 * while no box could be stored (a crash between commit and box) get theirs from the kept track at the next open.
 */
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { appendFileDurable, mkdirPrivate } from "../../lib/fsutil.ts";
import { bboxOf, type BBox } from "../../lib/geo.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore, SegmentRecord } from "../../lib/store/index.ts";
import type { Fix, FixMode } from "./gpsd.ts";

/** A track point on disk and on the wire: [atMs, mode, lat, lon, speed m/s, heading°] (null when absent). */
export type TrackTuple = [number, FixMode, number | null, number | null, number | null, number | null];

export const toTuple = (f: Fix): TrackTuple => [f.atMs, f.mode, f.lat ?? null, f.lon ?? null, f.speed ?? null, f.heading ?? null];
export const fromTuple = (t: TrackTuple): Fix => ({
  atMs: t[0],
  mode: t[1],
  ...(t[2] !== null && t[3] !== null ? { lat: t[2], lon: t[3] } : {}),
  ...(t[4] !== null ? { speed: t[4] } : {}),
  ...(t[5] !== null ? { heading: t[5] } : {}),
});

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS track_points (t BIGINT PRIMARY KEY, mode INTEGER NOT NULL, lat DOUBLE, lon DOUBLE, speed DOUBLE, heading DOUBLE)`,
  `CREATE TABLE IF NOT EXISTS segment_bbox (camera_id VARCHAR NOT NULL, stream VARCHAR NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL,
     min_lat DOUBLE, max_lat DOUBLE, min_lon DOUBLE, max_lon DOUBLE, fixes INTEGER NOT NULL, PRIMARY KEY (camera_id, stream, start_ms))`,
];

const BBOX_INSERT = `INSERT INTO segment_bbox VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;
const BBOX_REPLACE = `INSERT OR REPLACE INTO segment_bbox VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;

const DAY = 86_400_000;
/** Per stream, at one open: a day of 1-minute segments. Older ones stay unboxed (search still finds the track). */
const MAX_MISSED_BOXES = 1440;
const dayFile = (ms: number) => `${new Date(Math.floor(ms / DAY) * DAY).toISOString().slice(0, 10)}.jsonl`;
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export interface SegmentBox extends BBox {
  cameraId: string;
  stream: string;
  startMs: number;
  endMs: number;
  /** Positions the box was made from (0 = no fix during the segment: no box). */
  fixes: number;
}

export class TrackStore {
  private readonly dir: string;
  private pending: Fix[] = [];
  private flushing: Promise<void> = Promise.resolve();
  /** Raw fixes of the last few minutes (segment boxes are more exact than the thinned track). */
  private raw: Fix[] = [];
  private detach: (() => void) | undefined;
  private boxing: Promise<void> = Promise.resolve();
  /**
   * Whether the index may hold a kept point. False on an edge that never had a position source
   * (no gpsd: most fixed sites): a segment's box then needs no index query — two per committed
   * segment per stream otherwise, each a DuckDB round trip through the thread pool, for nothing.
   */
  private mayHaveKept = true;

  private constructor(
    private readonly store: MediaStore,
    dataDir: string,
    private readonly log: Logger,
    private readonly rawKeepMs: number,
  ) {
    this.dir = join(dataDir, "track");
  }

  static async open(o: { store: MediaStore; dataDir: string; log: Logger; rawKeepMs?: number }): Promise<TrackStore> {
    const t = new TrackStore(o.store, o.dataDir, o.log, o.rawKeepMs ?? 15 * 60_000);
    await mkdirPrivate(t.dir);
    for (const s of SCHEMA) await o.store.companionIndex.run(s);
    await t.reconcile();
    await t.boxMissed();
    // Off the recording path: the writer never waits for a box (a slow index must not hold up commits).
    t.detach = o.store.observeCommits((seg) => {
      t.boxing = t.boxing.then(() => t.boxSegment(seg)).catch((e) => o.log.warn("segment box not stored", { err: e as Error, segment: seg.id }));
    });
    return t;
  }

  /** Journal lines newer than the index's newest point go into the index (rebuild, crash between the two writes). */
  private async reconcile(): Promise<void> {
    const idx = this.store.companionIndex;
    const [row] = await idx.all(`SELECT max(t) AS t FROM track_points`);
    const newest = row?.t === null || row?.t === undefined ? -1 : Number(row.t);
    this.mayHaveKept = newest >= 0;
    const files = (await readdir(this.dir)).filter((f) => /^\d{4}-\d{2}-\d{2}\.jsonl$/.test(f)).sort();
    let added = 0;
    for (const f of files) {
      if (newest >= 0 && Date.parse(f.slice(0, 10)) + DAY <= newest) continue;
      const rows: TrackTuple[] = [];
      for (const line of (await readFile(join(this.dir, f), "utf8")).split("\n")) {
        if (!line) continue;
        try {
          const t = JSON.parse(line) as TrackTuple;
          if (Array.isArray(t) && typeof t[0] === "number" && t[0] > newest) rows.push(t);
        } catch {
          // a torn last line (power cut mid-append) is skipped
        }
      }
      if (rows.length) await this.insert(rows);
      added += rows.length;
    }
    if (added) this.log.info("track index refilled from the journal", { points: added });
  }

  /**
   * Boxes the segments committed while no box could be stored: a crash can fall between a
   * commit and its box (a clean stop ends the sessions and stores their boxes before the index
   * closes: edge/main.ts). Made from the kept track (the raw fixes are gone by now),
   * only for segments the track covers, newest boxes onwards per stream.
   */
  private async boxMissed(): Promise<void> {
    const idx = this.store.companionIndex;
    const [first] = await idx.all(`SELECT min(t) AS t FROM track_points`);
    if (first?.t === null || first?.t === undefined) return;
    let boxed = 0;
    for (const c of await this.store.cameras()) {
      const [newest] = await idx.all(`SELECT max(start_ms) AS s FROM segment_bbox WHERE camera_id = $1 AND stream = $2`, [c.cameraId, c.stream]);
      const fromMs = newest?.s === null || newest?.s === undefined ? Number(first.t) : Number(newest.s) + 1;
      if (fromMs > c.lastMs) continue;
      const segs = await this.store.segments({ cameraId: c.cameraId, stream: c.stream, fromMs, toMs: c.lastMs + 1 });
      for (const seg of segs.filter((x) => x.startMs >= fromMs && !x.open).slice(-MAX_MISSED_BOXES)) {
        await this.boxSegment(seg);
        boxed++;
      }
    }
    if (boxed) this.log.info("segment boxes made for segments committed without one", { segments: boxed });
  }

  /** A point already indexed at the same millisecond wins (a re-read journal, two reports in one ms). */
  private insert(rows: TrackTuple[]): Promise<void> {
    if (rows.length) this.mayHaveKept = true;
    return this.store.companionIndex.tx(async (run) => {
      for (const r of rows) await run(`INSERT INTO track_points VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, [r[0], r[1], r[2], r[3], r[4], r[5]]);
    });
  }

  /** Every raw fix (for segment boxes); not persisted. */
  observe(f: Fix): void {
    this.raw.push(f);
    const cut = f.atMs - this.rawKeepMs;
    while (this.raw.length && this.raw[0]!.atMs < cut) this.raw.shift();
  }

  /** A fix the thinner kept: journal, then index (batched: call flush() or it runs on the next add). */
  add(f: Fix): Promise<void> {
    this.pending.push(f);
    return this.flush();
  }

  /** Writes what is pending; a failure is the caller's to see, the next flush runs regardless. */
  flush(): Promise<void> {
    const run = this.flushing.catch(() => undefined).then(async () => {
      if (!this.pending.length) return;
      const batch = this.pending;
      this.pending = [];
      const byDay = new Map<string, string>();
      for (const f of batch) byDay.set(dayFile(f.atMs), (byDay.get(dayFile(f.atMs)) ?? "") + JSON.stringify(toTuple(f)) + "\n");
      for (const [file, text] of byDay) await appendFileDurable(join(this.dir, file), text);
      // The journal has them: an index failure is repaired by reconcile() at the next open.
      await this.insert(batch.map(toTuple)).catch((e) => this.log.error("track points not indexed (they are in the journal)", { err: e as Error }));
    });
    this.flushing = run;
    return run;
  }

  /** Kept points with atMs in [fromMs, toMs), in time order. */
  async points(fromMs: number, toMs: number, limit = 100_000): Promise<Fix[]> {
    const rows = await this.store.companionIndex.all(`SELECT t, mode, lat, lon, speed, heading FROM track_points WHERE t >= $1 AND t < $2 ORDER BY t LIMIT $3`, [fromMs, toMs, limit]);
    return rows.map((r) => fromTuple([Number(r.t), Number(r.mode) as FixMode, num(r.lat), num(r.lon), num(r.speed), num(r.heading)]));
  }

  /** Kept points after `afterMs` as tuples, oldest first (track sync). */
  async after(afterMs: number, limit: number): Promise<TrackTuple[]> {
    await this.flush();
    const rows = await this.store.companionIndex.all(`SELECT t, mode, lat, lon, speed, heading FROM track_points WHERE t > $1 ORDER BY t LIMIT $2`, [afterMs, limit]);
    return rows.map((r) => [Number(r.t), Number(r.mode) as FixMode, num(r.lat), num(r.lon), num(r.speed), num(r.heading)]);
  }

  /** The track of a window as tuples (export sidecars): the point before it (where the vehicle was at its start), its points, the first after. */
  async around(fromMs: number, toMs: number): Promise<TrackTuple[]> {
    await this.flush();
    const before = await this.at(fromMs - 1);
    const inside = await this.points(fromMs, toMs);
    const [after] = await this.store.companionIndex.all(`SELECT t, mode, lat, lon, speed, heading FROM track_points WHERE t >= $1 ORDER BY t LIMIT 1`, [toMs]);
    const out = [...(before ? [before] : []), ...inside].map(toTuple);
    if (after) out.push([Number(after.t), Number(after.mode) as FixMode, num(after.lat), num(after.lon), num(after.speed), num(after.heading)]);
    return out;
  }

  /** The newest kept point at or before `atMs`. */
  async at(atMs: number): Promise<Fix | null> {
    const [r] = await this.store.companionIndex.all(`SELECT t, mode, lat, lon, speed, heading FROM track_points WHERE t <= $1 ORDER BY t DESC LIMIT 1`, [atMs]);
    return r ? fromTuple([Number(r.t), Number(r.mode) as FixMode, num(r.lat), num(r.lon), num(r.speed), num(r.heading)]) : null;
  }

  /** The bounding box of the track during [startMs, endMs): kept points, the one before (the vehicle was there at start), raw fixes. */
  async bbox(startMs: number, endMs: number): Promise<(BBox & { fixes: number }) | null> {
    const before = this.mayHaveKept ? await this.at(startMs) : null;
    const kept = this.mayHaveKept ? await this.points(startMs, endMs) : [];
    const raw = this.raw.filter((f) => f.atMs >= startMs && f.atMs < endMs);
    const pos = [...(before && before.lat !== undefined ? [before] : []), ...kept, ...raw].filter((f) => f.lat !== undefined) as { lat: number; lon: number }[];
    const b = bboxOf(pos);
    return b ? { ...b, fixes: pos.length } : null;
  }

  private async boxSegment(seg: SegmentRecord): Promise<void> {
    await this.flush();
    const b = await this.bbox(seg.startMs, seg.endMs);
    // Re-boxing a segment (a restart re-boxes the newest) replaces its row; every other is new.
    await this.store.companionIndex.putCompanionRow(BBOX_INSERT, BBOX_REPLACE, [
      seg.cameraId,
      seg.stream,
      seg.startMs,
      seg.endMs,
      b?.minLat ?? null,
      b?.maxLat ?? null,
      b?.minLon ?? null,
      b?.maxLon ?? null,
      b?.fixes ?? 0,
    ]);
  }

  async segmentBoxes(fromMs: number, toMs: number): Promise<SegmentBox[]> {
    const rows = await this.store.companionIndex.all(`SELECT * FROM segment_bbox WHERE start_ms < $1 AND end_ms > $2 ORDER BY start_ms`, [toMs, fromMs]);
    return rows.map((r) => ({
      cameraId: String(r.camera_id),
      stream: String(r.stream),
      startMs: Number(r.start_ms),
      endMs: Number(r.end_ms),
      minLat: num(r.min_lat) ?? NaN,
      maxLat: num(r.max_lat) ?? NaN,
      minLon: num(r.min_lon) ?? NaN,
      maxLon: num(r.max_lon) ?? NaN,
      fixes: Number(r.fixes),
    }));
  }

  /** Drops journal days and index rows older than `keepMs` before now. */
  async prune(nowMs: number, keepMs: number): Promise<void> {
    const cut = nowMs - keepMs;
    for (const f of await readdir(this.dir)) if (/^\d{4}-\d{2}-\d{2}\.jsonl$/.test(f) && Date.parse(f.slice(0, 10)) + DAY <= cut) await rm(join(this.dir, f), { force: true });
    await this.store.companionIndex.run(`DELETE FROM track_points WHERE t < $1`, [cut]);
    await this.store.companionIndex.run(`DELETE FROM segment_bbox WHERE end_ms < $1`, [cut]);
  }

  /** Boxes of the segments committed so far are stored (tests, close). */
  idle(): Promise<void> {
    return this.boxing;
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    this.detach?.();
    await this.boxing;
  }
}


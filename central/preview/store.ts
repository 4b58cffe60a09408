/**
 * Central's previews of edge footage: the files edges send (lib/preview format, kept as
 * received so a thumbnail at central is byte-identical to the edge's) under
 * DATA/preview/files/, and an index in central's database (pv_*, migration 0006 of
 * central/db): one row per segment preview (with its per-second levels), one per thumbnail,
 * one per activity run. Everything the API answers comes from here — no edge is contacted.
 * An upgraded installation's DATA/preview/preview.duckdb is copied into the database once.
 */
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { writeFileDurable } from "../../lib/store/layout.ts";
import { activityRuns, decodePreview, sha256Hex, type PreviewHeader } from "../../lib/preview/format.ts";
import { existsSync } from "node:fs";
import { Db } from "../db.ts";
import type { Database, SqlValue } from "../db/index.ts";
import { moveFromDuckdb, type MovedTable } from "../db/from-duckdb.ts";

export interface ActivityRun {
  siteId: string;
  cameraId: string;
  startMs: number;
  endMs: number;
  peak: number;
}

export interface ThumbRef {
  atMs: number;
  bytes: number;
  sha256: string;
  width: number;
  height: number;
}

export class PreviewRefused extends Error {
  constructor(
    readonly status: 400 | 422,
    message: string,
  ) {
    super(message);
  }
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const SEGMENT_COLUMNS = ["site_id", "camera_id", "stream", "start_ms", "end_ms", "bytes", "sha256", "path", "act_start_ms", "levels", "source", "received_ms"];
const THUMB_COLUMNS = ["site_id", "camera_id", "stream", "seg_start_ms", "idx", "at_ms", "bytes", "sha256", "width", "height"];
const RUN_COLUMNS = ["site_id", "camera_id", "stream", "seg_start_ms", "start_ms", "end_ms", "peak"];
const TEXT = new Set(["site_id", "camera_id", "stream", "sha256", "path", "levels", "source"]);
/** DuckDB's JSON rows give BIGINT as text: numbers for the database. */
const moved = (table: string, columns: string[]): MovedTable => ({ table, columns, row: (r) => columns.map((c): SqlValue => (r[c] === null || r[c] === undefined ? null : TEXT.has(c) ? String(r[c]) : Number(r[c]))) });
/** An upgraded installation's preview.duckdb (pv_segments first: the copy runs while it is empty in the database). */
export const PREVIEW_TABLES_IN_DUCKDB = [moved("pv_segments", SEGMENT_COLUMNS), moved("pv_thumbs", THUMB_COLUMNS), moved("pv_runs", RUN_COLUMNS)];

export class PreviewStore {
  readonly stats = { stored: 0, duplicates: 0, refused: 0, bytes: 0 };
  private constructor(
    private readonly db: Database,
    private readonly root: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** The preview files under dataDir/preview/files; the index in `db` (migrated), copied once from an older preview.duckdb. */
  static async open(dataDir: string, db: Database, clock: Clock, log: Logger): Promise<PreviewStore> {
    const root = join(dataDir, "preview");
    await mkdir(root, { recursive: true, mode: 0o700 });
    const old = join(root, "preview.duckdb");
    if (existsSync(old)) {
      const duck = await Db.open(old);
      try {
        await moveFromDuckdb(duck, db, PREVIEW_TABLES_IN_DUCKDB, log);
      } finally {
        await duck.close();
      }
      // Kept as a backup under another name: retention may empty pv_segments later, and an
      // old file still in place would then be copied again (previews whose files are gone).
      await rename(old, `${old}.moved`);
      await rename(`${old}.wal`, `${old}.moved.wal`).catch(() => undefined);
    }
    return new PreviewStore(db, root, clock, log);
  }

  private relPath(siteId: string, cameraId: string, stream: string, startMs: number): string {
    return `files/${siteId}/${cameraId}/${stream}/${day(startMs)}/${startMs}.preview`;
  }

  /**
   * Stores one preview a site sent (the site is the certificate's). The file must parse, every
   * thumbnail must match its hash, and it must be the preview of the segment the path names.
   * The same file again is a duplicate (nothing written); a different one replaces it.
   */
  async put(siteId: string, cameraId: string, stream: string, startMs: number, body: Uint8Array, sha256?: string): Promise<{ stored: boolean; sha256: string }> {
    const hash = sha256Hex(body);
    if (sha256 && sha256 !== hash) {
      this.stats.refused++;
      throw new PreviewRefused(422, `body SHA-256 ${hash} differs from the announced ${sha256}`);
    }
    let h: PreviewHeader;
    try {
      h = decodePreview(body).header;
    } catch (e) {
      this.stats.refused++;
      throw new PreviewRefused(422, (e as Error).message);
    }
    if (h.cameraId !== cameraId || h.stream !== stream || h.segmentStartMs !== startMs) {
      this.stats.refused++;
      throw new PreviewRefused(422, `the preview is of ${h.cameraId}/${h.stream}/${h.segmentStartMs}, not of ${cameraId}/${stream}/${startMs}`);
    }
    const have = await this.db.query<{ sha256: string }>(`SELECT sha256 FROM pv_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [siteId, cameraId, stream, startMs]);
    if (have[0]?.sha256 === hash) {
      this.stats.duplicates++;
      return { stored: false, sha256: hash };
    }
    const rel = this.relPath(siteId, cameraId, stream, startMs);
    await mkdir(dirname(join(this.root, rel)), { recursive: true, mode: 0o700 });
    await writeFileDurable(join(this.root, rel), body);
    const key = [siteId, cameraId, stream, startMs] as const;
    const replacing = have.length > 0;
    await this.db.transaction(async (tx) => {
      if (replacing) {
        await tx.run(`DELETE FROM pv_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [...key]);
        await tx.run(`DELETE FROM pv_thumbs WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND seg_start_ms = $4`, [...key]);
        await tx.run(`DELETE FROM pv_runs WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND seg_start_ms = $4`, [...key]);
      }
      await tx.run(`INSERT INTO pv_segments VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, [
        siteId, cameraId, stream, startMs, h.segmentEndMs, body.length, hash, rel, h.activity.startMs, JSON.stringify(h.activity.levels), h.source, this.clock.now(),
      ]);
      await tx.copyRows("pv_thumbs", THUMB_COLUMNS, h.thumbs.map((t, i) => [siteId, cameraId, stream, startMs, i, t.atMs, t.bytes, t.sha256, t.width, t.height]));
      await tx.copyRows("pv_runs", RUN_COLUMNS, activityRuns(h.activity).map((r) => [siteId, cameraId, stream, startMs, r.startMs, r.endMs, r.peak]));
    });
    this.stats.stored++;
    this.stats.bytes += body.length;
    return { stored: true, sha256: hash };
  }

  /** The thumbnail of a moment: the last one at or before `atMs` (within `maxAgeMs`), else the first after it. */
  async thumbnail(siteId: string, cameraId: string, atMs: number, maxAgeMs = 60_000): Promise<(ThumbRef & { jpeg: Uint8Array }) | null> {
    const rows = await this.db.query<{ at_ms: string; seg_start_ms: string; idx: number; stream: string; bytes: number; sha256: string; width: number; height: number }>(
      `SELECT at_ms, seg_start_ms, idx, stream, bytes, sha256, width, height FROM pv_thumbs WHERE site_id = $1 AND camera_id = $2 AND at_ms BETWEEN $3 AND $4
       ORDER BY CASE WHEN at_ms <= $5 THEN 0 ELSE 1 END, abs(at_ms - $5) LIMIT 1`,
      [siteId, cameraId, atMs - maxAgeMs, atMs + maxAgeMs, atMs],
    );
    const r = rows[0];
    if (!r) return null;
    const file = await readFile(join(this.root, this.relPath(siteId, cameraId, r.stream, Number(r.seg_start_ms)))).catch(() => null);
    if (!file) return null;
    const p = decodePreview(new Uint8Array(file));
    const jpeg = p.thumbs[r.idx];
    if (!jpeg || sha256Hex(jpeg) !== r.sha256) return null;
    return { atMs: Number(r.at_ms), bytes: r.bytes, sha256: r.sha256, width: r.width, height: r.height, jpeg };
  }

  /** Thumbnails in a window (for a strip), at most `limit`, evenly thinned. */
  async thumbnails(siteId: string, cameraId: string, fromMs: number, toMs: number, limit = 200): Promise<ThumbRef[]> {
    const rows = await this.db.query<{ at_ms: string; bytes: number; sha256: string; width: number; height: number }>(
      `SELECT at_ms, bytes, sha256, width, height FROM pv_thumbs WHERE site_id = $1 AND camera_id = $2 AND at_ms >= $3 AND at_ms < $4 ORDER BY at_ms`,
      [siteId, cameraId, fromMs, toMs],
    );
    const all = rows.map((r) => ({ atMs: Number(r.at_ms), bytes: r.bytes, sha256: r.sha256, width: r.width, height: r.height }));
    if (all.length <= limit) return all;
    const step = all.length / limit;
    return Array.from({ length: limit }, (_, i) => all[Math.floor(i * step)]!);
  }

  /** Activity levels over a window in buckets of `stepMs` (max of the seconds in each); null = no preview covers the bucket. */
  async activity(siteId: string, cameraId: string, fromMs: number, toMs: number, stepMs: number): Promise<(number | null)[]> {
    const n = Math.max(1, Math.ceil((toMs - fromMs) / stepMs));
    const out: (number | null)[] = new Array(n).fill(null);
    const rows = await this.db.query<{ act_start_ms: string; levels: string }>(
      `SELECT act_start_ms, levels FROM pv_segments WHERE site_id = $1 AND camera_id = $2 AND end_ms > $3 AND start_ms < $4`,
      [siteId, cameraId, fromMs, toMs],
    );
    for (const r of rows) {
      const start = Number(r.act_start_ms);
      const levels = JSON.parse(r.levels) as number[];
      for (const [i, l] of levels.entries()) {
        const t = start + i * 1000;
        if (t + 1000 <= fromMs || t >= toMs) continue;
        const b = Math.min(n - 1, Math.max(0, Math.floor((t - fromMs) / stepMs)));
        out[b] = Math.max(out[b] ?? 0, l);
      }
    }
    return out;
  }

  /**
   * Activity runs of the given cameras overlapping [fromMs, toMs), adjacent seconds (also across
   * segment boundaries) merged, at least `minLevel` at their peak.
   */
  async runs(cameras: { siteId: string; cameraId: string }[], fromMs: number, toMs: number, minLevel = 0, limit = 1000): Promise<ActivityRun[]> {
    if (!cameras.length) return [];
    const out: ActivityRun[] = [];
    for (const cam of cameras) {
      const rows = await this.db.query<{ start_ms: string; end_ms: string; peak: number }>(
        `SELECT start_ms, end_ms, peak FROM pv_runs WHERE site_id = $1 AND camera_id = $2 AND end_ms > $3 AND start_ms < $4 ORDER BY start_ms`,
        [cam.siteId, cam.cameraId, fromMs, toMs],
      );
      let cur: ActivityRun | null = null;
      for (const r of rows) {
        const s = Number(r.start_ms);
        const e = Number(r.end_ms);
        if (cur && s <= cur.endMs) {
          cur.endMs = Math.max(cur.endMs, e);
          cur.peak = Math.max(cur.peak, r.peak);
        } else {
          cur = { siteId: cam.siteId, cameraId: cam.cameraId, startMs: s, endMs: e, peak: r.peak };
          out.push(cur);
        }
      }
    }
    return out
      .filter((r) => r.peak >= minLevel)
      .sort((a, b) => a.startMs - b.startMs || a.cameraId.localeCompare(b.cameraId))
      .slice(0, limit);
  }

  /** The next activity run starting after `atMs` (or the previous one ending before it). */
  async step(siteId: string, cameraId: string, atMs: number, direction: "next" | "previous"): Promise<ActivityRun | null> {
    // The run containing atMs is neither next nor previous: look past its merged ends.
    const span = 86_400_000;
    const runs = direction === "next" ? await this.runs([{ siteId, cameraId }], atMs, atMs + 30 * span) : await this.runs([{ siteId, cameraId }], atMs - 30 * span, atMs);
    if (direction === "next") return runs.find((r) => r.startMs > atMs) ?? null;
    return runs.filter((r) => r.endMs <= atMs).at(-1) ?? null;
  }

  /** The (site, camera) pairs that have previews (for retention). */
  async cameras(): Promise<{ siteId: string; cameraId: string }[]> {
    const rows = await this.db.query<{ site_id: string; camera_id: string }>(`SELECT DISTINCT site_id, camera_id FROM pv_segments ORDER BY site_id, camera_id`);
    return rows.map((r) => ({ siteId: r.site_id, cameraId: r.camera_id }));
  }

  /** One camera's segment previews, newest first (for retention: age and bytes). */
  async segmentsOf(siteId: string, cameraId: string): Promise<{ stream: string; startMs: number; endMs: number; bytes: number }[]> {
    const rows = await this.db.query<{ stream: string; start_ms: string; end_ms: string; bytes: string }>(
      `SELECT stream, start_ms, end_ms, bytes FROM pv_segments WHERE site_id = $1 AND camera_id = $2 ORDER BY start_ms DESC, stream`,
      [siteId, cameraId],
    );
    return rows.map((r) => ({ stream: r.stream, startMs: Number(r.start_ms), endMs: Number(r.end_ms), bytes: Number(r.bytes) }));
  }

  /** Deletes one segment's preview: index rows first (the API stops showing it), then the file. */
  async remove(siteId: string, cameraId: string, stream: string, startMs: number): Promise<void> {
    const key = [siteId, cameraId, stream, startMs] as const;
    await this.db.transaction(async (tx) => {
      await tx.run(`DELETE FROM pv_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [...key]);
      await tx.run(`DELETE FROM pv_thumbs WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND seg_start_ms = $4`, [...key]);
      await tx.run(`DELETE FROM pv_runs WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND seg_start_ms = $4`, [...key]);
    });
    await rm(join(this.root, this.relPath(siteId, cameraId, stream, startMs)), { force: true });
  }

  /** The database is central's (closed by its opener). */
  async close(): Promise<void> {}
}

/**
 * Central's segment index in PostgreSQL (tables of migration 0007_media.sql): which segments
 * central holds, where their blobs are, and central's own gaps. Every node reads and writes the
 * same rows, so a segment committed on one node is played back on another. Rows only: the
 * blobs are central/media/store.ts's business. Bulk reads are one statement per call.
 */
import type { Database, Row, Sql, SqlValue } from "../db/index.ts";
import type { GapReason, SegmentRecord, StreamKind } from "../../lib/store/index.ts";
import { centralCameraId } from "../../federation/protocol/index.ts";

/** A segment row: the store's record plus where it lives and whose it is. */
export interface MediaSegment extends SegmentRecord {
  siteId: string;
  /** The edge's camera id (SegmentRecord.cameraId is central's `site.camera`). */
  siteCameraId: string;
  sha256: string;
  blobKey: string;
}

export interface MediaGap {
  siteId: string;
  cameraId: string;
  stream: StreamKind;
  startMs: number;
  endMs: number | null;
  reason: GapReason;
  detail?: string;
}

export type InsertOutcome = { inserted: true } | { inserted: false; existing: MediaSegment };

/** The columns rowValues() gives, in order (written out in each statement: SQL text never interpolates). */
const COLS = "site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key, committed_ms";

/** How far apart two rows with the same bytes may start and still be one segment held twice. */
export const SAME_BYTES_WITHIN_MS = 1000;

export class SegmentIndex {
  constructor(private readonly db: Database) {}

  /**
   * Inserts the row unless one with the same (site, camera, stream, start) exists — the key
   * decides "exactly once" across nodes; the loser gets the winner's row back.
   */
  async insert(s: MediaSegment, frags: Uint8Array | null, nowMs: number, withRow?: (tx: Sql) => Promise<void>): Promise<InsertOutcome> {
    return this.db.transaction(async (tx) => {
      const n = await tx.run(
        `INSERT INTO media_segments (site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key, committed_ms, frags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (site_id, camera_id, stream, start_ms) DO NOTHING`,
        [...rowValues(s, nowMs), frags],
      );
      if (n === 1) {
        await withRow?.(tx);
        return { inserted: true } as const;
      }
      const existing = await one(tx, s.siteId, s.siteCameraId, s.stream, s.startMs);
      if (!existing) throw new Error(`segment ${s.siteId}/${s.siteCameraId}/${s.stream}/${s.startMs}: insert conflicted but no row was found`);
      return { inserted: false, existing } as const;
    });
  }

  /** Bulk insert (the one-time import of an older installation's index); rows that exist are kept. */
  async insertMany(list: MediaSegment[], frags: (Uint8Array | null)[], nowMs: number, tx: Sql = this.db): Promise<number> {
    if (list.length === 0) return 0;
    return tx.copyRows("media_segments", [...COLS.split(", "), "frags"], list.map((s, i) => [...rowValues(s, nowMs), frags[i] ?? null]));
  }

  get(siteId: string, cameraId: string, stream: StreamKind, startMs: number): Promise<MediaSegment | null> {
    return one(this.db, siteId, cameraId, stream, startMs);
  }

  /** A row with these bytes starting within `withinMs` of `startMs` (the same segment held under a slightly different start). */
  async sameBytesNear(siteId: string, cameraId: string, stream: StreamKind, startMs: number, sha256: string, withinMs: number): Promise<MediaSegment | null> {
    const rows = await this.db.query(
      `SELECT site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key, committed_ms FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND sha256 = $4 AND start_ms BETWEEN $5 AND $6 ORDER BY start_ms LIMIT 1`,
      [siteId, cameraId, stream, sha256, startMs - withinMs, startMs + withinMs],
    );
    return rows[0] ? toSegment(rows[0]) : null;
  }

  /** Segments of one stream overlapping [from, to), by start. */
  async segments(siteId: string, cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<MediaSegment[]> {
    const rows = await this.db.query(
      `SELECT site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key, committed_ms FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $4 AND end_ms > $5 ORDER BY start_ms`,
      [siteId, cameraId, stream, toMs, fromMs],
    );
    return rows.map(toSegment);
  }

  /** Stored fragment tables of these starts (rows that have one), by start ms. */
  async fragmentTables(siteId: string, cameraId: string, stream: StreamKind, starts: number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    if (starts.length === 0) return out;
    // A range, not an array parameter: the same statement on both drivers.
    const want = new Set(starts);
    const rows = await this.db.query<{ start_ms: number; frags: Uint8Array }>(
      `SELECT start_ms, frags FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms >= $4 AND start_ms <= $5 AND frags IS NOT NULL`,
      [siteId, cameraId, stream, Math.min(...starts), Math.max(...starts)],
    );
    for (const r of rows) if (want.has(Number(r.start_ms))) out.set(Number(r.start_ms), r.frags);
    return out;
  }

  /** Per stream: first start, last end, bytes, count — for the whole index or one site. */
  async cameras(siteId?: string): Promise<{ siteId: string; cameraId: string; stream: StreamKind; firstMs: number; lastMs: number; bytes: number; segments: number }[]> {
    const rows = await this.db.query(
      `SELECT site_id, camera_id, stream, min(start_ms) AS first, max(end_ms) AS last, sum(bytes) AS bytes, count(*) AS n FROM media_segments
       WHERE ($1::text IS NULL OR site_id = $1) GROUP BY site_id, camera_id, stream ORDER BY site_id, camera_id, stream`,
      [siteId ?? null],
    );
    return rows.map((r) => ({
      siteId: String(r.site_id),
      cameraId: String(r.camera_id),
      stream: r.stream as StreamKind,
      firstMs: Number(r.first),
      lastMs: Number(r.last),
      bytes: Number(r.bytes),
      segments: Number(r.n),
    }));
  }

  /** Every blob key the site's rows point at (the sweeper keeps these). */
  async blobKeys(siteId: string): Promise<Set<string>> {
    const rows = await this.db.query<{ blob_key: string }>(`SELECT blob_key FROM media_segments WHERE site_id = $1`, [siteId]);
    return new Set(rows.map((r) => r.blob_key));
  }

  /** Whether a row points at this blob. */
  async pointsAt(blobKey: string): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM media_segments WHERE blob_key = $1`, [blobKey])).length > 0;
  }

  /** Rows of one site (or all), in key order, a page after `after` at a time (check walks them). */
  async page(siteId: string | null, after: { cameraId: string; stream: string; startMs: number; siteId: string } | null, limit: number): Promise<MediaSegment[]> {
    const a = after ?? { siteId: "", cameraId: "", stream: "", startMs: -1 };
    const rows = await this.db.query(
      `SELECT site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key, committed_ms FROM media_segments WHERE ($1::text IS NULL OR site_id = $1) AND (site_id, camera_id, stream, start_ms) > ($2, $3, $4, $5)
       ORDER BY site_id, camera_id, stream, start_ms LIMIT $6`,
      [siteId, a.siteId, a.cameraId, a.stream, a.startMs, limit],
    );
    return rows.map(toSegment);
  }

  /** Deletes one row (retention, after its blob); false when it was already gone. */
  async delete(s: { siteId: string; siteCameraId: string; stream: StreamKind; startMs: number }): Promise<boolean> {
    return (await this.db.run(`DELETE FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [s.siteId, s.siteCameraId, s.stream, s.startMs])) === 1;
  }

  async putGap(g: MediaGap, tx: Sql = this.db): Promise<void> {
    await tx.run(
      `INSERT INTO media_gaps (site_id, camera_id, stream, start_ms, end_ms, reason, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (site_id, camera_id, stream, start_ms) DO UPDATE SET end_ms = excluded.end_ms, reason = excluded.reason, detail = excluded.detail`,
      [g.siteId, g.cameraId, g.stream, g.startMs, g.endMs, g.reason, g.detail ?? null],
    );
  }

  /** Gaps overlapping [from, to) (open ones included), by start. */
  async gaps(siteId: string, cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<MediaGap[]> {
    const rows = await this.db.query(
      `SELECT * FROM media_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $4 AND (end_ms IS NULL OR end_ms > $5) ORDER BY start_ms`,
      [siteId, cameraId, stream, toMs, fromMs],
    );
    return rows.map((r) => {
      const g: MediaGap = { siteId: String(r.site_id), cameraId: String(r.camera_id), stream: r.stream as StreamKind, startMs: Number(r.start_ms), endMs: r.end_ms === null ? null : Number(r.end_ms), reason: r.reason as GapReason };
      if (r.detail !== null) g.detail = String(r.detail);
      return g;
    });
  }
}

function rowValues(s: MediaSegment, nowMs: number): SqlValue[] {
  return [s.siteId, s.siteCameraId, s.stream, s.startMs, s.endMs, s.bytes, s.mime, s.width ?? null, s.height ?? null, s.sha256, s.blobKey, nowMs];
}

async function one(sql: Sql, siteId: string, cameraId: string, stream: StreamKind, startMs: number): Promise<MediaSegment | null> {
  const [r] = await sql.query(`SELECT site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key, committed_ms FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [siteId, cameraId, stream, startMs]);
  return r ? toSegment(r) : null;
}

function toSegment(r: Row): MediaSegment {
  const siteId = String(r.site_id);
  const siteCameraId = String(r.camera_id);
  const cameraId = centralCameraId(siteId, siteCameraId);
  const stream = r.stream as StreamKind;
  const startMs = Number(r.start_ms);
  const s: MediaSegment = {
    id: `${cameraId}/${stream}/${startMs}`,
    siteId,
    siteCameraId,
    cameraId,
    stream,
    startMs,
    endMs: Number(r.end_ms),
    bytes: Number(r.bytes),
    path: String(r.blob_key),
    blobKey: String(r.blob_key),
    mime: String(r.mime),
    sha256: String(r.sha256),
  };
  if (r.width !== null) s.width = Number(r.width);
  if (r.height !== null) s.height = Number(r.height);
  return s;
}

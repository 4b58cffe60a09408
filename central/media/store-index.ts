/**
 * MediaStore's index (lib/store StoreIndex) over central's PostgreSQL tables (media_segments,
 * media_gaps), so central's store keeps its writer, recovery, retention and readers while its
 * rows live where every central node reads them. Camera ids are central's `site.camera`: the
 * row splits them into site and camera. The segment's path in the store is its blob key.
 * Evidence locks stay in memory here: their files in the store are the truth, read at open.
 */
import { splitCentralCameraId, centralCameraId } from "../../federation/protocol/index.ts";
import { RowRefusedError, type EvidenceLock, type GapReason, type SegmentRecord, type SegmentSpans, type StoreIndex, type StreamKind } from "../../lib/store/index.ts";
import { NotOwnerError, partitionOf, type Leases } from "../cluster/index.ts";
import type { Database, Row, Sql, SqlValue } from "../db/index.ts";
import { claimFreeStart } from "./free-start.ts";
import { SAME_BYTES_WITHIN_MS } from "./segments.ts";

type Gap = Awaited<ReturnType<StoreIndex["allGaps"]>>[number];


/** (site, camera) of a store camera id; one without a site (not `site.camera`) keeps site ''. */
function split(cameraId: string): [string, string] {
  const who = splitCentralCameraId(cameraId);
  return who ? [who.siteId, who.cameraId] : ["", cameraId];
}
/**
 * Times and sizes as BIGINT: the writer's end times carry fractions of a millisecond (DuckDB
 * rounded them on insert; PGlite refuses them). Bounds round so the integer comparison equals
 * the fractional one: `x < t` ⇔ `x < ceil(t)`, `x > t` ⇔ `x > floor(t)`.
 */
const ms = Math.round;
const below = Math.ceil;
const above = Math.floor;
const joined = (site: unknown, camera: unknown) => (site === "" ? String(camera) : centralCameraId(String(site), String(camera)));

/**
 * Fences a live recording's row (central/cluster Leases): inside the insert's transaction,
 * resolves to the epoch at which this node owns the site's partition, or throws (the
 * transaction rolls back) when another node claimed it. Null: no fence yet (not started).
 */
export type SegmentFence = (tx: Sql, siteId: string) => Promise<number | null>;

/** The fence of a node's leases: fenced in the transaction, the epoch of the site's partition stored with the row. */
export function leaseFence(leases: Leases): SegmentFence {
  return async (tx, siteId) => {
    await leases.fence(tx, siteId);
    return leases.owned().get(partitionOf(siteId)) ?? null;
  };
}

export class PgStoreIndex implements StoreIndex {
  private locks = new Map<string, EvidenceLock>();

  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
    /** Set: the store's writer commits (putSegment) are fenced by the site's partition epoch, stored with the row. */
    private readonly fence?: () => SegmentFence | null,
  ) {}

  /**
   * A live recording's row (the writer's commit, or a file recovery indexes): fenced when a fence
   * is set, refused for good when this node lost the site. It never replaces another commit's row
   * at its start (see claimStart).
   */
  async putSegment(s: SegmentRecord, frags?: Uint8Array | null): Promise<void> {
    const fence = this.fence?.();
    const [site] = split(s.cameraId);
    if (!fence || site === "") return this.putSegments([s], [frags]);
    try {
      await this.db.transaction(async (tx) => {
        const epoch = await fence(tx, site);
        await this.claimStart(tx, s, frags, epoch);
      });
    } catch (e) {
      if (!(e instanceof NotOwnerError)) throw e;
      // The new owner may have recovered this very file already (this node was paused, not dead): then the file is its.
      const adopted = (await this.db.query(`SELECT 1 FROM media_segments WHERE blob_key = $1`, [s.path])).length > 0;
      throw new RowRefusedError((e as Error).message, adopted);
    }
  }

  /**
   * Inserts a writer's row at its start, or — when another commit holds that start (a copy of
   * the same moment the edge backfilled while nobody recorded live: a new owner's first live
   * segment starts exactly where the edge's segment does) — at the next free millisecond
   * (claimFreeStart), as CentralMedia.commit moves a copy. Replacing that row would leave the
   * copy's blob without a row. `s` is updated to the start stored; its end stays, so the stream
   * stays contiguous. Its own row again (a retried write: same file) is refreshed. A row with the
   * same SHA-256 within SAME_BYTES_WITHIN_MS is the same footage: the writer's row is refused
   * (RowRefusedError, its file goes), as CentralMedia.commit answers a copy of held bytes
   * "duplicate".
   */
  private async claimStart(tx: Sql, s: SegmentRecord, frags: Uint8Array | null | undefined, epoch: number | null): Promise<void> {
    const first = ms(s.startMs);
    // The same bytes already held within a second of this start (central recorded live exactly
    // a segment the edge had copied, dated a few ms apart): the footage is there once already;
    // this file is the second copy.
    const [site, cam] = split(s.cameraId);
    if (s.sha256) {
      const [alike] = await tx.query<{ start_ms: number }>(SAME_BYTES_NEAR, [site, cam, s.stream, s.sha256, first - SAME_BYTES_WITHIN_MS, first + SAME_BYTES_WITHIN_MS, s.path]);
      if (alike) throw new RowRefusedError(`the same footage (SHA-256 ${s.sha256.slice(0, 12)}…) is already held at ${alike.start_ms}`, false);
    }
    const placed = await claimFreeStart(first, async (start) => ((await tx.query(INSERT_UNLESS_HELD, rowValues({ ...s, startMs: start }, frags, ms(this.now()), epoch))).length ? start : undefined));
    if (placed === undefined) throw new Error(`no free start within 1 s of ${first} for ${s.path}`);
    if (placed !== first) Object.assign(s, { startMs: placed, id: `${s.cameraId}/${s.stream}/${placed}` });
  }

  /** Insert or replace (the DuckDB index's INSERT OR REPLACE), one statement for the batch. */
  async putSegments(list: SegmentRecord[], frags: (Uint8Array | null | undefined)[] = []): Promise<void> {
    await this.upsert(this.db, list, frags, null);
  }

  private async upsert(db: Sql, list: SegmentRecord[], frags: (Uint8Array | null | undefined)[], epoch: number | null): Promise<void> {
    const per = 500;
    for (let i = 0; i < list.length; i += per) {
      const params: SqlValue[] = [];
      const tuples: string[] = [];
      list.slice(i, i + per).forEach((s, k) => {
        const vals = rowValues(s, frags[i + k], ms(this.now()), epoch);
        tuples.push(`(${vals.map((v) => `$${params.push(v)}`).join(", ")})`);
      });
      await db.run(
        `INSERT INTO media_segments (site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key, frags, committed_ms, epoch) VALUES ${tuples.join(", ")}
         ON CONFLICT (site_id, camera_id, stream, start_ms) DO UPDATE SET end_ms = excluded.end_ms, bytes = excluded.bytes, mime = excluded.mime, width = excluded.width,
           height = excluded.height, sha256 = excluded.sha256, blob_key = excluded.blob_key, frags = excluded.frags, committed_ms = excluded.committed_ms, epoch = excluded.epoch`,
        params,
      );
    }
  }

  /** The row key decides between nodes: an existing row is returned, never replaced. */
  async insertSegment(s: SegmentRecord, frags?: Uint8Array | null): Promise<SegmentRecord | null> {
    const [site, cam] = split(s.cameraId);
    const vals: SqlValue[] = [site, cam, s.stream, ms(s.startMs), ms(s.endMs), ms(s.bytes), s.mime, s.width ?? null, s.height ?? null, s.sha256 ?? "", s.path, frags ?? null, ms(this.now())];
    const inserted = await this.db.query(
      `INSERT INTO media_segments (site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key, frags, committed_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (site_id, camera_id, stream, start_ms) DO NOTHING RETURNING start_ms`,
      vals,
    );
    if (inserted.length) return null;
    const rows = await this.db.query(
      `SELECT site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`,
      [site, cam, s.stream, ms(s.startMs)],
    );
    // Deleted between the two statements (retention): try once more.
    return rows[0] ? toSegment(rows[0]) : this.insertSegment(s, frags);
  }

  async segments(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentRecord[]> {
    const [site, cam] = split(cameraId);
    const rows = await this.db.query(
      `SELECT site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key FROM media_segments
       WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $4 AND end_ms > $5 ORDER BY start_ms`,
      [site, cam, stream, below(toMs), above(fromMs)],
    );
    return rows.map(toSegment);
  }

  async segmentsLite(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentRecord[]> {
    return (await this.segments(cameraId, stream, fromMs, toMs)).map(({ sha256: _s, ...rest }) => rest);
  }

  async countSegments(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, exceptStarts: number[] = []): Promise<number> {
    const [site, cam] = split(cameraId);
    const rows = await this.db.query<{ start_ms: number }>(`SELECT start_ms FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $4 AND end_ms > $5`, [site, cam, stream, below(toMs), above(fromMs)]);
    const except = new Set(exceptStarts);
    return rows.filter((r) => !except.has(Number(r.start_ms))).length;
  }

  async spans(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentSpans> {
    const [site, cam] = split(cameraId);
    const rows = await this.db.query<{ start_ms: number; end_ms: number; bytes: number }>(
      `SELECT start_ms, end_ms, bytes FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $4 AND end_ms > $5 ORDER BY start_ms`,
      [site, cam, stream, below(toMs), above(fromMs)],
    );
    return { start: rows.map((r) => Number(r.start_ms)), end: rows.map((r) => Number(r.end_ms)), bytes: rows.map((r) => Number(r.bytes)) };
  }

  /** Runs of back-to-back segments overlapping [from, to), as the DuckDB index gives them. */
  async coverageIn(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<{ start: number[]; end: number[] }> {
    const [site, cam] = split(cameraId);
    const rows = await this.db.query<{ start_ms: number; end_ms: number }>(
      `SELECT start_ms, end_ms FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $4 AND end_ms > $5 ORDER BY start_ms`,
      [site, cam, stream, below(toMs), above(fromMs)],
    );
    const start: number[] = [];
    const end: number[] = [];
    for (const r of rows) {
      const s = Number(r.start_ms);
      const e = Number(r.end_ms);
      const n = start.length;
      if (n > 0 && s === end[n - 1] && e > s) end[n - 1] = e;
      else {
        start.push(s);
        end.push(e);
      }
    }
    return { start, end };
  }

  async deleteSegment(s: { cameraId: string; stream: StreamKind; startMs: number }): Promise<void> {
    const [site, cam] = split(s.cameraId);
    await this.db.run(`DELETE FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [site, cam, s.stream, ms(s.startMs)]);
  }

  async fragmentTables(cameraId: string, stream: StreamKind, starts: number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    if (starts.length === 0) return out;
    const [site, cam] = split(cameraId);
    const want = new Set(starts);
    const rows = await this.db.query<{ start_ms: number; frags: Uint8Array }>(
      `SELECT start_ms, frags FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms >= $4 AND start_ms <= $5 AND frags IS NOT NULL`,
      [site, cam, stream, below(Math.min(...starts)), above(Math.max(...starts))],
    );
    for (const r of rows) if (want.has(Number(r.start_ms))) out.set(Number(r.start_ms), r.frags);
    return out;
  }

  async allSegments(): Promise<SegmentRecord[]> {
    const rows = await this.db.query(`SELECT site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key FROM media_segments ORDER BY site_id, camera_id, stream, start_ms`);
    return rows.map(toSegment);
  }

  async oldest(cameraId: string | null, limit: number, afterStartMs: number): Promise<SegmentRecord[]> {
    if (cameraId === null) {
      const rows = await this.db.query(
        `SELECT site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key FROM media_segments WHERE start_ms > $1 ORDER BY start_ms, site_id, camera_id, stream LIMIT $2`,
        [above(afterStartMs), limit],
      );
      return rows.map(toSegment);
    }
    const [site, cam] = split(cameraId);
    const rows = await this.db.query(
      `SELECT site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND start_ms > $3 ORDER BY start_ms, stream LIMIT $4`,
      [site, cam, above(afterStartMs), limit],
    );
    return rows.map(toSegment);
  }

  async cameras(): Promise<{ cameraId: string; stream: StreamKind; firstMs: number; lastMs: number; bytes: number; segments: number }[]> {
    const rows = await this.db.query(
      `SELECT site_id, camera_id, stream, min(start_ms) AS first, max(end_ms) AS last, sum(bytes) AS bytes, count(*) AS n FROM media_segments GROUP BY site_id, camera_id, stream`,
    );
    return rows
      .map((r) => ({ cameraId: joined(r.site_id, r.camera_id), stream: r.stream as StreamKind, firstMs: Number(r.first), lastMs: Number(r.last), bytes: Number(r.bytes), segments: Number(r.n) }))
      .sort((a, b) => (a.cameraId === b.cameraId ? a.stream.localeCompare(b.stream) : a.cameraId < b.cameraId ? -1 : 1));
  }

  async lastEnds(): Promise<{ cameraId: string; stream: StreamKind; endMs: number }[]> {
    const rows = await this.db.query(`SELECT site_id, camera_id, stream, max(end_ms) AS e FROM media_segments GROUP BY site_id, camera_id, stream`);
    return rows.map((r) => ({ cameraId: joined(r.site_id, r.camera_id), stream: r.stream as StreamKind, endMs: Number(r.e) }));
  }

  async starts(cameraId: string, stream: StreamKind): Promise<number[]> {
    const [site, cam] = split(cameraId);
    return (await this.db.query<{ start_ms: number }>(`SELECT start_ms FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 ORDER BY start_ms`, [site, cam, stream])).map((r) => Number(r.start_ms));
  }

  async bytesByCamera(): Promise<{ cameraId: string; bytes: number }[]> {
    const rows = await this.db.query(`SELECT site_id, camera_id, sum(bytes) AS b FROM media_segments GROUP BY site_id, camera_id`);
    return rows.map((r) => ({ cameraId: joined(r.site_id, r.camera_id), bytes: Number(r.b) })).sort((a, b) => (a.cameraId < b.cameraId ? -1 : a.cameraId > b.cameraId ? 1 : 0));
  }

  async totalBytes(): Promise<number> {
    const [r] = await this.db.query<{ b: number }>(`SELECT coalesce(sum(bytes), 0) AS b FROM media_segments`);
    return Number(r?.b ?? 0);
  }

  async putGap(g: Gap): Promise<void> {
    const [site, cam] = split(g.cameraId);
    await this.db.run(
      `INSERT INTO media_gaps (site_id, camera_id, stream, start_ms, end_ms, reason, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (site_id, camera_id, stream, start_ms) DO UPDATE SET end_ms = excluded.end_ms, reason = excluded.reason, detail = excluded.detail`,
      [site, cam, g.stream, ms(g.startMs), g.endMs === null ? null : ms(g.endMs), g.reason, g.detail ?? null],
    );
  }

  async deleteGap(g: { cameraId: string; stream: StreamKind; startMs: number }): Promise<void> {
    const [site, cam] = split(g.cameraId);
    await this.db.run(`DELETE FROM media_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [site, cam, g.stream, ms(g.startMs)]);
  }

  async gaps(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<Gap[]> {
    const [site, cam] = split(cameraId);
    const rows = await this.db.query(
      `SELECT * FROM media_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $4 AND (end_ms IS NULL OR end_ms > $5) ORDER BY start_ms`,
      [site, cam, stream, below(toMs), above(fromMs)],
    );
    return rows.map(toGap);
  }

  async allGaps(): Promise<Gap[]> {
    return (await this.db.query(`SELECT * FROM media_gaps ORDER BY site_id, camera_id, stream, start_ms`)).map(toGap);
  }

  /** The store's journals and lock files are the truth: its gaps replace the table's (one node owns the store). */
  async replaceGapsAndLocks(gaps: Gap[], locks: EvidenceLock[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run(`DELETE FROM media_gaps`);
      const rows = gaps.map((g) => {
        const [site, cam] = split(g.cameraId);
        return [site, cam, g.stream, ms(g.startMs), g.endMs === null ? null : ms(g.endMs), g.reason, g.detail ?? null] as SqlValue[];
      });
      // Journals may hold one start twice (last wins): keep the last per key.
      const byKey = new Map(rows.map((r) => [`${r[0]}\0${r[1]}\0${r[2]}\0${r[3]}`, r]));
      if (byKey.size) await tx.copyRows("media_gaps", ["site_id", "camera_id", "stream", "start_ms", "end_ms", "reason", "detail"], [...byKey.values()]);
    });
    this.locks = new Map(locks.map((l) => [l.id, l]));
  }

  async putLock(l: EvidenceLock): Promise<void> {
    this.locks.set(l.id, l);
  }

  async deleteLock(id: string): Promise<void> {
    this.locks.delete(id);
  }

  async allLocks(): Promise<EvidenceLock[]> {
    return [...this.locks.values()].sort((a, b) => a.startMs - b.startMs || (a.id < b.id ? -1 : 1));
  }

  /** The database belongs to central's core, which closes it. */
  async close(): Promise<void> {}
}

function toSegment(r: Row): SegmentRecord {
  const cameraId = joined(r.site_id, r.camera_id);
  const stream = r.stream as StreamKind;
  const startMs = Number(r.start_ms);
  const s: SegmentRecord = { id: `${cameraId}/${stream}/${startMs}`, cameraId, stream, startMs, endMs: Number(r.end_ms), bytes: Number(r.bytes), path: String(r.blob_key), mime: String(r.mime) };
  if (r.width !== null) s.width = Number(r.width);
  if (r.height !== null) s.height = Number(r.height);
  if (r.sha256 !== null && r.sha256 !== "") s.sha256 = String(r.sha256);
  return s;
}

function toGap(r: Row): Gap {
  const g: Gap = { cameraId: joined(r.site_id, r.camera_id), stream: r.stream as StreamKind, startMs: Number(r.start_ms), endMs: r.end_ms === null ? null : Number(r.end_ms), reason: r.reason as GapReason };
  if (r.detail !== null) g.detail = String(r.detail);
  return g;
}

/** One row in rowValues' order; at a start another blob's row holds, nothing (no row returned). Its own row again: refreshed. */
const SAME_BYTES_NEAR = `SELECT start_ms FROM media_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND sha256 = $4 AND start_ms BETWEEN $5 AND $6 AND blob_key <> $7 LIMIT 1`;

const INSERT_UNLESS_HELD = `INSERT INTO media_segments (site_id, camera_id, stream, start_ms, end_ms, bytes, mime, width, height, sha256, blob_key, frags, committed_ms, epoch)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
  ON CONFLICT (site_id, camera_id, stream, start_ms) DO UPDATE SET end_ms = excluded.end_ms, bytes = excluded.bytes, mime = excluded.mime, width = excluded.width,
    height = excluded.height, sha256 = excluded.sha256, frags = excluded.frags, committed_ms = excluded.committed_ms, epoch = excluded.epoch
  WHERE media_segments.blob_key = excluded.blob_key RETURNING start_ms`;

/** A segment's values in media_segments' insert column order (site_id … epoch). */
function rowValues(s: SegmentRecord, frags: Uint8Array | null | undefined, committedMs: number, epoch: number | null): SqlValue[] {
  const [site, cam] = split(s.cameraId);
  return [site, cam, s.stream, ms(s.startMs), ms(s.endMs), ms(s.bytes), s.mime, s.width ?? null, s.height ?? null, s.sha256 ?? "", s.path, frags ?? null, committedMs, epoch];
}

/**
 * central/mirror/: the edge-index mirror — central's copy of each edge's index (cp_* tables in
 * DATA/sites.duckdb: segments, gaps, locks, retention horizon, device tree, events, health,
 * desired/applied config, commands, tracks). The control plane (central/sites) is its only
 * writer; transfer, the merged timeline and fleet read it. Readers that plan or show footage
 * use the narrow EdgeIndexReader below instead of SQL against the tables; it reads on the
 * database's second connection (committed rows), so a plan or a timeline never waits behind a
 * control-plane batch holding the writer's connection.
 */
import type { Db } from "../db.ts";
import { openMirror } from "./tables.ts";

export { ROW_TABLES, type RowTable } from "./tables.ts";

export interface EdgeSegment {
  startMs: number;
  endMs: number;
  bytes: number;
}

export interface EdgeGap {
  startMs: number;
  endMs: number;
  reason: string;
}

export interface EdgeLock {
  startMs: number;
  endMs: number;
  /** null: until released. */
  expiresMs: number | null;
}

/** What an edge holds of one camera stream, as its last index sync said. */
export interface EdgeIndexReader {
  /** Segments overlapping [fromMs, toMs), by start. */
  segments(siteId: string, cameraId: string, stream: string, fromMs: number, toMs: number): Promise<EdgeSegment[]>;
  /** Gaps overlapping [fromMs, toMs), by start. */
  gaps(siteId: string, cameraId: string, stream: string, fromMs: number, toMs: number): Promise<EdgeGap[]>;
  /** How far the mirrored index reaches (end of the last segment or gap); 0 when empty. */
  indexEnd(siteId: string, cameraId: string, stream: string): Promise<number>;
  /** The edge's retention horizon (how long it keeps footage), when it reported one. */
  horizon(siteId: string, cameraId: string, stream: string): Promise<number | null>;
  /** The edge's evidence locks on a camera (any stream), expired ones included. */
  locks(siteId: string, cameraId: string): Promise<EdgeLock[]>;
  /** Does the edge report holding this lock? */
  hasLock(siteId: string, lockId: string): Promise<boolean>;
}

export class EdgeIndex implements EdgeIndexReader {
  /** The writer's handle (central/sites' control plane) and owner of the cp_* tables. */
  constructor(readonly db: Db) {}

  static async open(file: string): Promise<EdgeIndex> {
    return new EdgeIndex(await openMirror(file));
  }

  async segments(siteId: string, cameraId: string, stream: string, fromMs: number, toMs: number): Promise<EdgeSegment[]> {
    const rows = await this.db.read<{ s: string; e: string; b: string }>(
      `SELECT start_ms AS s, end_ms AS e, bytes AS b FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $5 AND end_ms > $4 ORDER BY start_ms`,
      [siteId, cameraId, stream, fromMs, toMs],
    );
    return rows.map((r) => ({ startMs: Number(r.s), endMs: Number(r.e), bytes: Number(r.b) }));
  }

  async gaps(siteId: string, cameraId: string, stream: string, fromMs: number, toMs: number): Promise<EdgeGap[]> {
    const rows = await this.db.read<{ s: string; e: string; r: string }>(
      `SELECT start_ms AS s, end_ms AS e, reason AS r FROM cp_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $5 AND end_ms > $4 ORDER BY start_ms`,
      [siteId, cameraId, stream, fromMs, toMs],
    );
    return rows.map((r) => ({ startMs: Number(r.s), endMs: Number(r.e), reason: r.r }));
  }

  async indexEnd(siteId: string, cameraId: string, stream: string): Promise<number> {
    const r = await this.db.read<{ e: string | null }>(
      `SELECT max(e) AS e FROM (SELECT max(end_ms) AS e FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 UNION ALL SELECT max(end_ms) FROM cp_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3)`,
      [siteId, cameraId, stream],
    );
    return Number(r[0]?.e ?? 0);
  }

  async horizon(siteId: string, cameraId: string, stream: string): Promise<number | null> {
    const r = await this.db.read<{ h: string | null }>(`SELECT horizon_ms AS h FROM cp_retention WHERE site_id = $1 AND camera_id = $2 AND stream = $3`, [siteId, cameraId, stream]);
    return r[0]?.h ? Number(r[0].h) : null;
  }

  async locks(siteId: string, cameraId: string): Promise<EdgeLock[]> {
    const rows = await this.db.read<{ s: string; e: string; x: string | null }>(`SELECT start_ms AS s, end_ms AS e, expires_ms AS x FROM cp_locks WHERE site_id = $1 AND camera_id = $2`, [siteId, cameraId]);
    return rows.map((l) => ({ startMs: Number(l.s), endMs: Number(l.e), expiresMs: l.x === null ? null : Number(l.x) }));
  }

  async hasLock(siteId: string, lockId: string): Promise<boolean> {
    return (await this.db.read(`SELECT 1 FROM cp_locks WHERE site_id = $1 AND lock_id = $2`, [siteId, lockId])).length > 0;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

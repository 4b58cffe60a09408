/**
 * central/mirror/: the edge-index mirror — central's copy of each edge's index (cp_* tables in
 * central's database, migration 0005 of central/db: segments, gaps, locks, retention horizon,
 * device tree, events, health, desired/applied config, commands; rows.ts writes them). The
 * control plane (central/sites) is its only writer of edge data; transfer, the merged timeline
 * and holdings read it through the narrow EdgeIndexReader below instead of SQL against the
 * tables. On the server driver these reads run on other pooled connections beside a batch's
 * transaction; on PGlite (one connection) they wait for it, which batches keep short.
 * The fleet's tracks and positions (cp_track, cp_position) stay in DATA/sites.duckdb (tables.ts).
 */
import type { Db } from "../db.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Database } from "../db/index.ts";
import { moveFromDuckdb } from "../db/from-duckdb.ts";
import { MIRROR_TABLES_IN_DUCKDB, openFleetTables } from "./tables.ts";

export { FLEET_ROW_TABLES } from "./tables.ts";
export { MIRROR_ROWS, lockWatermarks, watermarkKey, writeRows, type MirrorTable, type MirrorValue } from "./rows.ts";

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
  constructor(
    /** Central's database, with the mirror's cp_* tables (the control plane writes them). */
    readonly db: Database,
    /** DATA/sites.duckdb: the fleet's tracks and positions (central/fleet); this index owns and closes it. */
    readonly fleet: Db,
  ) {}

  /** Opens the fleet's DuckDB file; an upgraded installation's mirror tables in it move into the database once. */
  static async open(db: Database, fleetFile: string, log: Logger): Promise<EdgeIndex> {
    const fleet = await openFleetTables(fleetFile);
    try {
      const moved = await moveFromDuckdb(fleet, db, MIRROR_TABLES_IN_DUCKDB, log);
      // Events keep their numbers (clients page by them): new ones continue after the highest.
      if (moved.cp_events) await db.query(`SELECT setval(pg_get_serial_sequence('cp_events', 'n'), (SELECT max(n) FROM cp_events))`);
    } catch (e) {
      await fleet.close();
      throw e;
    }
    return new EdgeIndex(db, fleet);
  }

  async segments(siteId: string, cameraId: string, stream: string, fromMs: number, toMs: number): Promise<EdgeSegment[]> {
    const rows = await this.db.query<{ s: string; e: string; b: string }>(
      `SELECT start_ms AS s, end_ms AS e, bytes AS b FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $5 AND end_ms > $4 ORDER BY start_ms`,
      [siteId, cameraId, stream, fromMs, toMs],
    );
    return rows.map((r) => ({ startMs: Number(r.s), endMs: Number(r.e), bytes: Number(r.b) }));
  }

  async gaps(siteId: string, cameraId: string, stream: string, fromMs: number, toMs: number): Promise<EdgeGap[]> {
    const rows = await this.db.query<{ s: string; e: string; r: string }>(
      `SELECT start_ms AS s, end_ms AS e, reason AS r FROM cp_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms < $5 AND end_ms > $4 ORDER BY start_ms`,
      [siteId, cameraId, stream, fromMs, toMs],
    );
    return rows.map((r) => ({ startMs: Number(r.s), endMs: Number(r.e), reason: r.r }));
  }

  async indexEnd(siteId: string, cameraId: string, stream: string): Promise<number> {
    const r = await this.db.query<{ e: string | null }>(
      `SELECT max(e) AS e FROM (SELECT max(end_ms) AS e FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 UNION ALL SELECT max(end_ms) FROM cp_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3) AS u`,
      [siteId, cameraId, stream],
    );
    return Number(r[0]?.e ?? 0);
  }

  async horizon(siteId: string, cameraId: string, stream: string): Promise<number | null> {
    const r = await this.db.query<{ h: string | null }>(`SELECT horizon_ms AS h FROM cp_retention WHERE site_id = $1 AND camera_id = $2 AND stream = $3`, [siteId, cameraId, stream]);
    return r[0]?.h ? Number(r[0].h) : null;
  }

  async locks(siteId: string, cameraId: string): Promise<EdgeLock[]> {
    const rows = await this.db.query<{ s: string; e: string; x: string | null }>(`SELECT start_ms AS s, end_ms AS e, expires_ms AS x FROM cp_locks WHERE site_id = $1 AND camera_id = $2`, [siteId, cameraId]);
    return rows.map((l) => ({ startMs: Number(l.s), endMs: Number(l.e), expiresMs: l.x === null ? null : Number(l.x) }));
  }

  async hasLock(siteId: string, lockId: string): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM cp_locks WHERE site_id = $1 AND lock_id = $2`, [siteId, lockId])).length > 0;
  }

  /** Closes the fleet's DuckDB file (the database belongs to central's core). */
  close(): Promise<void> {
    return this.fleet.close();
  }
}

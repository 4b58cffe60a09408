/**
 * The search index of the fleet's tracks: every line piece of every stored track chunk as one
 * narrow numeric row (site, t0, t1, its box in 1e-7 degrees, which corner is the start), so a
 * place-and-time search reads a few integer columns instead of decoding chunks' JSON points.
 *
 * Two tables in the sites mirror: `fleet_pieces_recent` takes each chunk's pieces as it is
 * stored (in arrival order), and `settle()` moves the pieces of finished UTC days into
 * `fleet_pieces`, each batch sorted by (day, grid cell of 0.01°): rows of one place and day then
 * sit together, so DuckDB's per-row-group min/max (zone maps) skip almost every row group of a
 * small area, however long the window. A chunk that arrives late (a bus back from days
 * offline) lands in `recent` and moves with the next settle. Search reads both tables.
 *
 * The pieces are exactly the ones visits.ts tests: consecutive fixes of a chunk; a fix followed
 * by no fix (or ending the chunk) is a point (t0 = t1). The cp_track chunks stay the truth (the
 * track API and export sidecars read them); this index can be rebuilt from them (`init` does
 * when it is empty and chunks exist).
 */
import type { Logger } from "../../lib/log/index.ts";
import type { Db } from "../db.ts";
import type { TrackPoint } from "./visits.ts";

const DAY = 86_400_000;
export const PIECE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS fleet_pieces (day INTEGER, cell INTEGER, site_id VARCHAR, t0 BIGINT, t1 BIGINT, min_lat INTEGER, max_lat INTEGER, min_lon INTEGER, max_lon INTEGER, dir INTEGER)`,
  `CREATE TABLE IF NOT EXISTS fleet_pieces_recent (day INTEGER, cell INTEGER, site_id VARCHAR, t0 BIGINT, t1 BIGINT, min_lat INTEGER, max_lat INTEGER, min_lon INTEGER, max_lon INTEGER, dir INTEGER)`,
];

/** [day, cell, site, t0, t1, minLat, maxLat, minLon, maxLon, dir]; dir bit 1 = the start has the smaller lat, bit 2 = the smaller lon. */
export type PieceRow = [number, number, string, bigint, bigint, number, number, number, number, number];

const e7 = (v: number) => Math.round(v * 1e7);
/** Grid cell of 0.01° (about 1.1 km × 0.75 km here) of a piece's lower corner: the sort key within a day. */
export const cellOf = (minLat: number, minLon: number) => (Math.floor(minLat / 1e5) + 9000) * 36_001 + (Math.floor(minLon / 1e5) + 18_000);

/** A chunk's pieces, as visits.ts walks them. */
export function piecesOf(siteId: string, points: readonly TrackPoint[]): PieceRow[] {
  const out: PieceRow[] = [];
  const fix = (p: TrackPoint | undefined) => p !== undefined && p[1] >= 2 && p[2] !== null && p[3] !== null;
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (!fix(p)) continue;
    const n = points[i + 1];
    const q = fix(n) ? n! : p; // a lone fix is a point
    const la0 = e7(p[2]!);
    const lo0 = e7(p[3]!);
    const la1 = e7(q[2]!);
    const lo1 = e7(q[3]!);
    const minLat = Math.min(la0, la1);
    const minLon = Math.min(lo0, lo1);
    out.push([Math.floor(p[0] / DAY), cellOf(minLat, minLon), siteId, BigInt(p[0]), BigInt(q[0]), minLat, Math.max(la0, la1), minLon, Math.max(lo0, lo1), (la0 <= la1 ? 1 : 0) | (lo0 <= lo1 ? 2 : 0)]);
  }
  return out;
}

/** The start and end of a stored piece, in degrees. */
export function pieceEnds(r: { min_lat: number; max_lat: number; min_lon: number; max_lon: number; dir: number }): [{ lat: number; lon: number }, { lat: number; lon: number }] {
  const latUp = (r.dir & 1) !== 0;
  const lonUp = (r.dir & 2) !== 0;
  return [
    { lat: (latUp ? r.min_lat : r.max_lat) / 1e7, lon: (lonUp ? r.min_lon : r.max_lon) / 1e7 },
    { lat: (latUp ? r.max_lat : r.min_lat) / 1e7, lon: (lonUp ? r.max_lon : r.min_lon) / 1e7 },
  ];
}

export class TrackIndex {
  private chain: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly o: { db: () => Db; log: Logger; now?: () => number }) {}

  /** Creates the tables; fills them from the stored chunks once (an older mirror, or a rebuilt index). */
  async init(): Promise<void> {
    const db = this.o.db();
    for (const sql of PIECE_SCHEMA) await db.run(sql);
    const [have] = await db.all<{ n: string }>(`SELECT (SELECT count(*) FROM fleet_pieces) + (SELECT count(*) FROM fleet_pieces_recent) AS n`);
    if (Number(have?.n ?? 0) > 0) return;
    let n = 0;
    for (;;) {
      const rows = await db.all<{ site_id: string; points: string }>(`SELECT site_id, points FROM cp_track ORDER BY start_ms, site_id, end_ms LIMIT 5000 OFFSET $1`, [n]);
      if (!rows.length) break;
      await db.append("fleet_pieces_recent", rows.flatMap((r) => piecesOf(r.site_id, JSON.parse(r.points) as TrackPoint[])));
      n += rows.length;
    }
    if (n) {
      this.o.log.info("fleet search index built from the stored track chunks", { chunks: n });
      await this.settle();
    }
  }

  /** A stored chunk (after its commit): its pieces join the index. */
  add(siteId: string, points: readonly TrackPoint[]): Promise<void> {
    const rows = piecesOf(siteId, points);
    if (!rows.length) return Promise.resolve();
    const p = this.chain.then(() => this.o.db().append("fleet_pieces_recent", rows));
    this.chain = p.catch((e) => this.o.log.error("fleet search index: pieces not added (rebuilt from the chunks at the next start if the index is empty)", { err: e as Error, site: siteId }));
    return p;
  }

  /** Moves the pieces of finished UTC days from `recent` into the place-sorted table (one transaction). */
  settle(): Promise<number> {
    const run = async () => {
      const today = Math.floor((this.o.now?.() ?? Date.now()) / DAY);
      let moved = 0;
      await this.o.db().transaction(async (tx) => {
        const [c] = await tx.all<{ n: string }>(`SELECT count(*) AS n FROM fleet_pieces_recent WHERE day < $1`, [today]);
        moved = Number(c?.n ?? 0);
        if (!moved) return;
        await tx.run(`INSERT INTO fleet_pieces SELECT day, cell, site_id, t0, t1, min_lat, max_lat, min_lon, max_lon, dir FROM fleet_pieces_recent WHERE day < $1 ORDER BY day, cell, t0`, [today]);
        await tx.run(`DELETE FROM fleet_pieces_recent WHERE day < $1`, [today]);
      });
      if (moved) this.o.log.info("fleet search index: finished days sorted by place", { pieces: moved });
      return moved;
    };
    const p = this.chain.then(run);
    this.chain = p.catch((e) => this.o.log.error("fleet search index: settle failed (tried again later)", { err: e as Error }));
    return p;
  }

  /** Settles every `everyMs` (default hourly: a new day is sorted within the hour after midnight UTC). */
  start(everyMs = 3_600_000): void {
    this.timer = setInterval(() => void this.settle().catch(() => undefined), everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.chain.catch(() => undefined);
  }
}

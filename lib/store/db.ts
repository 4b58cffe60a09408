/**
 * The DuckDB index: segments, gaps and locks copied from disk so timeline queries are fast.
 * It is derived data (the store can rebuild it), owned by one process, and every call goes
 * through one queue because a DuckDB connection runs one statement at a time.
 */
import { DuckDBBlobValue, DuckDBInstance, blobValue, type DuckDBConnection, type DuckDBPreparedStatement } from "@duckdb/node-api";
import type { EvidenceLock, SegmentRecord, StreamKind } from "./types.ts";
import type { JournalGap } from "./journal.ts";
import { StoreLockedError } from "./errors.ts";
import { rowChanges } from "./row-changes.ts";
import { CAMERA_TOTALS, QueuedIndex, chunks, fmtKey, gapKey, lockParams, placeholders, sameGap, sameLock, streamKey, toCameraTotals, toGap, toLock, type CameraTotals, type Format, type Param, type Row } from "./index-rows.ts";


const SCHEMA_VERSION = "2";
const INDEX_BLOCK_SIZE = 16 * 1024;

/**
 * DuckDB folds its WAL into the file once the WAL passes this size (default 16 MB). A start
 * after a power cut replays the WAL first, and the writers commit one row per segment: 3,000
 * such commits (3.7 MB, ~12 h of 4 cameras) took 0.9 s to replay at load 5, so 16 MB would be
 * seconds before recording. 256 KiB (~200 commits) bounds that to tens of ms; the checkpoint
 * it costs runs about hourly at 4 cameras.
 */
export const WAL_CHECKPOINT = "256KiB";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)`,
  // Timeline queries read only numbers: strings cost more to hand to JS than the query itself.
  // The path is derived from (camera, stream, start); the format (mime, size) is a small lookup.
  `CREATE TABLE IF NOT EXISTS formats (id INTEGER PRIMARY KEY, mime VARCHAR NOT NULL, width INTEGER, height INTEGER)`,
  `CREATE TABLE IF NOT EXISTS segments (
     camera_id VARCHAR NOT NULL, stream VARCHAR NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL,
     bytes BIGINT NOT NULL, fmt INTEGER NOT NULL, sha256 VARCHAR,
     PRIMARY KEY (camera_id, stream, start_ms))`,
  // Each segment's fragment table (lib/mp4/fragtable.ts, ~8 B per fragment): playback maps byte
  // ranges from it without reading the file. NULL for rows indexed before it existed.
  `ALTER TABLE segments ADD COLUMN IF NOT EXISTS frags BLOB`,
  `CREATE TABLE IF NOT EXISTS gaps (
     camera_id VARCHAR NOT NULL, stream VARCHAR NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT,
     reason VARCHAR NOT NULL, detail VARCHAR, PRIMARY KEY (camera_id, stream, start_ms))`,
  `CREATE TABLE IF NOT EXISTS locks (
     id VARCHAR PRIMARY KEY, camera_id VARCHAR NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL,
     reason VARCHAR NOT NULL, created_by VARCHAR NOT NULL, created_at_ms BIGINT NOT NULL, expires_at_ms BIGINT)`,
];

/** Which statements made an index: a changed SCHEMA runs again on the next open. */
const SCHEMA_HASH = Bun.hash(SCHEMA.join(";")).toString(16);

/** The SCHEMA_HASH an index was made with; null for a new (or older) one. */
async function schemaOf(con: DuckDBConnection): Promise<string | null> {
  try {
    const r = (await con.runAndReadAll(`SELECT value FROM meta WHERE key = 'schema_ddl'`)).getRowObjectsJson();
    return r.length ? String(r[0]!.value) : null;
  } catch {
    return null; // no meta table yet
  }
}


/** One UTC day's segments for the index digest (federation/protocol/digest.ts: SegmentDay): lines or their hash. */
export interface SegmentDay {
  day: number;
  count: number;
  lines?: string;
  hash?: string;
}

/** Segments as parallel columns (index i is one segment), sorted by start. */
export interface SegmentSpans {
  start: number[];
  end: number[];
  bytes: number[];
}

/**
 * What MediaStore, recovery and retention need of an index: the DuckDB one below (edge, and
 * central until now) or central's rows in PostgreSQL (central/media/store-index.ts). Derived
 * data either way: the files and journals are the truth.
 */
export interface StoreIndex {
  putSegment(s: SegmentRecord, frags?: Uint8Array | null): Promise<void>;
  putSegments(list: SegmentRecord[], frags?: (Uint8Array | null | undefined)[]): Promise<void>;
  /**
   * Insert unless a row holds this (camera, stream, start) already: null when inserted, else
   * the row that is there (left as is). Only a shared index (central's, several nodes on one
   * store) has it: importSegment then lets the row key decide which node committed.
   */
  insertSegment?(s: SegmentRecord, frags?: Uint8Array | null): Promise<SegmentRecord | null>;
  segments(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentRecord[]>;
  segmentsLite(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentRecord[]>;
  /** Rows of a window as numbers only, sorted by start: for reads over a whole history that need no record objects. */
  spans(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentSpans>;
  /**
   * The index digest's segment lines (federation/protocol/digest.ts) by UTC day, made by the
   * database: rows overlapping [from, to) that start at or after from and at or before lastStart.
   * Optional: MediaStore makes them from spans() where an index lacks it.
   */
  segmentDays?(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, lastStartMs: number, opts?: { lines?: boolean; day?: number }): Promise<SegmentDay[]>;
  countSegments(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, exceptStarts?: number[]): Promise<number>;
  coverageIn(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<{ start: number[]; end: number[] }>;
  deleteSegment(s: { cameraId: string; stream: StreamKind; startMs: number }): Promise<void>;
  fragmentTables(cameraId: string, stream: StreamKind, starts: number[]): Promise<Map<number, Uint8Array>>;
  allSegments(): Promise<SegmentRecord[]>;
  oldest(cameraId: string | null, limit: number, afterStartMs: number): Promise<SegmentRecord[]>;
  cameras(): Promise<CameraTotals[]>;
  /** Per stream, the end of its newest segment. */
  lastEnds(): Promise<{ cameraId: string; stream: StreamKind; endMs: number }[]>;
  /** One stream's segment starts, ascending. */
  starts(cameraId: string, stream: StreamKind): Promise<number[]>;
  /** Bytes per camera (all streams), by camera id. */
  bytesByCamera(): Promise<{ cameraId: string; bytes: number }[]>;
  totalBytes(): Promise<number>;
  putGap(g: JournalGap): Promise<void>;
  deleteGap(g: { cameraId: string; stream: StreamKind; startMs: number }): Promise<void>;
  gaps(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<JournalGap[]>;
  allGaps(): Promise<JournalGap[]>;
  replaceGapsAndLocks(gaps: JournalGap[], locks: EvidenceLock[]): Promise<void>;
  putLock(l: EvidenceLock): Promise<void>;
  deleteLock(id: string): Promise<void>;
  allLocks(): Promise<EvidenceLock[]>;
  close(checkpoint?: boolean): Promise<void>;
}

const SEG_COLS = "camera_id, stream, start_ms, end_ms, bytes, fmt, sha256";
/** A record's columns as reads take them: numbers as DOUBLE (a JS number each, no BigInt or string). */
const RECORD_COLS = "start_ms::DOUBLE, end_ms::DOUBLE, bytes::DOUBLE, fmt, sha256";

export class IndexDb extends QueuedIndex implements StoreIndex {
  /** Prepared once, run per row (insertElseReplace's INSERTs). */
  private prepared = new Map<string, DuckDBPreparedStatement>();

  private constructor(
    private readonly inst: DuckDBInstance,
    private readonly con: DuckDBConnection,
    readonly path: string,
  ) {
    super();
  }

  static async open(path: string, opts: { readOnly?: boolean } = {}): Promise<IndexDb> {
    let inst: DuckDBInstance;
    try {
      // A new index gets 16 KiB blocks: with DuckDB's default 256 KiB the near-empty file of one
      // camera is ~2 MB (0.5 % of an hour of 1 Mbit/s video); with 16 KiB, ~0.1 MB. Existing
      // files keep the block size written in their header.
      inst = await DuckDBInstance.create(path, opts.readOnly ? { access_mode: "READ_ONLY" } : { default_block_size: String(INDEX_BLOCK_SIZE), checkpoint_threshold: WAL_CHECKPOINT });
    } catch (e) {
      const msg = (e as Error).message;
      if (/Conflicting lock/i.test(msg)) {
        const pid = /PID (\d+)/.exec(msg)?.[1];
        throw new StoreLockedError(`the index ${path} is in use by another process${pid ? ` (PID ${pid})` : ""}; stop it first (DuckDB allows one owning process per file)`);
      }
      throw e;
    }
    const con = await inst.connect();
    const db = new IndexDb(inst, con, path);
    // An index made with these very statements opens with one read instead of seven DDL
    // statements and an upsert: round trips to DuckDB's threads on a start's critical path.
    if (!opts.readOnly && (await schemaOf(con)) !== SCHEMA_HASH) {
      for (const s of SCHEMA) await con.run(s);
      await con.run(`INSERT OR REPLACE INTO meta VALUES ('schema', $1), ('schema_ddl', $2)`, [String(SCHEMA_VERSION), SCHEMA_HASH]);
    }
    if (!opts.readOnly || (await db.tableExists("formats"))) {
      for (const r of (await con.runAndReadAll(`SELECT * FROM formats`)).getRowObjectsJson()) {
        const f: Format = { mime: String(r.mime) };
        if (r.width !== null) f.width = Number(r.width);
        if (r.height !== null) f.height = Number(r.height);
        db.addFormat(Number(r.id), f);
      }
    }
    return db;
  }

  /** Any SQL: it may change segments or gaps, so the caches are dropped. */
  run(sql: string, params: Param[] = []): Promise<void> {
    return this.exec(async () => {
      this.invalidate();
      await this.con.run(sql, params as never);
    });
  }

  all(sql: string, params: Param[] = []): Promise<Row[]> {
    return this.exec(async () => (await this.con.runAndReadAll(sql, params as never)).getRowObjectsJson() as Row[]);
  }

  /** Runs fn's statements in one transaction (rolled back on error). */
  tx<T>(fn: (run: (sql: string, params?: Param[]) => Promise<void>) => Promise<T>): Promise<T> {
    return this.exec(async () => {
      this.invalidate();
      return this.inTx(() =>
        fn(async (sql, params = []) => {
          await this.con.run(sql, params as never);
        }),
      );
    });
  }

  /** `fn` in one transaction (rolled back on error); the caller holds the queue (exec). */
  private async inTx<T>(fn: () => Promise<T>): Promise<T> {
    await this.con.run("BEGIN TRANSACTION");
    try {
      const r = await fn();
      await this.con.run("COMMIT");
      return r;
    } catch (e) {
      await this.con.run("ROLLBACK").catch(() => undefined);
      throw e;
    }
  }

  async tableExists(name: string): Promise<boolean> {
    const r = await this.all(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $1`, [name]);
    return Number(r[0]?.n) > 0;
  }

  private async formatId(s: SegmentRecord): Promise<number> {
    const f: Format = { mime: s.mime };
    if (s.width !== undefined) f.width = s.width;
    if (s.height !== undefined) f.height = s.height;
    const key = fmtKey(f);
    let id = this.formatIds.get(key);
    if (id === undefined) {
      id = this.formats.size + 1;
      await this.con.run(`INSERT OR REPLACE INTO formats VALUES ($1, $2, $3, $4)`, [id, f.mime, f.width ?? null, f.height ?? null] as never);
      this.addFormat(id, f);
    }
    return id;
  }

  /** Writes a segment row, with its encoded fragment table when there is one. */
  putSegment(s: SegmentRecord, frags?: Uint8Array | null): Promise<void> {
    return this.exec(async () => {
      const fmt = await this.formatId(s);
      try {
        await this.putRow(SEGMENT_INSERT, SEGMENT_REPLACE, [s.cameraId, s.stream, s.startMs, s.endMs, s.bytes, fmt, s.sha256 ?? null, frags ? blobValue(frags) : null]);
      } catch (e) {
        this.invalidate(s.cameraId, s.stream);
        throw e;
      }
      this.noteSegment(s.cameraId, s.stream, s.startMs, s.endMs);
    });
  }

  /**
   * A row of a table that companion modules keep beside the segments (lib/store's own tables
   * go through their own methods): inserted, or replacing the row with the same key. Does not
   * touch the segment caches.
   */
  putCompanionRow(insert: string, replace: string, params: Param[]): Promise<void> {
    return this.exec(() => this.putRow(insert, replace, params));
  }

  /**
   * `insert` (prepared once), or `replace` when a row with the same key exists (the two must take
   * the same parameters). DuckDB runs INSERT OR REPLACE as a merge: measured 4.9–6.4 ms of CPU per
   * row against 1.9–2.2 ms for a prepared INSERT (BENCHMARKS.md), and a recorder writes one
   * segment row (and one companion row) per segment per stream whose key is new all but always —
   * recovery, a re-filed segment and imports are the exceptions that take the second statement.
   * The caller holds the queue (exec).
   */
  private async putRow(insert: string, replace: string, params: (Param | DuckDBBlobValue)[]): Promise<void> {
    let st = this.prepared.get(insert);
    if (!st) this.prepared.set(insert, (st = await this.con.prepare(insert)));
    try {
      st.bind(params as never);
      await st.run();
    } catch (e) {
      if (!isDuplicateKey(e)) throw e;
      await this.con.run(replace, params as never);
    }
  }

  /** Bulk insert of rows not yet in the index (rebuild, recovery of many orphans, benchmarks). */
  putSegments(list: SegmentRecord[], frags: (Uint8Array | null | undefined)[] = []): Promise<void> {
    return this.exec(async () => {
      const fmts: number[] = [];
      for (const s of list) fmts.push(await this.formatId(s));
      const app = await this.con.createAppender("segments");
      try {
        list.forEach((s, i) => {
          app.appendVarchar(s.cameraId);
          app.appendVarchar(s.stream);
          app.appendBigInt(BigInt(s.startMs));
          app.appendBigInt(BigInt(s.endMs));
          app.appendBigInt(BigInt(s.bytes));
          app.appendInteger(fmts[i]!);
          if (s.sha256) app.appendVarchar(s.sha256);
          else app.appendNull();
          const t = frags[i];
          if (t) app.appendBlob(t);
          else app.appendNull();
          app.endRow();
        });
      } finally {
        app.closeSync();
        for (const s of list) this.coverage.delete(streamKey(s.cameraId, s.stream));
      }
    });
  }

  /**
   * The timeline's hot path: numbers only (no strings, no sha256), unordered from DuckDB and
   * sorted here only if needed. 43,200 rows in a few ms.
   */
  async spans(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<{ start: number[]; end: number[]; bytes: number[]; fmt: number[] }> {
    const cols = await this.exec(async () =>
      (
        await this.con.runAndReadAll(
          `SELECT start_ms::DOUBLE, end_ms::DOUBLE, bytes::DOUBLE, fmt FROM segments WHERE camera_id = $1 AND stream = $2 AND start_ms < $3 AND end_ms > $4`,
          [cameraId, stream, toMs, fromMs] as never,
        )
      ).getColumns(),
    );
    if (cols.length < 4) return { start: [], end: [], bytes: [], fmt: [] }; // no rows: DuckDB gives no columns
    let [start, end, bytes, fmt] = cols as [number[], number[], number[], number[]];
    for (let i = 1; i < start.length; i++) {
      if (start[i]! < start[i - 1]!) {
        const order = start.map((_, k) => k).sort((x, y) => start[x]! - start[y]!);
        [start, end, bytes, fmt] = [order.map((k) => start[k]!), order.map((k) => end[k]!), order.map((k) => bytes[k]!), order.map((k) => fmt[k]!)];
        break;
      }
    }
    return { start, end, bytes, fmt };
  }

  /**
   * Every line is made, sorted, joined and counted inside DuckDB: 30 days of a stream cross into
   * JavaScript as 30 strings, not 43,200 rows (the uplink digests every stream every 5 minutes).
   * VARCHAR order is byte order, as JavaScript's sort() is for these ASCII lines.
   */
  async segmentDays(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, lastStartMs: number, opts: { lines?: boolean; day?: number } = {}): Promise<SegmentDay[]> {
    // The hash by default: a day's lines are ~50 KB, and long strings handed to JavaScript cost
    // as much memory as the rows did. Lines only for the days whose gaps hash with them.
    const agg = opts.lines ? `string_agg(line, chr(10) ORDER BY line)` : `left(sha256(string_agg(line, chr(10) ORDER BY line)), 16)`;
    const cols = await this.exec(async () =>
      (
        await this.con.runAndReadAll(
          `SELECT day::DOUBLE, count(*)::DOUBLE, ${agg} FROM (
             SELECT floor(start_ms / $6) * $6 AS day, 's' || start_ms || ',' || end_ms || ',' || bytes AS line FROM segments
             WHERE camera_id = $1 AND stream = $2 AND start_ms < $3 AND end_ms > $4 AND start_ms >= $4 AND start_ms <= $5)
           WHERE $7::DOUBLE IS NULL OR day = $7::DOUBLE
           GROUP BY day ORDER BY day`,
          [cameraId, stream, toMs, fromMs, lastStartMs, 86_400_000, opts.day ?? null] as never,
        )
      ).getColumns(),
    );
    if (cols.length < 3) return [];
    const [day, count, text] = cols as [number[], number[], string[]];
    return day.map((d, i) => (opts.lines ? { day: d, count: count[i]!, lines: text[i]! } : { day: d, count: count[i]!, hash: text[i]! }));
  }

  /** Segments of a window without sha256, built from spans(). */
  async segmentsLite(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentRecord[]> {
    const { start, end, bytes, fmt } = await this.spans(cameraId, stream, fromMs, toMs);
    const out: SegmentRecord[] = new Array(start.length);
    for (let i = 0; i < start.length; i++) out[i] = this.record(cameraId, stream, start[i]!, end[i]!, bytes[i]!, fmt[i]!);
    return out;
  }

  /** Rows overlapping [from, to), leaving out the given starts (segments counted elsewhere). */
  async countSegments(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, exceptStarts: number[] = []): Promise<number> {
    const ph = exceptStarts.map((_, i) => `$${i + 5}`);
    const where = ["camera_id = $1", "stream = $2", "start_ms < $3", "end_ms > $4", ...(ph.length ? [`start_ms NOT IN (${ph.join(", ")})`] : [])];
    const r = await this.all(`SELECT count(*) AS n FROM segments WHERE ${where.join(" AND ")}`, [cameraId, stream, toMs, fromMs, ...exceptStarts]);
    return Number(r[0]?.n ?? 0);
  }

  deleteSegment(s: { cameraId: string; stream: StreamKind; startMs: number }): Promise<void> {
    return this.exec(async () => {
      this.coverage.delete(streamKey(s.cameraId, s.stream));
      await this.con.run(`DELETE FROM segments WHERE camera_id = $1 AND stream = $2 AND start_ms = $3`, [s.cameraId, s.stream, s.startMs] as never);
    });
  }

  protected async readStarts(cameraId: string, stream: StreamKind): Promise<{ start: number[]; end: number[] }> {
    const cols = (
      await this.con.runAndReadAll(`SELECT start_ms::DOUBLE, end_ms::DOUBLE FROM segments WHERE camera_id = $1 AND stream = $2 ORDER BY start_ms`, [cameraId, stream] as never)
    ).getColumns() as number[][];
    return { start: cols[0] ?? [], end: cols[1] ?? [] };
  }

  /**
   * One stream's segments of a window, with sha256. Read as columns (numbers as DOUBLE, the
   * camera and stream not at all: they are the arguments) rather than as JSON row objects: over
   * 30 days (43,200 rows) the row objects, their BIGINT-as-string values and the repeated id
   * strings were ~6 short-lived allocations per row — a heap peak of tens of MB per read, which
   * the edge's allocator keeps (MIMALLOC_PURGE_DELAY=-1). BENCHMARKS.md, issue 13.
   */
  async segments(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentRecord[]> {
    return this.records(`SELECT ${RECORD_COLS} FROM segments WHERE camera_id = $1 AND stream = $2 AND start_ms < $3 AND end_ms > $4 ORDER BY start_ms`, [cameraId, stream, toMs, fromMs], { cameraId, stream });
  }

  /**
   * Records from a query of RECORD_COLS, preceded by camera_id and stream unless `of` names the
   * one stream they all belong to. Read as columns, never as row objects.
   */
  private async records(sql: string, params: Param[], of?: { cameraId: string; stream: StreamKind }): Promise<SegmentRecord[]> {
    const cols = await this.exec(async () => (await this.con.runAndReadAll(sql, params as never)).getColumns());
    const k = of ? 0 : 2;
    if (cols.length < k + 5) return []; // no rows: DuckDB gives no columns
    const [start, end, bytes, fmt, sha] = cols.slice(k) as [number[], number[], number[], number[], (string | null)[]];
    const cams = cols[0] as string[];
    const streams = cols[1] as StreamKind[];
    const out: SegmentRecord[] = new Array(start.length);
    for (let i = 0; i < start.length; i++) {
      const r = this.record(of?.cameraId ?? cams[i]!, of?.stream ?? streams[i]!, start[i]!, end[i]!, bytes[i]!, fmt[i]!);
      const h = sha[i];
      if (h !== null && h !== undefined) r.sha256 = h;
      out[i] = r;
    }
    return out;
  }

  /** Stored fragment tables of one stream's segments starting at these times, by start ms. */
  async fragmentTables(cameraId: string, stream: StreamKind, starts: number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    if (starts.length === 0) return out;
    const want = new Set(starts);
    const rows = await this.exec(async () =>
      (await this.con.runAndReadAll(`SELECT start_ms, frags FROM segments WHERE camera_id = $1 AND stream = $2 AND start_ms >= $3 AND start_ms <= $4 AND frags IS NOT NULL`, [cameraId, stream, Math.min(...starts), Math.max(...starts)] as never)).getRows(),
    );
    for (const [start, blob] of rows) {
      const ms = Number(start);
      if (want.has(ms) && blob instanceof DuckDBBlobValue) out.set(ms, blob.bytes);
    }
    return out;
  }

  /** Every row (recovery, check): columns, as segments() reads them. */
  async allSegments(): Promise<SegmentRecord[]> {
    return this.records(`SELECT camera_id, stream, ${RECORD_COLS} FROM segments ORDER BY camera_id, stream, start_ms`, []);
  }

  /** Oldest first across all streams of one camera, or the whole store. */
  async oldest(cameraId: string | null, limit: number, afterStartMs: number): Promise<SegmentRecord[]> {
    return cameraId
      ? this.records(`SELECT camera_id, stream, ${RECORD_COLS} FROM segments WHERE camera_id = $1 AND start_ms > $2 ORDER BY start_ms, stream LIMIT $3`, [cameraId, afterStartMs, BigInt(limit)])
      : this.records(`SELECT camera_id, stream, ${RECORD_COLS} FROM segments WHERE start_ms > $1 ORDER BY start_ms, camera_id, stream LIMIT $2`, [afterStartMs, BigInt(limit)]);
  }

  async lastEnds(): Promise<{ cameraId: string; stream: StreamKind; endMs: number }[]> {
    const rows = await this.all(`SELECT camera_id, stream, max(end_ms) AS e FROM segments GROUP BY camera_id, stream`);
    return rows.map((r) => ({ cameraId: String(r.camera_id), stream: r.stream as StreamKind, endMs: Number(r.e) }));
  }

  async starts(cameraId: string, stream: StreamKind): Promise<number[]> {
    return (await this.all(`SELECT start_ms FROM segments WHERE camera_id = $1 AND stream = $2 ORDER BY start_ms`, [cameraId, stream])).map((x) => Number(x.start_ms));
  }

  async bytesByCamera(): Promise<{ cameraId: string; bytes: number }[]> {
    const rows = await this.all(`SELECT camera_id, sum(bytes) AS b FROM segments GROUP BY camera_id ORDER BY camera_id`);
    return rows.map((r) => ({ cameraId: String(r.camera_id), bytes: Number(r.b) }));
  }

  async totalBytes(): Promise<number> {
    const t = await this.all(`SELECT coalesce(sum(bytes), 0) AS b FROM segments`);
    return Number(t[0]?.b ?? 0);
  }

  async cameras(): Promise<CameraTotals[]> {
    return (await this.all(CAMERA_TOTALS)).map(toCameraTotals);
  }

  putGap(g: JournalGap): Promise<void> {
    return this.exec(async () => {
      this.gapCache.delete(streamKey(g.cameraId, g.stream));
      await this.con.run(`INSERT OR REPLACE INTO gaps VALUES ($1,$2,$3,$4,$5,$6)`, [g.cameraId, g.stream, g.startMs, g.endMs, g.reason, g.detail ?? null] as never);
    });
  }

  deleteGap(g: { cameraId: string; stream: StreamKind; startMs: number }): Promise<void> {
    return this.exec(async () => {
      this.gapCache.delete(streamKey(g.cameraId, g.stream));
      await this.con.run(`DELETE FROM gaps WHERE camera_id = $1 AND stream = $2 AND start_ms = $3`, [g.cameraId, g.stream, g.startMs] as never);
    });
  }

  protected async readGaps(cameraId: string, stream: StreamKind): Promise<JournalGap[]> {
    return ((await this.con.runAndReadAll(`SELECT * FROM gaps WHERE camera_id = $1 AND stream = $2 ORDER BY start_ms`, [cameraId, stream] as never)).getRowObjectsJson() as Row[]).map(toGap);
  }

  async allGaps(): Promise<JournalGap[]> {
    return (await this.all(`SELECT * FROM gaps ORDER BY camera_id, stream, start_ms`)).map(toGap);
  }

  /**
   * The journal is the truth for gaps and the lock files for locks: both tables are made equal
   * to them. Only the rows that differ are written, a few statements in one transaction: at a
   * start after a crash that is the new crash gaps and the closed ones, not the whole history
   * (one INSERT per gap was ~2.7 ms each at load 3, and every start wrote them all to the WAL,
   * which the next start replayed).
   */
  replaceGapsAndLocks(gaps: JournalGap[], locks: EvidenceLock[]): Promise<void> {
    return this.exec(async () => {
      this.invalidate();
      const read = async (sql: string) => (await this.con.runAndReadAll(sql)).getRowObjectsJson() as Row[];
      const g = rowChanges((await read(`SELECT * FROM gaps`)).map(toGap), gaps, gapKey, sameGap);
      const l = rowChanges((await read(`SELECT * FROM locks`)).map(toLock), locks, (x) => x.id, sameLock);
      const statements: [string, Param[]][] = [];
      for (const part of chunks(g.remove)) {
        const w = part.map((_, i) => `(camera_id = $${3 * i + 1} AND stream = $${3 * i + 2} AND start_ms = $${3 * i + 3})`).join(" OR ");
        statements.push([`DELETE FROM gaps WHERE ${w}`, part.flatMap((x) => [x.cameraId, x.stream, x.startMs])]);
      }
      for (const part of chunks(l.remove)) {
        const ph = part.map((_, i) => `$${i + 1}`);
        statements.push([`DELETE FROM locks WHERE id IN (${ph.join(", ")})`, part.map((x) => x.id)]);
      }
      for (const part of chunks(g.put)) {
        const tuples = part.map((_, i) => `(${placeholders(6 * i, 6)})`);
        statements.push([`INSERT OR REPLACE INTO gaps VALUES ${tuples.join(", ")}`, part.flatMap((x) => [x.cameraId, x.stream, x.startMs, x.endMs, x.reason, x.detail ?? null])]);
      }
      for (const part of chunks(l.put)) {
        const tuples = part.map((_, i) => `(${placeholders(8 * i, 8)})`);
        statements.push([`INSERT OR REPLACE INTO locks VALUES ${tuples.join(", ")}`, part.flatMap(lockParams)]);
      }
      if (statements.length === 0) return;
      await this.inTx(async () => {
        for (const [sql, params] of statements) await this.con.run(sql, params as never);
      });
    });
  }

  putLock(l: EvidenceLock): Promise<void> {
    return this.run(`INSERT OR REPLACE INTO locks VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, lockParams(l));
  }

  deleteLock(id: string): Promise<void> {
    return this.run(`DELETE FROM locks WHERE id = $1`, [id]);
  }

  async allLocks(): Promise<EvidenceLock[]> {
    return (await this.all(`SELECT * FROM locks ORDER BY start_ms, id`)).map(toLock);
  }

  async close(checkpoint = true): Promise<void> {
    await this.exec(async () => {
      if (checkpoint) await this.con.run("CHECKPOINT").catch(() => undefined);
      for (const st of this.prepared.values()) st.destroySync();
      this.prepared.clear();
      this.con.closeSync();
      this.inst.closeSync();
    });
  }
}

/**
 * Every segment row with its fragment table, and every gap: what moves out of an index (a DuckDB
 * index at an edge's first start after the move to SQLite; central's import of a file-indexed store).
 */
export async function readAllRows(idx: Pick<StoreIndex, "allSegments" | "fragmentTables" | "allGaps">): Promise<{ segments: SegmentRecord[]; frags: (Uint8Array | null)[]; gaps: JournalGap[] }> {
  const segments = await idx.allSegments();
  const byStream = new Map<string, SegmentRecord[]>();
  for (const s of segments) {
    const k = streamKey(s.cameraId, s.stream);
    const list = byStream.get(k);
    if (list) list.push(s);
    else byStream.set(k, [s]);
  }
  const tables = new Map<string, Map<number, Uint8Array>>();
  for (const [k, list] of byStream) tables.set(k, await idx.fragmentTables(list[0]!.cameraId, list[0]!.stream, list.map((s) => s.startMs)));
  const frags = segments.map((s) => tables.get(streamKey(s.cameraId, s.stream))?.get(s.startMs) ?? null);
  return { segments, frags, gaps: await idx.allGaps() };
}

const SEGMENT_INSERT = `INSERT INTO segments (${SEG_COLS}, frags) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`;
const SEGMENT_REPLACE = `INSERT OR REPLACE INTO segments (${SEG_COLS}, frags) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`;

/** DuckDB's answer to an INSERT whose primary key exists ("Constraint Error: Duplicate key … violates primary key constraint"). */
function isDuplicateKey(e: unknown): boolean {
  return e instanceof Error && /Duplicate key/i.test(e.message) && /constraint/i.test(e.message);
}


/**
 * The edge's index: segments, gaps and locks (and companion tables such as the position track)
 * in SQLite, through Bun's built-in driver. Derived data like every index (the files and
 * journals are the truth: recovery rebuilds it), owned by one process (a second recorder on
 * the same folder fails at open with the owner's PID: takeOwnership below).
 *
 * Why SQLite and not DuckDB here (docs/design/storage.md, "Why SQLite"): SQLite is already inside the Bun
 * executable, so the index costs the recorder ~8 MB of resident memory instead of DuckDB's
 * ~60 MB (its library's code pages and its allocator), and a commit is a synchronous call of
 * tens of microseconds instead of milliseconds on DuckDB's threads. A recorder's index is
 * small and read by key ranges, which is what a B-tree is for.
 *
 * Every call goes through one queue (QueuedIndex) so that a transaction whose body awaits (tx)
 * never has other callers' statements run inside it; the statements themselves are synchronous.
 */
import { Database, type Statement } from "bun:sqlite";
import { readFileSync, statSync } from "node:fs";
import type { EvidenceLock, SegmentRecord, StreamKind } from "./types.ts";
import type { JournalGap } from "./journal.ts";
import type { SegmentDay, SegmentSpans, StoreIndex } from "./db.ts";
import { StoreLockedError } from "./errors.ts";
import { rowChanges } from "./row-changes.ts";
import { CAMERA_TOTALS, QueuedIndex, fmtKey, gapKey, lockParams, sameGap, sameLock, streamKey, toCameraTotals, toGap, toLock, type CameraTotals, type Format, type Param, type Row } from "./index-rows.ts";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS formats (id INTEGER PRIMARY KEY, mime TEXT NOT NULL, width INTEGER, height INTEGER)`,
  // Clustered on the key: a stream's rows lie together in start order, so a window is one range
  // read. frags: the segment's fragment table (lib/mp4/fragtable.ts, ~8 B per fragment).
  `CREATE TABLE IF NOT EXISTS segments (
     camera_id TEXT NOT NULL, stream TEXT NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
     bytes INTEGER NOT NULL, fmt INTEGER NOT NULL, sha256 TEXT, frags BLOB,
     PRIMARY KEY (camera_id, stream, start_ms)) WITHOUT ROWID`,
  // Windows ending recently (live, the last hours) start from the end: without this a window is
  // read from the stream's first row to its upper bound.
  `CREATE INDEX IF NOT EXISTS segments_end ON segments (camera_id, stream, end_ms)`,
  `CREATE TABLE IF NOT EXISTS gaps (
     camera_id TEXT NOT NULL, stream TEXT NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER,
     reason TEXT NOT NULL, detail TEXT, PRIMARY KEY (camera_id, stream, start_ms)) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS locks (
     id TEXT PRIMARY KEY, camera_id TEXT NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
     reason TEXT NOT NULL, created_by TEXT NOT NULL, created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER) WITHOUT ROWID`,
];
const SCHEMA_HASH = Bun.hash(SCHEMA.join(";")).toString(16);

const RECORD_COLS = "start_ms, end_ms, bytes, fmt, sha256";
const SEGMENT_PUT = `INSERT OR REPLACE INTO segments (camera_id, stream, start_ms, end_ms, bytes, fmt, sha256, frags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;

/** What companion modules (edge/position) may do with the index: their own tables, their own SQL. */
export interface CompanionIndex {
  run(sql: string, params?: Param[]): Promise<void>;
  all(sql: string, params?: Param[]): Promise<Row[]>;
  tx<T>(fn: (run: (sql: string, params?: Param[]) => Promise<void>) => Promise<T>): Promise<T>;
  putCompanionRow(insert: string, replace: string, params: Param[]): Promise<void>;
}

export class SqliteIndex extends QueuedIndex implements StoreIndex, CompanionIndex {
  private constructor(
    private readonly db: Database,
    readonly path: string,
  ) {
    super();
  }

  /**
   * Opens (creating it unless readOnly) the index at `path`. readOnly (`outpost check`) reads
   * without taking the file: SQLite may still replay a WAL a power cut left, which changes no row.
   */
  static open(path: string, opts: { readOnly?: boolean } = {}): Promise<SqliteIndex> {
    let db: Database | undefined;
    try {
      if (opts.readOnly) checkNotOwnedElsewhere(path);
      else takeOwnership(path);
      db = new Database(path, { create: !opts.readOnly, readwrite: true });
      db.run("PRAGMA busy_timeout = 1000");
      if (opts.readOnly) db.run("PRAGMA query_only = 1");
      else {
        // WAL: a commit appends to one log and fsyncs it (synchronous FULL); readers in this
        // process (a check, the API) read beside the writer. The writer commits after the
        // segment's bytes are durable (lib/store/writer.ts), so a row never names bytes a power
        // cut could take; a commit a power cut takes is a file recovery indexes again.
        db.run("PRAGMA journal_mode = WAL");
        db.run("PRAGMA synchronous = FULL");
        // A start after a power cut reads the WAL before the first write: folded into the file
        // every ~200 commits (~1.25 KB each, the fragment table) and cut back after, it stays small.
        // 256 KiB: 64 pages of 4 KiB, tens of ms to read at a start, about hourly at 4 cameras.
        db.run("PRAGMA wal_autocheckpoint = 64");
        db.run("PRAGMA journal_size_limit = 262144");
      }
      const idx = new SqliteIndex(db, path);
      if (!opts.readOnly && idx.schemaHash() !== SCHEMA_HASH) {
        db.transaction(() => {
          for (const s of SCHEMA) db!.run(s);
          db!.run(`INSERT OR REPLACE INTO meta VALUES ('schema_ddl', ?)`, [SCHEMA_HASH]);
        })();
      }
      if (idx.tableExists("formats")) {
        for (const r of db.query(`SELECT id, mime, width, height FROM formats`).all() as Row[]) {
          const f: Format = { mime: String(r.mime) };
          if (r.width !== null) f.width = Number(r.width);
          if (r.height !== null) f.height = Number(r.height);
          idx.addFormat(Number(r.id), f);
        }
      }
      return Promise.resolve(idx);
    } catch (e) {
      db?.close();
      if (!opts.readOnly && (e as Error).name !== "StoreLockedError") releaseOwnership(path);
      return Promise.reject(e);
    }
  }

  private schemaHash(): string | null {
    if (!this.tableExists("meta")) return null;
    const r = this.db.query(`SELECT value FROM meta WHERE key = 'schema_ddl'`).get() as Row | null;
    return r ? String(r.value) : null;
  }

  tableExists(name: string): boolean {
    return !!this.db.query(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name);
  }

  /** A cached statement; companion SQL written with `$n` placeholders binds the same way. */
  /** Statements by the SQL callers wrote: companion SQL's `$n` placeholders are SQLite's `?n`, rewritten once per text. */
  private readonly statements = new Map<string, Statement>();

  private q(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.query(sql.includes("$") ? sql.replace(/\$(\d+)/g, "?$1") : sql)));
    return s;
  }

  /** Any SQL: it may change segments or gaps, so the caches are dropped. */
  run(sql: string, params: Param[] = []): Promise<void> {
    return this.exec(() => {
      this.invalidate();
      this.q(sql).run(...(params as never[]));
    });
  }

  all(sql: string, params: Param[] = []): Promise<Row[]> {
    return this.exec(() => this.q(sql).all(...(params as never[])) as Row[]);
  }

  /** Runs fn's statements in one transaction (rolled back on error); nobody else's run inside it. */
  tx<T>(fn: (run: (sql: string, params?: Param[]) => Promise<void>) => Promise<T>): Promise<T> {
    return this.exec(async () => {
      this.invalidate();
      this.db.run("BEGIN");
      try {
        const r = await fn(async (sql, params = []) => {
          this.q(sql).run(...(params as never[]));
        });
        this.db.run("COMMIT");
        return r;
      } catch (e) {
        try {
          this.db.run("ROLLBACK");
        } catch {}
        throw e;
      }
    });
  }

  /** A companion table's row, inserted or replacing the one with its key (`replace` does both here). */
  putCompanionRow(_insert: string, replace: string, params: Param[]): Promise<void> {
    return this.exec(() => {
      this.q(replace).run(...(params as never[]));
    });
  }

  private formatId(s: SegmentRecord): number {
    const f: Format = { mime: s.mime };
    if (s.width !== undefined) f.width = s.width;
    if (s.height !== undefined) f.height = s.height;
    const key = fmtKey(f);
    let id = this.formatIds.get(key);
    if (id === undefined) {
      id = this.formats.size + 1;
      this.q(`INSERT OR REPLACE INTO formats VALUES (?, ?, ?, ?)`).run(id, f.mime, f.width ?? null, f.height ?? null);
      this.addFormat(id, f);
    }
    return id;
  }

  private putRow(s: SegmentRecord, frags: Uint8Array | null | undefined): void {
    this.q(SEGMENT_PUT).run(s.cameraId, s.stream, s.startMs, s.endMs, s.bytes, this.formatId(s), s.sha256 ?? null, frags ?? null);
  }

  putSegment(s: SegmentRecord, frags?: Uint8Array | null): Promise<void> {
    return this.exec(() => {
      try {
        this.putRow(s, frags);
      } catch (e) {
        this.invalidate(s.cameraId, s.stream);
        throw e;
      }
      this.noteSegment(s.cameraId, s.stream, s.startMs, s.endMs);
    });
  }

  /** Many rows in one transaction (rebuild, recovery of many orphans, migration, benchmarks). */
  putSegments(list: SegmentRecord[], frags: (Uint8Array | null | undefined)[] = []): Promise<void> {
    return this.exec(() => {
      try {
        this.db.transaction(() => list.forEach((s, i) => this.putRow(s, frags[i])))();
      } finally {
        for (const s of list) this.coverage.delete(streamKey(s.cameraId, s.stream));
      }
    });
  }

  /** The timeline's hot path: numbers only, by start. */
  spans(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentSpans & { fmt: number[] }> {
    return this.exec(() => {
      const rows = this.q(`SELECT start_ms, end_ms, bytes, fmt FROM segments WHERE camera_id = ? AND stream = ? AND start_ms < ? AND end_ms > ? ORDER BY start_ms`).values(cameraId, stream, toMs, fromMs) as number[][];
      const n = rows.length;
      const out = { start: new Array<number>(n), end: new Array<number>(n), bytes: new Array<number>(n), fmt: new Array<number>(n) };
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        out.start[i] = r[0]!;
        out.end[i] = r[1]!;
        out.bytes[i] = r[2]!;
        out.fmt[i] = r[3]!;
      }
      return out;
    });
  }

  /**
   * The index digest's segment lines by UTC day (federation/protocol/digest.ts), joined in SQL:
   * 30 days of a stream cross into JavaScript as 30 strings, not 43,200 rows; the hash (the
   * default) is made here, SQLite has no sha256. Lines sort as bytes, as JavaScript's sort() does.
   */
  segmentDays(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, lastStartMs: number, opts: { lines?: boolean; day?: number } = {}): Promise<SegmentDay[]> {
    return this.exec(() => {
      const rows = this.q(
        `SELECT day, count(*), group_concat(line, char(10) ORDER BY line) FROM (
           SELECT (start_ms / 86400000) * 86400000 AS day, 's' || start_ms || ',' || end_ms || ',' || bytes AS line FROM segments
           WHERE camera_id = ?1 AND stream = ?2 AND start_ms < ?3 AND end_ms > ?4 AND start_ms >= ?4 AND start_ms <= ?5)
         WHERE ?6 IS NULL OR day = ?6
         GROUP BY day ORDER BY day`,
      ).values(cameraId, stream, toMs, fromMs, lastStartMs, opts.day ?? null) as [number, number, string][];
      return rows.map(([day, count, lines]) =>
        opts.lines ? { day, count, lines } : { day, count, hash: new Bun.CryptoHasher("sha256").update(lines).digest("hex").slice(0, 16) },
      );
    });
  }

  async segmentsLite(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentRecord[]> {
    const { start, end, bytes, fmt } = await this.spans(cameraId, stream, fromMs, toMs);
    const out: SegmentRecord[] = new Array(start.length);
    for (let i = 0; i < start.length; i++) out[i] = this.record(cameraId, stream, start[i]!, end[i]!, bytes[i]!, fmt[i]!);
    return out;
  }

  countSegments(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, exceptStarts: number[] = []): Promise<number> {
    return this.exec(() => {
      // Counted in SQL (no row crosses into JavaScript); the left-out starts are few (segments closing now).
      const ph = exceptStarts.map((_, i) => `?${i + 5}`);
      const where = ["camera_id = ?1", "stream = ?2", "start_ms < ?3", "end_ms > ?4", ...(ph.length ? [`start_ms NOT IN (${ph.join(", ")})`] : [])];
      const r = this.q(`SELECT count(*) AS n FROM segments WHERE ${where.join(" AND ")}`).get(cameraId, stream, toMs, fromMs, ...exceptStarts) as Row;
      return Number(r.n);
    });
  }

  deleteSegment(s: { cameraId: string; stream: StreamKind; startMs: number }): Promise<void> {
    return this.exec(() => {
      this.coverage.delete(streamKey(s.cameraId, s.stream));
      this.q(`DELETE FROM segments WHERE camera_id = ? AND stream = ? AND start_ms = ?`).run(s.cameraId, s.stream, s.startMs);
    });
  }

  protected readStarts(cameraId: string, stream: StreamKind): { start: number[]; end: number[] } {
    const rows = this.q(`SELECT start_ms, end_ms FROM segments WHERE camera_id = ? AND stream = ? ORDER BY start_ms`).values(cameraId, stream) as number[][];
    return { start: rows.map((r) => r[0]!), end: rows.map((r) => r[1]!) };
  }

  segments(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentRecord[]> {
    return this.exec(() =>
      this.records(this.q(`SELECT ${RECORD_COLS} FROM segments WHERE camera_id = ? AND stream = ? AND start_ms < ? AND end_ms > ? ORDER BY start_ms`).values(cameraId, stream, toMs, fromMs) as unknown[][], { cameraId, stream }),
    );
  }

  /** Records from rows of RECORD_COLS, preceded by camera_id and stream unless `of` names their one stream. */
  private records(rows: unknown[][], of?: { cameraId: string; stream: StreamKind }): SegmentRecord[] {
    const k = of ? 0 : 2;
    const out: SegmentRecord[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const rec = this.record(of?.cameraId ?? (r[0] as string), of?.stream ?? (r[1] as StreamKind), r[k] as number, r[k + 1] as number, r[k + 2] as number, r[k + 3] as number);
      const h = r[k + 4];
      if (h !== null && h !== undefined) rec.sha256 = h as string;
      out[i] = rec;
    }
    return out;
  }

  fragmentTables(cameraId: string, stream: StreamKind, starts: number[]): Promise<Map<number, Uint8Array>> {
    return this.exec(() => {
      const out = new Map<number, Uint8Array>();
      if (starts.length === 0) return out;
      const want = new Set(starts);
      const rows = this.q(`SELECT start_ms, frags FROM segments WHERE camera_id = ? AND stream = ? AND start_ms >= ? AND start_ms <= ? AND frags IS NOT NULL`).values(cameraId, stream, Math.min(...starts), Math.max(...starts)) as [number, Uint8Array][];
      for (const [start, blob] of rows) if (want.has(start)) out.set(start, blob);
      return out;
    });
  }

  allSegments(): Promise<SegmentRecord[]> {
    return this.exec(() => this.records(this.q(`SELECT camera_id, stream, ${RECORD_COLS} FROM segments ORDER BY camera_id, stream, start_ms`).values() as unknown[][]));
  }

  oldest(cameraId: string | null, limit: number, afterStartMs: number): Promise<SegmentRecord[]> {
    return this.exec(() =>
      this.records(
        (cameraId
          ? this.q(`SELECT camera_id, stream, ${RECORD_COLS} FROM segments WHERE camera_id = ? AND start_ms > ? ORDER BY start_ms, stream LIMIT ?`).values(cameraId, afterStartMs, limit)
          : this.q(`SELECT camera_id, stream, ${RECORD_COLS} FROM segments WHERE start_ms > ? ORDER BY start_ms, camera_id, stream LIMIT ?`).values(afterStartMs, limit)) as unknown[][],
      ),
    );
  }

  lastEnds(): Promise<{ cameraId: string; stream: StreamKind; endMs: number }[]> {
    return this.exec(() =>
      (this.q(`SELECT camera_id, stream, max(end_ms) AS e FROM segments GROUP BY camera_id, stream`).all() as Row[]).map((r) => ({ cameraId: String(r.camera_id), stream: r.stream as StreamKind, endMs: Number(r.e) })),
    );
  }

  starts(cameraId: string, stream: StreamKind): Promise<number[]> {
    return this.exec(() => (this.q(`SELECT start_ms FROM segments WHERE camera_id = ? AND stream = ? ORDER BY start_ms`).values(cameraId, stream) as number[][]).map((r) => r[0]!));
  }

  bytesByCamera(): Promise<{ cameraId: string; bytes: number }[]> {
    return this.exec(() => (this.q(`SELECT camera_id, sum(bytes) AS b FROM segments GROUP BY camera_id ORDER BY camera_id`).all() as Row[]).map((r) => ({ cameraId: String(r.camera_id), bytes: Number(r.b) })));
  }

  totalBytes(): Promise<number> {
    return this.exec(() => Number((this.q(`SELECT coalesce(sum(bytes), 0) AS b FROM segments`).get() as Row).b));
  }

  cameras(): Promise<CameraTotals[]> {
    return this.exec(() => (this.q(CAMERA_TOTALS).all() as Row[]).map(toCameraTotals));
  }

  putGap(g: JournalGap): Promise<void> {
    return this.exec(() => {
      this.gapCache.delete(streamKey(g.cameraId, g.stream));
      this.q(`INSERT OR REPLACE INTO gaps VALUES (?, ?, ?, ?, ?, ?)`).run(g.cameraId, g.stream, g.startMs, g.endMs, g.reason, g.detail ?? null);
    });
  }

  deleteGap(g: { cameraId: string; stream: StreamKind; startMs: number }): Promise<void> {
    return this.exec(() => {
      this.gapCache.delete(streamKey(g.cameraId, g.stream));
      this.q(`DELETE FROM gaps WHERE camera_id = ? AND stream = ? AND start_ms = ?`).run(g.cameraId, g.stream, g.startMs);
    });
  }

  protected readGaps(cameraId: string, stream: StreamKind): JournalGap[] {
    return (this.q(`SELECT * FROM gaps WHERE camera_id = ? AND stream = ? ORDER BY start_ms`).all(cameraId, stream) as Row[]).map(toGap);
  }

  allGaps(): Promise<JournalGap[]> {
    return this.exec(() => (this.q(`SELECT * FROM gaps ORDER BY camera_id, stream, start_ms`).all() as Row[]).map(toGap));
  }

  /** Makes the gaps and locks tables equal to the journals and lock files, writing only the rows that differ. */
  replaceGapsAndLocks(gaps: JournalGap[], locks: EvidenceLock[]): Promise<void> {
    return this.exec(() => {
      this.invalidate();
      const g = rowChanges((this.q(`SELECT * FROM gaps`).all() as Row[]).map(toGap), gaps, gapKey, sameGap);
      const l = rowChanges((this.q(`SELECT * FROM locks`).all() as Row[]).map(toLock), locks, (x) => x.id, sameLock);
      if (g.remove.length + g.put.length + l.remove.length + l.put.length === 0) return;
      this.db.transaction(() => {
        for (const x of g.remove) this.q(`DELETE FROM gaps WHERE camera_id = ? AND stream = ? AND start_ms = ?`).run(x.cameraId, x.stream, x.startMs);
        for (const x of l.remove) this.q(`DELETE FROM locks WHERE id = ?`).run(x.id);
        for (const x of g.put) this.q(`INSERT OR REPLACE INTO gaps VALUES (?, ?, ?, ?, ?, ?)`).run(x.cameraId, x.stream, x.startMs, x.endMs, x.reason, x.detail ?? null);
        for (const x of l.put) this.q(`INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(...(lockParams(x) as never[]));
      })();
    });
  }

  putLock(l: EvidenceLock): Promise<void> {
    return this.run(`INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, lockParams(l));
  }

  deleteLock(id: string): Promise<void> {
    return this.run(`DELETE FROM locks WHERE id = ?`, [id]);
  }

  allLocks(): Promise<EvidenceLock[]> {
    return this.exec(() => (this.q(`SELECT * FROM locks ORDER BY start_ms, id`).all() as Row[]).map(toLock));
  }

  /** Closes the file; checkpoint folds the WAL into it first (a clean stop leaves one file). */
  close(checkpoint = true): Promise<void> {
    return this.exec(() => {
      if (checkpoint) {
        try {
          this.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
        } catch {}
      }
      this.statements.clear();
      this.db.close();
      releaseOwnership(this.path);
    });
  }
}

/**
 * One recorder owns a store: it holds the write lock of a small SQLite file beside the index
 * (`index.sqlite.owner`) from open to close — the kernel drops it when the process dies, so a
 * crash never leaves a stale claim (a PID file would, and PIDs are reused). Another process
 * that opens the store, or checks it, fails with the owner's PID. Within one process the index
 * may be opened again to read (a check of a running store, as tests and the fleet view do).
 */
const owners = new Map<string, Database>();

function ownerFile(path: string): string {
  return `${path}.owner`;
}

function takeOwnership(path: string): void {
  if (owners.has(path)) throw new StoreLockedError(`the index ${path} is already open in this process`);
  const lock = new Database(ownerFile(path), { create: true, readwrite: true });
  try {
    lock.run("PRAGMA busy_timeout = 0");
    lock.run("PRAGMA locking_mode = EXCLUSIVE");
    lock.run("PRAGMA journal_mode = MEMORY"); // its one row needs no journal file beside it
    // A write in exclusive mode takes the lock and keeps it until close.
    lock.run("CREATE TABLE IF NOT EXISTS owner (pid INTEGER)");
    lock.run("DELETE FROM owner");
    lock.run("INSERT INTO owner VALUES (?)", [process.pid]);
  } catch (e) {
    lock.close();
    throw lockedError(path, e);
  }
  owners.set(path, lock);
}

function releaseOwnership(path: string): void {
  owners.get(path)?.close();
  owners.delete(path);
}

/** For a reader from outside (`outpost check`): the store must not be owned by another process. */
function checkNotOwnedElsewhere(path: string): void {
  if (owners.has(path)) return;
  let lock: Database;
  try {
    lock = new Database(ownerFile(path), { readwrite: true, create: false });
  } catch {
    return; // never opened by a recorder of this version
  }
  try {
    lock.run("PRAGMA busy_timeout = 0");
    lock.run("BEGIN IMMEDIATE");
    lock.run("ROLLBACK");
  } catch (e) {
    throw lockedError(path, e);
  } finally {
    lock.close();
  }
}

function lockedError(path: string, e: unknown): Error {
  if (!/database is locked|SQLITE_BUSY/i.test(String((e as Error).message))) return e as Error;
  const pid = lockHolder(ownerFile(path));
  return new StoreLockedError(`the index ${path} is in use by another process${pid ? ` (PID ${pid})` : ""}; stop it first (one recorder owns a store)`);
}

/** The PID holding a POSIX lock on `path` (/proc/locks, Linux), for the "in use" message. */
function lockHolder(path: string): number | null {
  try {
    const ino = statSync(path).ino;
    for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
      const f = line.trim().split(/\s+/);
      // "1: POSIX  ADVISORY  WRITE 12345 08:01:1234567 1073741824 1073741825"
      const dev = f[5]?.split(":");
      if (f[1] === "POSIX" && dev && Number(dev[2]) === ino && Number(f[4]) !== process.pid) return Number(f[4]);
    }
  } catch {}
  return null;
}

/**
 * What the store's index implementations share (the DuckDB one, lib/store/db.ts, and the
 * SQLite one the edge runs, lib/store/sqlite-index.ts): the in-memory coverage runs the
 * timeline reads, and the mapping between gap and lock records and their rows. No SQL here.
 */
import type { EvidenceLock, SegmentRecord, StreamKind } from "./types.ts";
import { segmentId, segmentRelPath } from "./layout.ts";
import type { JournalGap } from "./journal.ts";

export type Row = Record<string, unknown>;
export type Param = string | number | bigint | null;

export interface Format {
  mime: string;
  width?: number;
  height?: number;
}

/**
 * What one stream has recorded, for timeline queries without a DuckDB round trip: runs of
 * segments that follow each other exactly (next start = previous end), sorted by start. A
 * continuous month is one run; every hole, overlap or odd segment starts a new run, so the
 * window filter and range merge over runs give the same ranges as over segments.
 */
export interface Coverage {
  start: number[];
  end: number[];
  /** Longest run: runs starting before from − maxLen end before from. */
  maxLen: number;
  /** Start of the newest segment: a commit after it extends the runs in place. */
  lastStart: number;
}


export function streamKey(cameraId: string, stream: string): string {
  return `${cameraId}\0${stream}`;
}

/** Appends a segment that starts after every other one. */
export function addToCoverage(c: Coverage, startMs: number, endMs: number): void {
  const n = c.start.length;
  if (n > 0 && startMs === c.end[n - 1] && endMs > startMs) c.end[n - 1] = endMs;
  else {
    c.start.push(startMs);
    c.end.push(endMs);
  }
  const last = c.start.length - 1;
  c.maxLen = Math.max(c.maxLen, c.end[last]! - c.start[last]!);
  c.lastStart = startMs;
}

/** Runs overlapping [from, to): start < to and end > from, in start order. */
export function coverageWindow(c: Coverage, fromMs: number, toMs: number): { start: number[]; end: number[] } {
  const firstAtOrAfter = (t: number) => {
    let lo = 0;
    let hi = c.start.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c.start[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const start: number[] = [];
  const end: number[] = [];
  for (let i = firstAtOrAfter(fromMs - c.maxLen), hi = firstAtOrAfter(toMs); i < hi; i++) {
    if (c.end[i]! > fromMs) {
      start.push(c.start[i]!);
      end.push(c.end[i]!);
    }
  }
  return { start, end };
}

export function fmtKey(f: Format): string {
  return `${f.mime}|${f.width ?? ""}|${f.height ?? ""}`;
}

export function lockParams(l: EvidenceLock): Param[] {
  return [l.id, l.cameraId, l.startMs, l.endMs, l.reason, l.createdBy, l.createdAtMs, l.expiresAtMs ?? null];
}


export function toLock(r: Row): EvidenceLock {
  const l: EvidenceLock = {
    id: String(r.id),
    cameraId: String(r.camera_id),
    startMs: Number(r.start_ms),
    endMs: Number(r.end_ms),
    reason: String(r.reason),
    createdBy: String(r.created_by),
    createdAtMs: Number(r.created_at_ms),
  };
  if (r.expires_at_ms !== null && r.expires_at_ms !== undefined) l.expiresAtMs = Number(r.expires_at_ms);
  return l;
}

export const gapKey = (g: JournalGap) => `${streamKey(g.cameraId, g.stream)}\u0000${g.startMs}`;
export const sameGap = (a: JournalGap, b: JournalGap) => a.endMs === b.endMs && a.reason === b.reason && (a.detail ?? null) === (b.detail ?? null);
export const sameLock = (a: EvidenceLock, b: EvidenceLock) => {
  const pb = lockParams(b);
  return lockParams(a).every((v, i) => v === pb[i]);
};

/** Rows per multi-row statement: every value is a bound parameter, a few hundred rows stay small. */
export const CHUNK_ROWS = 200;

export function chunks<T>(list: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += CHUNK_ROWS) out.push(list.slice(i, i + CHUNK_ROWS));
  return out;
}

/** "$n+1, $n+2, …": the placeholders of one row of `count` values after `n` earlier ones. */
export function placeholders(n: number, count: number): string {
  return Array.from({ length: count }, (_, i) => `$${n + i + 1}`).join(", ");
}

/** One stream's totals as `cameras()` answers them, from a row of its GROUP BY query. */
export interface CameraTotals {
  cameraId: string;
  stream: StreamKind;
  firstMs: number;
  lastMs: number;
  bytes: number;
  segments: number;
}

/** The query behind `cameras()`: the same SQL in both engines. */
export const CAMERA_TOTALS = `SELECT camera_id, stream, min(start_ms) AS first, max(end_ms) AS last, sum(bytes) AS bytes, count(*) AS n FROM segments GROUP BY camera_id, stream ORDER BY camera_id, stream`;

export function toCameraTotals(r: Row): CameraTotals {
  return { cameraId: String(r.camera_id), stream: r.stream as StreamKind, firstMs: Number(r.first), lastMs: Number(r.last), bytes: Number(r.bytes), segments: Number(r.n) };
}

export function toGap(r: Row): JournalGap {
  const g: JournalGap = {
    cameraId: String(r.camera_id),
    stream: r.stream as StreamKind,
    startMs: Number(r.start_ms),
    endMs: r.end_ms === null || r.end_ms === undefined ? null : Number(r.end_ms),
    reason: r.reason as JournalGap["reason"],
  };
  if (r.detail !== null && r.detail !== undefined) g.detail = String(r.detail);
  return g;
}

/**
 * The part of an index that is not its database: one queue for every call (a transaction whose
 * body awaits must not have other callers' statements run inside it), the format lookup, and the
 * per-stream coverage and gap caches the timeline answers from. An implementation supplies the
 * reads that fill the caches.
 */
export abstract class QueuedIndex {
  private queue: Promise<unknown> = Promise.resolve();
  /** Statements queued or running: the caches answer directly only when nothing is pending. */
  private pending = 0;
  protected formats = new Map<number, Format>();
  protected formatIds = new Map<string, number>();
  protected coverage = new Map<string, Coverage>();
  protected gapCache = new Map<string, JournalGap[]>();

  /** One stream's segment (start, end) pairs in start order, for its coverage (run inside the queue). */
  protected abstract readStarts(cameraId: string, stream: StreamKind): Promise<{ start: number[]; end: number[] }> | { start: number[]; end: number[] };
  /** One stream's gaps in start order (run inside the queue). */
  protected abstract readGaps(cameraId: string, stream: StreamKind): Promise<JournalGap[]> | JournalGap[];

  protected exec<T>(fn: () => T | Promise<T>): Promise<T> {
    this.pending++;
    const p = this.queue.then(fn, fn).finally(() => this.pending--);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Forgets cached coverage and gaps (of one stream, or all): the next query reloads them. */
  protected invalidate(cameraId?: string, stream?: string): void {
    if (cameraId === undefined) {
      this.coverage.clear();
      this.gapCache.clear();
    } else {
      this.coverage.delete(streamKey(cameraId, stream!));
      this.gapCache.delete(streamKey(cameraId, stream!));
    }
  }

  /** Remembers a format loaded from the index. */
  protected addFormat(id: number, f: Format): void {
    this.formats.set(id, f);
    this.formatIds.set(fmtKey(f), id);
  }

  /** Keeps a loaded coverage in step with a new row: the newest segment extends it, anything else reloads it. */
  protected noteSegment(cameraId: string, stream: string, startMs: number, endMs: number): void {
    const c = this.coverage.get(streamKey(cameraId, stream));
    if (!c) return;
    if (startMs <= c.lastStart) return void this.coverage.delete(streamKey(cameraId, stream));
    addToCoverage(c, startMs, endMs);
  }

  /** A segment record from its row's numbers (camera and stream known to the caller). */
  protected record(cameraId: string, stream: StreamKind, startMs: number, endMs: number, bytes: number, fmt: number): SegmentRecord {
    const f = this.formats.get(fmt) ?? { mime: "video/mp4" };
    const s: SegmentRecord = { id: segmentId(cameraId, stream, startMs), cameraId, stream, startMs, endMs, bytes, path: segmentRelPath(cameraId, stream, startMs), mime: f.mime };
    if (f.width !== undefined) s.width = f.width;
    if (f.height !== undefined) s.height = f.height;
    return s;
  }

  /**
   * The timeline's 30-day path: what was recorded in [from, to) as (start, end) pairs sorted by
   * start — runs of back-to-back segments rather than single segments, which merge and clip to
   * the same ranges (MediaStore.timeline). Served from memory after the stream's first query;
   * kept current on commit, reloaded after any other change.
   */
  async coverageIn(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<{ start: number[]; end: number[] }> {
    const key = streamKey(cameraId, stream);
    const c =
      (this.pending === 0 ? this.coverage.get(key) : undefined) ??
      (await this.exec(async () => {
        const hit = this.coverage.get(key);
        if (hit) return hit;
        const rows = await this.readStarts(cameraId, stream);
        const loaded: Coverage = { start: [], end: [], maxLen: 0, lastStart: -Infinity };
        for (let i = 0; i < rows.start.length; i++) addToCoverage(loaded, rows.start[i]!, rows.end[i]!);
        this.coverage.set(key, loaded);
        return loaded;
      }));
    return coverageWindow(c, fromMs, toMs);
  }

  /** Gaps overlapping [from, to) (open ones included), by start; a stream's gaps are cached after its first query. */
  async gaps(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<JournalGap[]> {
    const key = streamKey(cameraId, stream);
    let all = this.pending === 0 ? this.gapCache.get(key) : undefined;
    all ??= await this.exec(async () => {
      const hit = this.gapCache.get(key);
      if (hit) return hit;
      const list = await this.readGaps(cameraId, stream);
      this.gapCache.set(key, list);
      return list;
    });
    return all.filter((g) => g.startMs < toMs && (g.endMs === null || g.endMs > fromMs)).map((g) => ({ ...g }));
  }
}

/**
 * The edge's local event log: append-only JSON lines in <dataDir>/events/, rotated by size
 * (events.jsonl → events.1.jsonl → … → events.<files-1>.jsonl, the oldest dropped). A plain
 * file, not DuckDB: the store's DuckDB file belongs to lib/store (one owning process per file),
 * and the on-site API only needs "what happened between from and to" over a bounded history.
 * A torn last line after a crash is skipped on read.
 */
import { appendFile, mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { isNoSpace } from "../../lib/store/errors.ts";

/** Lines kept in memory at most while the disk is full. */
const MAX_HELD = 10_000;

export interface EdgeEventRecord {
  /** Unique; the same id goes to the uplink (central deduplicates by it). */
  id: string;
  kind: string;
  cameraId?: string;
  /** Host clock when the edge observed it, ms since epoch. */
  atMs: number;
  data: Record<string, unknown>;
}

export interface EventLogOptions {
  dir: string;
  /** Rotate the current file past this size; default 1 MiB. */
  maxBytes?: number;
  /** Files kept including the current one; default 4. */
  files?: number;
}

export class EventLog {
  private readonly current: string;
  private readonly maxBytes: number;
  private readonly files: number;
  private size = 0;
  private chain: Promise<void> = Promise.resolve();
  /**
   * Lines the disk refused (ENOSPC: the volume the recordings filled). Kept in memory, served
   * by query(), and written before the next line once there is room — a disk.full event must
   * not be lost to the very condition it reports.
   */
  private held: string[] = [];

  private constructor(private readonly o: EventLogOptions) {
    this.current = join(o.dir, "events.jsonl");
    this.maxBytes = o.maxBytes ?? 1 << 20;
    this.files = Math.max(1, o.files ?? 4);
    if (!(this.maxBytes > 0)) throw new Error(`event log maxBytes must be positive, got ${o.maxBytes}`);
  }

  static async open(o: EventLogOptions): Promise<EventLog> {
    const log = new EventLog(o);
    await mkdir(o.dir, { recursive: true, mode: 0o700 });
    log.size = await stat(log.current).then((s) => s.size, () => 0);
    // A crash mid-line leaves no newline: end it so the next record is not glued to the torn one.
    if (log.size > 0) {
      const text = await readFile(log.current, "utf8");
      if (!text.endsWith("\n")) {
        await appendFile(log.current, "\n");
        log.size += 1;
      }
    }
    return log;
  }

  /** Appends in call order; resolves once the line is written. */
  append(rec: EdgeEventRecord): Promise<void> {
    const line = JSON.stringify(rec) + "\n";
    const run = async () => {
      this.held.push(line);
      await this.flushHeld();
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Lines held in memory because the disk was full. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Writes held lines in order; on ENOSPC they stay held (bounded: the oldest are dropped past MAX_HELD). */
  flush(): Promise<void> {
    const p = this.chain.then(() => this.flushHeld());
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async flushHeld(): Promise<void> {
    while (this.held.length) {
      const line = this.held[0]!;
      try {
        if (this.size > 0 && this.size + line.length > this.maxBytes) await this.rotate();
        await appendFile(this.current, line);
      } catch (e) {
        if (!isNoSpace(e)) {
          this.held.shift();
          throw e;
        }
        if (this.held.length > MAX_HELD) this.held.splice(0, this.held.length - MAX_HELD);
        return;
      }
      this.held.shift();
      this.size += Buffer.byteLength(line);
    }
  }

  /** Events with fromMs ≤ atMs < toMs, oldest first, at most `limit` (the newest ones when more match). */
  async query(q: { fromMs?: number; toMs?: number; cameraId?: string; limit?: number } = {}): Promise<EdgeEventRecord[]> {
    await this.chain;
    const out: EdgeEventRecord[] = [];
    for (let i = this.files; i >= 0; i--) {
      const text = i === this.files ? this.held.join("") : await readFile(this.path(i), "utf8").catch(() => "");
      for (const line of text.split("\n")) {
        if (!line) continue;
        let r: EdgeEventRecord;
        try {
          r = JSON.parse(line) as EdgeEventRecord;
        } catch {
          continue;
        }
        if (typeof r.atMs !== "number" || typeof r.id !== "string") continue;
        if (q.fromMs !== undefined && r.atMs < q.fromMs) continue;
        if (q.toMs !== undefined && r.atMs >= q.toMs) continue;
        if (q.cameraId !== undefined && r.cameraId !== q.cameraId) continue;
        out.push(r);
      }
    }
    out.sort((a, b) => a.atMs - b.atMs);
    return q.limit !== undefined && out.length > q.limit ? out.slice(out.length - q.limit) : out;
  }

  private path(i: number): string {
    return i === 0 ? this.current : join(this.o.dir, `events.${i}.jsonl`);
  }

  private async rotate(): Promise<void> {
    await rm(this.path(this.files - 1), { force: true });
    for (let i = this.files - 2; i >= 0; i--) await rename(this.path(i), this.path(i + 1)).catch(() => undefined);
    this.size = 0;
  }
}

/**
 * The durable outbox: everything that must reach central is appended here (write + fsync)
 * before it is sent, and removed only when central acknowledges it by seq (application ack,
 * after central stored it — never on PUBACK). Two lanes share one seq space: "critical"
 * (events, index, tree, results, drop reports: never dropped) and "telemetry" (health,
 * digests: dropped oldest-first when the outbox is over its byte bound; the drop is itself
 * reported). Files: <dir>/<lane>-<firstSeq>.log with records [len u32][crc32 u32][JSON],
 * and state.json {ob, acked, telemetryDroppedThrough}. A torn tail (kill -9) is cut at open.
 */
import { open, readdir, readFile, truncate, unlink, mkdir, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { fsyncDir, writeFileAtomic } from "../../lib/fsutil.ts";
import { toText } from "../../lib/text.ts";
import { laneOf, PROTOCOL_VERSION, type UpBody, type UpType } from "../../federation/protocol/index.ts";

export type Lane = "critical" | "telemetry";

export interface OutboxEntry {
  seq: number;
  lane: Lane;
  type: UpType;
  /** Exactly what goes on the wire. */
  payload: Uint8Array;
}

export interface OutboxOptions {
  dir: string;
  clock: Clock;
  log: Logger;
  /** Bound for unacknowledged bytes; telemetry is dropped beyond it. Default 64 MiB. */
  maxBytes?: number;
  /** A log file is closed and a new one started past this size. Default 1 MiB. */
  fileBytes?: number;
}

interface LogFile {
  lane: Lane;
  firstSeq: number;
  lastSeq: number;
  path: string;
  size: number;
}

interface State {
  ob: string;
  acked: number;
  telemetryDroppedThrough: number;
  /** Never reuse a seq, even when every file is gone. */
  lastSeq: number;
}

interface Pending {
  entry: OutboxEntry;
  resolve: () => void;
  reject: (e: Error) => void;
}

const HEADER = 8;

export class Outbox {
  private state!: State;
  private readonly entries: OutboxEntry[] = [];
  private head = 0; // entries[head..] are pending
  private bytes = 0;
  private files: LogFile[] = [];
  private handles = new Map<string, FileHandle>();
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private stateDirty = false;
  private stateTimer: ReturnType<typeof setTimeout> | null = null;
  private droppedTotal = 0;
  private dropReport: { count: number; byType: Record<string, number>; fromSeq: number; toSeq: number } | null = null;
  private closed = false;
  readonly maxBytes: number;
  private readonly fileBytes: number;
  /** Called after entries became visible (durable); the sender wakes on it. */
  onAppend: (() => void) | null = null;

  private constructor(private readonly o: OutboxOptions) {
    this.maxBytes = o.maxBytes ?? 64 * 1024 * 1024;
    this.fileBytes = o.fileBytes ?? 1024 * 1024;
  }

  static async open(o: OutboxOptions): Promise<Outbox> {
    const b = new Outbox(o);
    await b.load();
    return b;
  }

  /** Random per outbox; central keeps its dedup watermark per (site, ob). */
  get id(): string {
    return this.state.ob;
  }

  get ackedSeq(): number {
    return this.state.acked;
  }

  stats(): { pending: number; bytes: number; dropped: number; firstSeq: number; lastSeq: number } {
    const n = this.entries.length - this.head;
    return { pending: n, bytes: this.bytes, dropped: this.droppedTotal, firstSeq: n ? this.entries[this.head]!.seq : 0, lastSeq: this.state.lastSeq };
  }

  /** Pending entries with seq > after, in seq order, at most `limit`. */
  after(after: number, limit: number): OutboxEntry[] {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo, lo + limit);
  }

  /** Appends one message; resolves once it is on disk (fsync). */
  append<T extends UpType>(type: T, body: UpBody<T>): Promise<number> {
    if (this.closed) return Promise.reject(new Error("outbox is closed"));
    const seq = ++this.state.lastSeq;
    // Central refuses control characters (the protocol's text rule); text passed on from cameras
    // or log lines is cleaned here instead, so the message is not refused as a whole.
    const text = toText(body);
    if (text.changed) this.o.log.warn("control characters replaced in an outgoing message", { type, seq });
    const msg = { v: PROTOCOL_VERSION, ob: this.state.ob, seq, at: this.o.clock.now(), type, body: text.value };
    const entry: OutboxEntry = { seq, lane: laneOf(type), type, payload: new TextEncoder().encode(JSON.stringify(msg)) };
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ entry, resolve: () => resolve(seq), reject });
      this.kick();
    });
  }

  /** Central stored everything ≤ upTo. */
  ack(upTo: number): void {
    if (upTo <= this.state.acked) return;
    this.state.acked = Math.min(upTo, this.state.lastSeq);
    while (this.head < this.entries.length && this.entries[this.head]!.seq <= this.state.acked) {
      this.bytes -= this.entries[this.head]!.payload.length;
      this.head++;
    }
    this.compactMemory();
    this.markState();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    if (this.stateTimer) clearTimeout(this.stateTimer);
    await this.saveState();
    await this.dropFiles();
    for (const h of this.handles.values()) await h.close();
    this.handles.clear();
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      while (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.writeBatch(batch.map((p) => p.entry));
          for (const p of batch) p.resolve();
        } catch (e) {
          this.o.log.error("outbox write failed", { err: e as Error });
          for (const p of batch) p.reject(e as Error);
        }
      }
      this.flushing = null;
    })();
  }

  private async writeBatch(batch: OutboxEntry[]): Promise<void> {
    // Make room first (telemetry oldest-first), so the batch never pushes out its own criticals.
    let incoming = 0;
    for (const e of batch) incoming += e.payload.length;
    const admitted: OutboxEntry[] = [];
    for (const e of batch) {
      if (this.bytes + incoming > this.maxBytes) this.dropTelemetry(this.bytes + incoming - this.maxBytes);
      if (e.lane === "telemetry" && this.bytes + incoming > this.maxBytes) {
        this.noteDrop(e);
        incoming -= e.payload.length;
        continue;
      }
      admitted.push(e);
    }
    if (this.bytes + incoming > this.maxBytes && admitted.some((e) => e.lane === "critical")) {
      this.o.log.warn("outbox is over its bound with critical messages only; they are kept (never dropped)", { bytes: this.bytes + incoming, maxBytes: this.maxBytes });
    }
    if (this.dropReport) {
      const r = this.dropReport;
      this.dropReport = null;
      this.o.log.warn("outbox full: dropped oldest telemetry", r);
      const seq = ++this.state.lastSeq;
      const msg = { v: PROTOCOL_VERSION, ob: this.state.ob, seq, at: this.o.clock.now(), type: "dropped", body: r };
      admitted.push({ seq, lane: "critical", type: "dropped", payload: new TextEncoder().encode(JSON.stringify(msg)) });
    }
    const touched = new Set<string>();
    for (const lane of ["critical", "telemetry"] as const) {
      const items = admitted.filter((e) => e.lane === lane);
      if (!items.length) continue;
      let i = 0;
      while (i < items.length) {
        const f = await this.currentFile(lane, items[i]!.seq);
        const chunks: Uint8Array[] = [];
        let size = 0;
        for (; i < items.length && (size === 0 || f.size + size < this.fileBytes); i++) {
          const rec = frame(items[i]!.payload);
          chunks.push(rec);
          size += rec.length;
          f.lastSeq = items[i]!.seq;
        }
        const h = this.handles.get(f.path)!;
        await h.write(Buffer.concat(chunks));
        f.size += size;
        touched.add(f.path);
      }
    }
    await Promise.all([...touched].flatMap((p) => (this.handles.has(p) ? [this.handles.get(p)!.sync()] : [])));
    // Seq order across lanes: drop reports were numbered last, so a sort keeps `entries` ordered.
    admitted.sort((a, b) => a.seq - b.seq);
    for (const e of admitted) {
      this.entries.push(e);
      this.bytes += e.payload.length;
    }
    if (admitted.length) this.onAppend?.();
    if (this.stateDirty) this.markState();
  }

  private dropTelemetry(need: number): void {
    let freed = 0;
    for (let i = this.head; i < this.entries.length && freed < need; i++) {
      const e = this.entries[i]!;
      if (e.lane !== "telemetry") continue;
      freed += e.payload.length;
      this.noteDrop(e);
      this.state.telemetryDroppedThrough = Math.max(this.state.telemetryDroppedThrough, e.seq);
      (e as { dropped?: boolean }).dropped = true;
    }
    if (freed) {
      const keep = this.entries.slice(this.head).filter((e) => !(e as { dropped?: boolean }).dropped);
      this.entries.length = 0;
      this.entries.push(...keep);
      this.head = 0;
      this.bytes -= freed;
      this.stateDirty = true;
    }
  }

  private noteDrop(e: OutboxEntry): void {
    this.droppedTotal++;
    const r = (this.dropReport ??= { count: 0, byType: {}, fromSeq: e.seq, toSeq: e.seq });
    r.count++;
    r.byType[e.type] = (r.byType[e.type] ?? 0) + 1;
    r.fromSeq = Math.min(r.fromSeq, e.seq);
    r.toSeq = Math.max(r.toSeq, e.seq);
    if (e.lane === "telemetry") this.state.telemetryDroppedThrough = Math.max(this.state.telemetryDroppedThrough, e.seq);
    this.stateDirty = true;
  }

  private async currentFile(lane: Lane, seq: number): Promise<LogFile> {
    const last = [...this.files].reverse().find((f) => f.lane === lane);
    if (last && last.size < this.fileBytes && this.handles.has(last.path)) return last;
    if (last) {
      const h = this.handles.get(last.path);
      if (h) {
        // Rotation inside a batch: make the closed file durable before the handle goes.
        this.handles.delete(last.path);
        await h.sync();
        await h.close();
      }
    }
    const path = join(this.o.dir, `${lane}-${String(seq).padStart(12, "0")}.log`);
    const h = await open(path, "a", 0o600);
    this.handles.set(path, h);
    const f: LogFile = { lane, firstSeq: seq, lastSeq: seq, path, size: 0 };
    this.files.push(f);
    await fsyncDir(this.o.dir);
    return f;
  }

  private compactMemory(): void {
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }

  /** State writes are batched (100 ms): a lost ack only means central sees a duplicate. */
  private markState(): void {
    this.stateDirty = true;
    if (this.stateTimer || this.closed) return;
    this.stateTimer = setTimeout(() => {
      this.stateTimer = null;
      void this.saveState()
        .then(() => this.dropFiles())
        .catch((e) => this.o.log.error("outbox state not saved", { err: e as Error }));
    }, 100);
  }

  /** Crash-safe and serialized per path in lib/fsutil (the batch timer and close() may both save). */
  private async saveState(): Promise<void> {
    if (!this.stateDirty) return;
    this.stateDirty = false;
    await writeFileAtomic(join(this.o.dir, "state.json"), JSON.stringify(this.state));
  }

  /** Files whose every record is acknowledged (or dropped telemetry) are deleted — after state.json says so. */
  private async dropFiles(): Promise<void> {
    const keep: LogFile[] = [];
    const lastOfLane = new Map<Lane, LogFile>();
    for (const f of this.files) lastOfLane.set(f.lane, f);
    for (const f of this.files) {
      const done = f.lastSeq <= this.state.acked || (f.lane === "telemetry" && f.lastSeq <= this.state.telemetryDroppedThrough);
      if (done && lastOfLane.get(f.lane) !== f) {
        const h = this.handles.get(f.path);
        if (h) {
          await h.close();
          this.handles.delete(f.path);
        }
        await unlink(f.path).catch(() => undefined);
      } else keep.push(f);
    }
    this.files = keep;
  }

  private async load(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    try {
      this.state = JSON.parse(await readFile(join(this.o.dir, "state.json"), "utf8")) as State;
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") this.o.log.error("outbox state unreadable; starting a new outbox id", { err: e as Error });
      this.state = { ob: Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex"), acked: 0, telemetryDroppedThrough: 0, lastSeq: 0 };
      this.stateDirty = true;
    }
    const names = (await readdir(this.o.dir)).filter((n) => /^(critical|telemetry)-\d+\.log$/.test(n)).sort();
    const all: OutboxEntry[] = [];
    for (const name of names) {
      const lane = name.startsWith("critical") ? "critical" : "telemetry";
      const path = join(this.o.dir, name);
      const buf = new Uint8Array(await readFile(path));
      const { records, goodBytes } = unframe(buf);
      if (goodBytes < buf.length) {
        this.o.log.warn("outbox file had a torn tail; cut", { file: name, cutBytes: buf.length - goodBytes });
        await truncate(path, goodBytes);
      }
      const f: LogFile = { lane, firstSeq: Number(name.slice(lane.length + 1, -4)), lastSeq: 0, path, size: goodBytes };
      for (const payload of records) {
        let m: { seq?: number; type?: UpType };
        try {
          m = JSON.parse(new TextDecoder().decode(payload));
        } catch {
          continue;
        }
        if (typeof m.seq !== "number" || !m.type) continue;
        f.lastSeq = Math.max(f.lastSeq, m.seq);
        this.state.lastSeq = Math.max(this.state.lastSeq, m.seq);
        if (m.seq <= this.state.acked) continue;
        if (lane === "telemetry" && m.seq <= this.state.telemetryDroppedThrough) continue;
        all.push({ seq: m.seq, lane, type: m.type, payload });
      }
      this.files.push(f);
    }
    all.sort((a, b) => a.seq - b.seq);
    for (const e of all) {
      this.entries.push(e);
      this.bytes += e.payload.length;
    }
    await this.saveState();
    // Reopen the newest file of each lane for appending.
    for (const lane of ["critical", "telemetry"] as const) {
      const last = [...this.files].reverse().find((f) => f.lane === lane);
      if (last && last.size < this.fileBytes) this.handles.set(last.path, await open(last.path, "a", 0o600));
    }
    await this.dropFiles();
    this.o.log.info("outbox open", { ob: this.state.ob, pending: all.length, bytes: this.bytes, acked: this.state.acked });
  }
}

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, payload.length);
  dv.setUint32(4, Bun.hash.crc32(payload) >>> 0);
  out.set(payload, HEADER);
  return out;
}

function unframe(buf: Uint8Array): { records: Uint8Array[]; goodBytes: number } {
  const records: Uint8Array[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + HEADER <= buf.length) {
    const len = dv.getUint32(off);
    const crc = dv.getUint32(off + 4);
    if (off + HEADER + len > buf.length) break;
    const payload = buf.subarray(off + HEADER, off + HEADER + len);
    if ((Bun.hash.crc32(payload) >>> 0) !== crc) break;
    records.push(payload.slice());
    off += HEADER + len;
  }
  return { records, goodBytes: off };
}

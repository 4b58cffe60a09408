/**
 * One stream's segment writer: cuts the fragment stream into segment files at keyframes,
 * writes and fsyncs every fragment, commits each closed segment (file fsync → dir fsync →
 * index row), assigns wall-clock times, and turns every stop into a gap with a reason.
 */
import { open, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Clock } from "../clock.ts";
import type { Logger } from "../log/index.ts";
import type { FragmentInfo, GapReason, InitInfo, SegmentRecord, StreamKind } from "./types.ts";
import type { JournalGap } from "./journal.ts";
import { fsyncDir, mkdirDurable, segmentId, segmentRelPath } from "./layout.ts";
import { isNoSpace } from "./errors.ts";

export interface SegmentWriter {
  init(bytes: Uint8Array, info: InitInfo): void;
  fragment(bytes: Uint8Array, info: FragmentInfo, receivedAtMs: number): Promise<void>;
  end(reason: GapReason, detail?: string): Promise<void>;
  current(): SegmentRecord | undefined;
  onCommit?: (seg: SegmentRecord) => void;
}

/** What a writer needs from its store. */
export interface WriterHost {
  readonly root: string;
  readonly clock: Clock;
  readonly segmentDurationMs: number;
  /** Count bytes against the quota; throws a QuotaError when they do not fit. */
  reserve(bytes: number): void;
  release(bytes: number): void;
  /** Run store-wide retention to make room for `bytes`; true if anything was freed. */
  makeRoom(bytes: number): Promise<boolean>;
  /** Below the free-space floor: retention should run before a new file is opened. */
  lowOnSpace(): Promise<boolean>;
  commitRow(seg: SegmentRecord): Promise<void>;
  saveGap(g: JournalGap): Promise<void>;
}

/** Host time and media time may disagree by this much before the segment start is re-anchored. */
const REANCHOR_MS = 2000;
/** Media time jumping back, or forward by more than this, ends the segment (camera reset). */
const JUMP_MS = 2000;

interface OpenSegment {
  fh: FileHandle;
  rec: SegmentRecord;
  mediaStart: number;
  mediaEnd: number;
  hasher: Bun.CryptoHasher;
}

export class StreamWriter implements SegmentWriter {
  onCommit?: (seg: SegmentRecord) => void;
  private initBytes: Uint8Array | undefined;
  private initInfo: InitInfo | undefined;
  private anchor: { wall: number; media: number } | null = null;
  private seg: OpenSegment | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private diskFull = false;
  private lastNoSpaceLog = 0;
  /** Fragments dropped because no keyframe had started a segment yet, or the disk was full. */
  dropped = 0;

  constructor(
    private readonly host: WriterHost,
    private readonly log: Logger,
    readonly cameraId: string,
    readonly stream: StreamKind,
    /** End of the last committed segment of this stream (ms), if any. */
    private lastEndMs: number | undefined,
    /** Gap still open from before (crash, camera offline, clean stop). */
    private pendingGap: JournalGap | undefined,
  ) {}

  /** The gap open right now (recording stopped and not resumed). */
  openGap(): JournalGap | undefined {
    return this.pendingGap;
  }

  init(bytes: Uint8Array, info: InitInfo): void {
    this.serial(async () => {
      // A new session without end(): keep what was written, the new one starts its own file.
      if (this.seg) await this.commit();
      this.initBytes = bytes;
      this.initInfo = info;
      this.anchor = null;
    }).catch((e) => this.log.error("could not close the previous segment at init", { err: e as Error }));
  }

  fragment(bytes: Uint8Array, info: FragmentInfo, receivedAtMs: number): Promise<void> {
    return this.serial(async () => {
      if (!this.initBytes) throw new Error(`store: fragment for ${this.cameraId}/${this.stream} before init()`);
      const s = this.seg;
      if (s) {
        const jumped = info.startMs < s.mediaEnd - 1 || info.startMs > s.mediaEnd + JUMP_MS;
        if (jumped) {
          this.log.warn("media time jumped; closing segment", { from: s.mediaEnd, to: info.startMs });
          await this.commit();
          this.anchor = null;
        } else if (info.keyframe && info.startMs - s.mediaStart >= this.host.segmentDurationMs) {
          await this.commit();
        }
      }
      if (!this.seg) {
        if (!info.keyframe) {
          this.dropped++;
          return;
        }
        await this.openSegment(bytes, info, receivedAtMs);
        return;
      }
      await this.append(bytes, info);
    });
  }

  end(reason: GapReason, detail?: string): Promise<void> {
    return this.serial(async () => {
      if (this.seg) await this.commit();
      this.initBytes = undefined;
      this.initInfo = undefined;
      this.anchor = null;
      if (!this.pendingGap) await this.beginGap(reason, detail);
    });
  }

  current(): SegmentRecord | undefined {
    return this.seg ? { ...this.seg.rec, open: true } : undefined;
  }

  /** Waits for queued work; used by the store before it closes. */
  idle(): Promise<void> {
    return this.serial(async () => undefined);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async beginGap(reason: GapReason, detail?: string): Promise<void> {
    const g: JournalGap = { cameraId: this.cameraId, stream: this.stream, startMs: this.lastEndMs ?? this.host.clock.now(), endMs: null, reason };
    if (detail) g.detail = detail;
    this.pendingGap = g;
    await this.host.saveGap(g);
  }

  private wallStart(info: FragmentInfo, receivedAtMs: number): number {
    const hostStart = Math.round(receivedAtMs - info.durationMs);
    let start: number;
    if (this.anchor) {
      start = Math.round(this.anchor.wall + (info.startMs - this.anchor.media));
      if (Math.abs(start - hostStart) > REANCHOR_MS) {
        this.log.warn("host clock and media time disagree; re-anchoring", { mediaBased: start, hostBased: hostStart });
        start = hostStart;
        this.anchor = null;
      }
    } else start = hostStart;
    const last = this.lastEndMs;
    // Rounding can put a contiguous segment a millisecond off its predecessor: snap it on.
    if (last !== undefined && Math.abs(start - last) <= 5) start = last;
    if (last !== undefined && start < last) {
      start = last; // never start before the previous end of this stream
      this.anchor = null;
    }
    if (!this.anchor) this.anchor = { wall: start, media: info.startMs };
    return start;
  }

  private async openSegment(bytes: Uint8Array, info: FragmentInfo, receivedAtMs: number): Promise<void> {
    const init = this.initBytes!;
    const initInfo = this.initInfo!;
    const need = init.length + bytes.length;
    if (await this.host.lowOnSpace()) await this.host.makeRoom(need);
    let start = this.wallStart(info, receivedAtMs);
    let fh: FileHandle | undefined;
    let rel = "";
    for (let attempt = 0; ; attempt++) {
      try {
        this.host.reserve(need);
      } catch (e) {
        if (attempt === 0 && isNoSpace(e) && (await this.host.makeRoom(need))) continue;
        return this.noSpace(e);
      }
      rel = segmentRelPath(this.cameraId, this.stream, start);
      const path = join(this.host.root, rel);
      try {
        await mkdirDurable(dirname(path));
        fh = await open(path, "wx");
      } catch (e) {
        this.host.release(need);
        if ((e as { code?: string }).code === "EEXIST") {
          start++;
          attempt--;
          continue;
        }
        if (attempt === 0 && isNoSpace(e) && (await this.host.makeRoom(need))) continue;
        if (isNoSpace(e)) return this.noSpace(e);
        throw e;
      }
      try {
        const data = new Uint8Array(need);
        data.set(init, 0);
        data.set(bytes, init.length);
        await writeAll(fh, data, 0);
        await fh.sync();
        await fsyncDir(dirname(path)); // the open file itself must survive power loss, not only its bytes
        break;
      } catch (e) {
        this.host.release(need);
        await fh.close().catch(() => undefined);
        await unlink(path).catch(() => undefined);
        fh = undefined;
        if (attempt === 0 && isNoSpace(e) && (await this.host.makeRoom(need))) continue;
        if (isNoSpace(e)) return this.noSpace(e);
        throw e;
      }
    }
    const hasher = new Bun.CryptoHasher("sha256");
    hasher.update(init);
    hasher.update(bytes);
    const rec: SegmentRecord = {
      id: segmentId(this.cameraId, this.stream, start),
      cameraId: this.cameraId,
      stream: this.stream,
      startMs: start,
      endMs: start + Math.round(info.startMs + info.durationMs - info.startMs),
      bytes: need,
      path: rel,
      mime: initInfo.mime,
    };
    if (initInfo.video?.width) rec.width = initInfo.video.width;
    if (initInfo.video?.height) rec.height = initInfo.video.height;
    this.seg = { fh: fh!, rec, mediaStart: info.startMs, mediaEnd: info.startMs + info.durationMs, hasher };
    if (this.diskFull) {
      this.log.info("disk has room again; recording resumed");
      this.diskFull = false;
    }
    if (this.pendingGap) {
      // The gap ends where this segment starts; persisted only now that the file exists.
      const closed = { ...this.pendingGap, endMs: start };
      this.pendingGap = undefined;
      await this.host.saveGap(closed);
    }
  }

  private async append(bytes: Uint8Array, info: FragmentInfo): Promise<void> {
    const s = this.seg!;
    for (let attempt = 0; ; attempt++) {
      try {
        this.host.reserve(bytes.length);
      } catch (e) {
        if (attempt === 0 && isNoSpace(e) && (await this.host.makeRoom(bytes.length))) continue;
        return this.fullWhileOpen(e);
      }
      try {
        await writeAll(s.fh, bytes, s.rec.bytes);
        await s.fh.sync();
        break;
      } catch (e) {
        this.host.release(bytes.length);
        // A partial write leaves a torn fragment: cut back to the last whole one.
        await s.fh.truncate(s.rec.bytes).catch(() => undefined);
        if (!isNoSpace(e)) throw e;
        if (attempt === 0 && (await this.host.makeRoom(bytes.length))) continue;
        return this.fullWhileOpen(e);
      }
    }
    s.hasher.update(bytes);
    s.rec.bytes += bytes.length;
    s.mediaEnd = info.startMs + info.durationMs;
    s.rec.endMs = s.rec.startMs + Math.round(s.mediaEnd - s.mediaStart);
  }

  private async fullWhileOpen(e: unknown): Promise<void> {
    await this.commit();
    await this.noSpace(e);
  }

  /** Drop this fragment and stay in "disk full" until a keyframe finds room again. */
  private async noSpace(e: unknown): Promise<void> {
    if (!this.pendingGap) await this.beginGap("disk-full", (e as Error).message);
    this.dropped++;
    this.diskFull = true;
    const now = this.host.clock.now();
    if (now - this.lastNoSpaceLog > 10_000) {
      this.lastNoSpaceLog = now;
      this.log.error("no space for recording; retention could not free enough (locked footage?)", { err: (e as Error).message });
    }
  }

  private async commit(): Promise<void> {
    const s = this.seg!;
    this.seg = null;
    await s.fh.sync();
    await s.fh.close();
    await fsyncDir(dirname(join(this.host.root, s.rec.path)));
    const rec: SegmentRecord = { ...s.rec, sha256: s.hasher.digest("hex") };
    delete rec.open;
    this.lastEndMs = rec.endMs;
    await this.host.commitRow(rec);
    try {
      this.onCommit?.(rec);
    } catch (e) {
      this.log.error("onCommit handler failed", { err: e as Error });
    }
  }
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
    if (bytesWritten <= 0) throw Object.assign(new Error("short write"), { code: "ENOSPC" });
    off += bytesWritten;
  }
}

/**
 * Playback of a camera stream window from any segment source (the edge's and central's
 * MediaStore satisfy SegmentSource): planning, fMP4 bytes with ranges, HLS, latest keyframe.
 */
import type { Logger } from "../log/index.ts";
import type { SegmentRecord, StreamKind, TimelineQuery } from "../store/types.ts";
import { blockChunks, chunkStream, planStream, type ByteRange } from "./body.ts";
import { hlsPlaylist } from "./hls.ts";
import { buildPlan, fragmentSpan, inWindow, PlanBuilder, scanOf, type PlaybackPlan, type PlanInput } from "./plan.ts";
import { ScanCache, scanFromTable, type SegmentScan } from "./scan.ts";

/** The part of MediaStore that playback reads. */
export interface SegmentSource {
  segments(q: TimelineQuery): Promise<SegmentRecord[]>;
  absPath(seg: SegmentRecord): string;
  /**
   * Stored fragment tables (lib/mp4/fragtable.ts) of these closed segments, by start ms, for
   * the segments that have one: planning then reads each file's init only, not every moof.
   */
  fragmentTables?(cameraId: string, stream: StreamKind, segments: SegmentRecord[]): Promise<Map<number, Uint8Array>>;
}

export interface WindowQuery {
  cameraId: string;
  stream?: StreamKind;
  fromMs: number;
  toMs: number;
}

export interface PlaybackOptions {
  source: SegmentSource;
  log?: Logger;
  /** Upper bound on cached fragment entries (≈ 40 bytes each); default 500k ≈ 70 h of 500 ms fragments. */
  cacheFragments?: number;
}

/** A whole window sent while it is planned: what the response headers need, and the bytes. */
export interface ProgressiveBody {
  originMs: number;
  endMs: number;
  live: boolean;
  body: ReadableStream<Uint8Array>;
}

export class Playback {
  readonly cache: ScanCache;
  constructor(private readonly opts: PlaybackOptions) {
    this.cache = new ScanCache(opts.cacheFragments);
  }

  async plan(q: WindowQuery): Promise<PlaybackPlan> {
    const stream = q.stream ?? "main";
    const segments = await this.opts.source.segments({ cameraId: q.cameraId, stream, fromMs: q.fromMs, toMs: q.toMs });
    await this.fromTables(q.cameraId, stream, segments);
    return buildPlan({
      cameraId: q.cameraId,
      stream,
      fromMs: q.fromMs,
      toMs: q.toMs,
      segments,
      absPath: (s) => this.opts.source.absPath(s),
      cache: this.cache,
      onSkip: (seg, why) => this.opts.log?.warn("segment skipped in playback", { segment: seg.id, why }),
    });
  }

  /**
   * The whole window (no range), for a body too large to gather anyway (`over`: estimated bytes,
   * from the index): sends the first segment while the later ones are still unscanned, so the
   * first byte does not wait for an hour of file scans. Only the first and last segments with
   * emitted fragments are scanned up front (media origin, end time, live). Returns the full
   * plan instead when the window is estimated at ≤ `over` bytes, and null when nothing in the
   * window can be played. The bytes are exactly those of plan() + stream().
   */
  async open(q: WindowQuery, over: number): Promise<{ plan: PlaybackPlan } | { progressive: ProgressiveBody } | null> {
    const stream = q.stream ?? "main";
    const segments = (await this.opts.source.segments({ cameraId: q.cameraId, stream, fromMs: q.fromMs, toMs: q.toMs })).filter((s) => inWindow(s, q.fromMs, q.toMs));
    const input: Omit<PlanInput, "segments"> = {
      cameraId: q.cameraId,
      stream,
      fromMs: q.fromMs,
      toMs: q.toMs,
      absPath: (s) => this.opts.source.absPath(s),
      cache: this.cache,
      onSkip: (seg, why) => this.opts.log?.warn("segment skipped in playback", { segment: seg.id, why }),
    };
    await this.fromTables(q.cameraId, stream, segments);
    const estimate = segments.reduce((n, s) => n + s.bytes * overlap(s, q.fromMs, q.toMs), 0);
    if (estimate <= over) {
      const plan = buildPlan({ ...input, segments });
      return plan.total === 0 ? null : { plan };
    }
    const b = new PlanBuilder(input);
    let head = 0;
    while (head < segments.length && b.originMs === undefined) b.add(segments[head++]!);
    if (b.originMs === undefined) return null;
    // The end: the last segment that emits fragments (as a later block: skip to its first keyframe).
    const scans = new Map<number, SegmentScan | null>();
    let endMs: number | undefined;
    let live = false;
    for (let i = segments.length - 1; i >= head && endMs === undefined; i--) {
      const seg = segments[i]!;
      const scan = scanOf(input, seg);
      if (scan === undefined) continue;
      scans.set(i, scan);
      const span = scan && scan.frags.length ? fragmentSpan(scan, seg.startMs - scan.frags[0]!.mediaStartMs, q.fromMs, q.toMs, false) : null;
      if (!span) continue;
      const f = scan!.frags[span.last]!;
      endMs = seg.startMs - scan!.frags[0]!.mediaStartMs + f.mediaStartMs + f.durationMs;
      live = !!seg.open;
    }
    if (endMs === undefined) {
      const p = b.result();
      endMs = p.endMs;
      live = p.live;
    }
    const originMs = b.originMs;
    const firstBlocks = [...b.blocks];
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (const blk of firstBlocks) yield* blockChunks(blk);
      for (let i = head; i < segments.length; i++) {
        for (const blk of b.add(segments[i]!, scans.has(i) ? scans.get(i) : undefined)) yield* blockChunks(blk);
      }
    }
    const body = chunkStream(chunks(), (e) => this.opts.log?.error("playback read failed", { camera: q.cameraId, err: e.message }));
    return { progressive: { originMs, endMs, live, body } };
  }

  /**
   * Fills the scan cache from the index's stored fragment tables for closed segments not
   * cached yet, so an exact length (Range, HEAD) costs one index query and one init read per
   * file instead of a walk over every moof. Segments without a usable table are scanned later.
   */
  private async fromTables(cameraId: string, stream: StreamKind, segments: SegmentRecord[]): Promise<void> {
    const src = this.opts.source;
    if (!src.fragmentTables) return;
    const missing = segments.filter((s) => !s.open && !this.cache.peek(src.absPath(s), s.bytes));
    if (missing.length === 0) return;
    let tables: Map<number, Uint8Array>;
    try {
      tables = await src.fragmentTables(cameraId, stream, missing);
    } catch (e) {
      this.opts.log?.warn("fragment tables not read; scanning the files", { err: (e as Error).message });
      return;
    }
    for (const s of missing) {
      const t = tables.get(s.startMs);
      if (!t) continue;
      try {
        const scan = scanFromTable(src.absPath(s), t);
        // A table must describe exactly the indexed bytes; anything else is scanned instead.
        const last = scan?.frags[scan.frags.length - 1];
        if (scan && (!last || last.offset + last.size <= s.bytes)) this.cache.put(src.absPath(s), s.bytes, scan);
      } catch {
        // file gone (retention): planning reports it as it does for a scan
      }
    }
  }

  /** The plan's fMP4 bytes, whole or a range. */
  stream(plan: PlaybackPlan, range?: ByteRange): ReadableStream<Uint8Array> {
    return planStream(plan, range, (e) => this.opts.log?.error("playback read failed", { camera: plan.cameraId, err: e.message }));
  }

  playlist(plan: PlaybackPlan, mediaUri: string, targetMs?: number): string {
    return hlsPlaylist(plan, mediaUri, targetMs);
  }

  /** Scans the closed segments of a window ahead of the first request. */
  async warmWindow(q: WindowQuery): Promise<number> {
    const segs = await this.opts.source.segments({ cameraId: q.cameraId, stream: q.stream ?? "main", fromMs: q.fromMs, toMs: q.toMs });
    this.warm(segs);
    return segs.length;
  }

  /** Scans closed segments ahead of the first request (e.g. at startup or on commit) so time-to-first-byte stays flat. */
  warm(segments: SegmentRecord[]): void {
    for (const s of segments) {
      if (s.open) continue;
      try {
        this.cache.get(this.opts.source.absPath(s), s.bytes, false);
      } catch {
        // gone already: nothing to warm
      }
    }
  }
}

/** Share of a segment's time inside [from, to) (1 for an instant or still-open segment). */
function overlap(s: SegmentRecord, fromMs: number, toMs: number): number {
  if (s.endMs <= s.startMs) return 1;
  return Math.max(0, Math.min(1, (Math.min(s.endMs, toMs) - Math.max(s.startMs, fromMs)) / (s.endMs - s.startMs)));
}

/**
 * Playback of a camera stream window from any segment source (the edge's and central's
 * MediaStore satisfy SegmentSource): planning, fMP4 bytes with ranges, HLS, latest keyframe.
 */
import type { Logger } from "../log/index.ts";
import type { SegmentRecord, StreamKind, TimelineQuery } from "../store/types.ts";
import { planStream, type ByteRange } from "./body.ts";
import { hlsPlaylist } from "./hls.ts";
import { buildPlan, type PlaybackPlan } from "./plan.ts";
import { ScanCache } from "./scan.ts";

/** The part of MediaStore that playback reads. */
export interface SegmentSource {
  segments(q: TimelineQuery): Promise<SegmentRecord[]>;
  absPath(seg: SegmentRecord): string;
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

export class Playback {
  readonly cache: ScanCache;
  constructor(private readonly opts: PlaybackOptions) {
    this.cache = new ScanCache(opts.cacheFragments);
  }

  async plan(q: WindowQuery): Promise<PlaybackPlan> {
    const stream = q.stream ?? "main";
    const segments = await this.opts.source.segments({ cameraId: q.cameraId, stream, fromMs: q.fromMs, toMs: q.toMs });
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

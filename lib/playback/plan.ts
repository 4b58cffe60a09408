/**
 * The byte layout of one playback window: which init segments and fragment runs, in which
 * order, at which output offsets, with which time shift. Computed from cached scans alone in
 * O(segments), so the exact length and any byte range are known before a media byte is read.
 *
 * Timeline rule: media time 0 = wall time of the first emitted fragment (the keyframe at or
 * before `from`), and media time advances with wall time — a gap in recording is a jump in
 * decode time, not a splice, so position t in the file is always wall time origin + t.
 */
import type { InitInfo } from "../mp4/index.ts";
import type { SegmentRecord } from "../store/types.ts";
import type { ScanCache, SegmentScan } from "./scan.ts";

/** Two fragments further apart than this (wall time) are separated by a gap. Matches the store's range merge. */
export const GAP_MS = 1500;

export interface InitBlock {
  kind: "init";
  offset: number;
  size: number;
  bytes: Uint8Array;
  initKey: string;
  width?: number;
  height?: number;
}

/** Fragments first..last (inclusive) of one segment file, in output order. */
export interface FragBlock {
  kind: "frags";
  offset: number;
  size: number;
  path: string;
  scan: SegmentScan;
  first: number;
  last: number;
  /** Added to a fragment's media time (ms) to place it on the output timeline. */
  shiftMs: number;
  /** Wall time of fragment i = wallBase + frags[i].mediaStartMs. */
  wallBase: number;
  /** Set when this run follows a gap or a new init. */
  discontinuity?: "gap" | "init";
  segmentId: string;
}

export type PlanBlock = InitBlock | FragBlock;

/** One fragment of a plan, as HLS and tests see it. */
export interface PlanFragment {
  offset: number;
  size: number;
  path: string;
  srcOffset: number;
  srcSize: number;
  init: InitInfo;
  shiftMs: number;
  wallStartMs: number;
  durationMs: number;
  keyframe: boolean;
  frames: number;
  discontinuity?: "gap" | "init";
  segmentId: string;
}

export interface PlaybackPlan {
  cameraId: string;
  stream: string;
  fromMs: number;
  toMs: number;
  /** Wall time of media time 0 (≤ fromMs when the window starts inside a recording). */
  originMs: number;
  /** Wall start and end of the last emitted fragment. */
  lastStartMs: number;
  endMs: number;
  blocks: PlanBlock[];
  total: number;
  frames: number;
  /** Any open (still growing) segment contributed. */
  live: boolean;
}

export interface PlanInput {
  cameraId: string;
  stream: string;
  fromMs: number;
  toMs: number;
  segments: SegmentRecord[];
  absPath: (s: SegmentRecord) => string;
  cache: ScanCache;
  onSkip?: (seg: SegmentRecord, why: string) => void;
}

/** Fragment i of a block, with its output offset. */
export function blockFragment(b: FragBlock, i: number): PlanFragment {
  const f = b.scan.frags[i]!;
  return {
    offset: b.offset + b.scan.outStart[i]! - b.scan.outStart[b.first]!,
    size: f.size + f.grow,
    path: b.path,
    srcOffset: f.offset,
    srcSize: f.size,
    init: b.scan.init,
    shiftMs: b.shiftMs,
    wallStartMs: b.wallBase + f.mediaStartMs,
    durationMs: f.durationMs,
    keyframe: f.keyframe,
    frames: f.frames,
    discontinuity: i === b.first ? b.discontinuity : undefined,
    segmentId: b.segmentId,
  };
}

export function* planFragments(plan: PlaybackPlan): Generator<PlanFragment> {
  for (const b of plan.blocks) if (b.kind === "frags") for (let i = b.first; i <= b.last; i++) yield blockFragment(b, i);
}

/** First index in [lo, hi] with pred true (pred monotone false→true); hi + 1 if none. */
function search(lo: number, hi: number, pred: (i: number) => boolean): number {
  let a = lo;
  let b = hi + 1;
  while (a < b) {
    const m = (a + b) >> 1;
    if (pred(m)) b = m;
    else a = m + 1;
  }
  return a;
}

export function buildPlan(inp: PlanInput): PlaybackPlan {
  const b = new PlanBuilder(inp);
  for (const seg of inp.segments) b.add(seg);
  return b.result();
}

/**
 * Builds a plan one segment at a time, in start order, so a response can start before the
 * later segments are scanned (progressive playback); buildPlan is this over all segments.
 */
export class PlanBuilder {
  readonly blocks: PlanBlock[] = [];
  private offset = 0;
  originMs: number | undefined;
  private lastEnd = -Infinity;
  private lastStart: number;
  private curKey: string | undefined;
  private frames = 0;
  private live = false;

  constructor(private readonly inp: Omit<PlanInput, "segments">) {
    this.lastStart = inp.fromMs;
  }

  /** Scans (through the cache) and plans one more segment; returns the blocks it added. */
  add(seg: SegmentRecord, scanned?: SegmentScan | null): PlanBlock[] {
    const inp = this.inp;
    if (!inWindow(seg, inp.fromMs, inp.toMs)) return [];
    const path = inp.absPath(seg);
    const scan = scanned !== undefined ? scanned : scanOf(inp, seg);
    if (scan === undefined) return [];
    if (!scan || scan.frags.length === 0) {
      inp.onSkip?.(seg, "no whole fragment");
      return [];
    }
    const frags = scan.frags;
    const wallBase = seg.startMs - frags[0]!.mediaStartMs;
    const span = fragmentSpan(scan, wallBase, inp.fromMs, inp.toMs, this.originMs === undefined);
    if (!span) return [];
    const { first, last } = span;
    const added: PlanBlock[] = [];
    if (seg.open) this.live = true;
    const startWall = wallBase + frags[first]!.mediaStartMs;
    if (this.originMs === undefined) this.originMs = startWall;
    let disc: "gap" | "init" | undefined;
    if (scan.initKey !== this.curKey) {
      if (this.curKey !== undefined) disc = "init";
      this.curKey = scan.initKey;
      added.push({ kind: "init", offset: this.offset, size: scan.initBytes.length, bytes: scan.initBytes, initKey: scan.initKey, width: scan.init.video?.width, height: scan.init.video?.height });
      this.offset += scan.initBytes.length;
    }
    if (!disc && this.lastEnd !== -Infinity && startWall - this.lastEnd > GAP_MS) disc = "gap";
    const size = scan.outStart[last + 1]! - scan.outStart[first]!;
    added.push({ kind: "frags", offset: this.offset, size, path, scan, first, last, shiftMs: wallBase - this.originMs, wallBase, discontinuity: disc, segmentId: seg.id });
    this.offset += size;
    this.frames += scan.frameStart[last + 1]! - scan.frameStart[first]!;
    this.lastStart = wallBase + frags[last]!.mediaStartMs;
    this.lastEnd = this.lastStart + frags[last]!.durationMs;
    this.blocks.push(...added);
    return added;
  }

  result(): PlaybackPlan {
    const inp = this.inp;
    return {
      cameraId: inp.cameraId,
      stream: inp.stream,
      fromMs: inp.fromMs,
      toMs: inp.toMs,
      originMs: this.originMs ?? inp.fromMs,
      lastStartMs: this.lastStart,
      endMs: this.lastEnd === -Infinity ? inp.fromMs : this.lastEnd,
      blocks: this.blocks,
      total: this.offset,
      frames: this.frames,
      live: this.live,
    };
  }
}

export function inWindow(seg: SegmentRecord, fromMs: number, toMs: number): boolean {
  return !(seg.endMs <= fromMs && !seg.open) && seg.startMs < toMs;
}

/** The segment's scan; undefined (reported) when the file is gone, e.g. deleted by retention between query and read. */
export function scanOf(inp: Pick<PlanInput, "absPath" | "cache" | "onSkip">, seg: SegmentRecord): SegmentScan | null | undefined {
  try {
    return inp.cache.get(inp.absPath(seg), seg.bytes, !!seg.open);
  } catch (e) {
    inp.onSkip?.(seg, (e as Error).message);
    return undefined;
  }
}

/**
 * Fragments first..last of one scan that a plan emits for [from, to): the run overlapping the
 * window, starting at a keyframe — backed up to the one before `from` when this is the plan's
 * first block (`origin`), skipped ahead otherwise. Null when nothing is emitted.
 */
export function fragmentSpan(scan: SegmentScan, wallBase: number, fromMs: number, toMs: number, origin: boolean): { first: number; last: number } | null {
  const frags = scan.frags;
  const n = frags.length - 1;
  // Fragments are in media-time order: overlap with [from, to) is a contiguous run.
  let first = search(0, n, (i) => wallBase + frags[i]!.mediaStartMs + frags[i]!.durationMs > fromMs);
  const last = search(0, n, (i) => wallBase + frags[i]!.mediaStartMs >= toMs) - 1;
  if (first > last) return null;
  // Decoding must start at a keyframe: back up inside the first segment, otherwise skip ahead.
  if (origin) while (first > 0 && !frags[first]!.keyframe) first--;
  while (first <= last && !frags[first]!.keyframe) first++;
  return first > last ? null : { first, last };
}

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
  const blocks: PlanBlock[] = [];
  let offset = 0;
  let originMs: number | undefined;
  let lastEnd = -Infinity;
  let lastStart = inp.fromMs;
  let curKey: string | undefined;
  let frames = 0;
  let live = false;
  for (const seg of inp.segments) {
    if (seg.endMs <= inp.fromMs && !seg.open) continue;
    if (seg.startMs >= inp.toMs) continue;
    let scan: SegmentScan | null;
    const path = inp.absPath(seg);
    try {
      scan = inp.cache.get(path, seg.bytes, !!seg.open);
    } catch (e) {
      inp.onSkip?.(seg, (e as Error).message); // deleted by retention between query and read
      continue;
    }
    if (!scan || scan.frags.length === 0) {
      inp.onSkip?.(seg, "no whole fragment");
      continue;
    }
    const frags = scan.frags;
    const wallBase = seg.startMs - frags[0]!.mediaStartMs;
    const n = frags.length - 1;
    // Fragments are in media-time order: overlap with [from, to) is a contiguous run.
    let first = search(0, n, (i) => wallBase + frags[i]!.mediaStartMs + frags[i]!.durationMs > inp.fromMs);
    const last = search(0, n, (i) => wallBase + frags[i]!.mediaStartMs >= inp.toMs) - 1;
    if (first > last) continue;
    // Decoding must start at a keyframe: back up inside the first segment, otherwise skip ahead.
    if (originMs === undefined) while (first > 0 && !frags[first]!.keyframe) first--;
    while (first <= last && !frags[first]!.keyframe) first++;
    if (first > last) continue;
    if (seg.open) live = true;
    const startWall = wallBase + frags[first]!.mediaStartMs;
    if (originMs === undefined) originMs = startWall;
    let disc: "gap" | "init" | undefined;
    if (scan.initKey !== curKey) {
      if (curKey !== undefined) disc = "init";
      curKey = scan.initKey;
      blocks.push({ kind: "init", offset, size: scan.initBytes.length, bytes: scan.initBytes, initKey: scan.initKey, width: scan.init.video?.width, height: scan.init.video?.height });
      offset += scan.initBytes.length;
    }
    if (!disc && lastEnd !== -Infinity && startWall - lastEnd > GAP_MS) disc = "gap";
    const size = scan.outStart[last + 1]! - scan.outStart[first]!;
    blocks.push({ kind: "frags", offset, size, path, scan, first, last, shiftMs: wallBase - originMs, wallBase, discontinuity: disc, segmentId: seg.id });
    offset += size;
    frames += scan.frameStart[last + 1]! - scan.frameStart[first]!;
    lastStart = wallBase + frags[last]!.mediaStartMs;
    lastEnd = lastStart + frags[last]!.durationMs;
  }
  return {
    cameraId: inp.cameraId,
    stream: inp.stream,
    fromMs: inp.fromMs,
    toMs: inp.toMs,
    originMs: originMs ?? inp.fromMs,
    lastStartMs: lastStart,
    endMs: lastEnd === -Infinity ? inp.fromMs : lastEnd,
    blocks,
    total: offset,
    frames,
    live,
  };
}

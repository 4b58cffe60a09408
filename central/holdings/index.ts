/**
 * central/holdings/: what central holds of one camera stream — the one answer the planner, job
 * progress, the upload receiver, the merged timeline (and through it playback's and RTSP
 * replay's "fetch the missing part"), evidence exports and the segment listing all use. No
 * other module reads central's MediaStore segments to decide held or missing.
 *
 * Central's MediaStore is the truth: closed segments (live recordings and edge copies) plus
 * the live recording's OPEN segment up to its last received fragment. The open segment must
 * count: central's live segments are long (60 s by default) while the edge closes short
 * ones, so without it every new edge segment ends inside footage central is receiving right
 * now, looks missing, and is uploaded a second time while live carries it.
 *
 * Pieces are joined only across tiny seams (≤ SEAM_MS), not the timeline's 1.5 s continuity
 * rule: a missing 1 s edge segment between two held ones is a hole that must be fetched.
 */
import type { MediaStore, SegmentRecord, StreamKind } from "../../lib/store/index.ts";

export interface Span {
  startMs: number;
  endMs: number;
}

/** An edge segment as the mirror lists it. */
export interface EdgeSpan extends Span {
  bytes: number;
}

/** Largest seam between two held pieces that still counts as continuous. */
export const SEAM_MS = 100;
/**
 * An edge segment that ends after central's last live fragment is left to live (not planned)
 * only while live is this close behind — behind the segment's end and behind now. A live copy
 * that stopped receiving (a dead uplink is closed after 6 s and shows as a hole; an uplink that
 * only pings never does) stops being waited for after this long.
 */
export const LIVE_LAG_MS = 15_000;

export class Holdings {
  constructor(
    /** Closed segments, and the open live segment (open: true, endMs = last fragment's end). */
    readonly segments: SegmentRecord[],
    /** Union of `segments`, joined across seams ≤ SEAM_MS, sorted. */
    readonly ranges: Span[],
    /** Central's clock when read. */
    readonly nowMs: number,
  ) {}

  /** The live recording's open segment, if central is recording this stream right now. */
  get live(): SegmentRecord | undefined {
    return this.segments.find((s) => s.open);
  }

  /** An exact copy of an edge segment (same start within 1 s; same hash, else same size). */
  hasCopy(startMs: number, bytes: number, sha256?: string | null): boolean {
    return this.segments.some((c) => !c.open && c.startMs >= startMs && c.startMs < startMs + 1000 && (sha256 ? c.sha256 === sha256 : c.bytes === bytes));
  }

  /** Held: an exact copy, or central footage (closed or live) covering it, edges within a small tolerance. */
  has(s: EdgeSpan): boolean {
    if (this.hasCopy(s.startMs, s.bytes)) return true;
    const tol = tolerance(s);
    return this.ranges.some((r) => r.startMs <= s.startMs + tol && r.endMs >= s.endMs - tol);
  }

  /**
   * Not held yet, but live is carrying it: central is recording live continuously from before
   * the segment's start and is only behind its end by the live path's latency. Planning it
   * would send the same footage twice; if live breaks, the open segment closes there and the
   * segment becomes a hole (planned then).
   */
  awaitingLive(s: EdgeSpan): boolean {
    const live = this.live;
    if (!live || s.endMs - live.endMs > LIVE_LAG_MS || this.nowMs - live.endMs > LIVE_LAG_MS) return false;
    const tol = tolerance(s);
    const run = this.ranges.find((r) => r.startMs <= live.startMs && r.endMs >= live.endMs);
    return !!run && run.startMs <= s.startMs + tol;
  }

  /**
   * The closed segments overlapping [fromMs, toMs), by start: what central can export or list
   * with a hash (the open live segment is still being written).
   */
  closedIn(fromMs: number, toMs: number): SegmentRecord[] {
    return this.segments.filter((s) => !s.open && s.startMs < toMs && s.endMs > fromMs);
  }

  /** The held ranges clipped to [fromMs, toMs) (the merged timeline's "central" side). */
  clip(fromMs: number, toMs: number): Span[] {
    return this.ranges.map((r) => ({ startMs: Math.max(r.startMs, fromMs), endMs: Math.min(r.endMs, toMs) })).filter((r) => r.endMs > r.startMs);
  }
}

function tolerance(s: Span): number {
  return Math.min(500, (s.endMs - s.startMs) / 4);
}

/** Central's holdings for `<site>.<camera>` / stream around [fromMs, toMs). */
export async function holdings(store: MediaStore, centralCameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<Holdings> {
  // Reach back far enough to see a long (live or edge) segment that started before the window.
  const back = Math.max(120_000, 2 * store.segmentDurationMs);
  const segs = (await store.segments({ cameraId: centralCameraId, stream, fromMs: fromMs - back, toMs: toMs + 1000 })).sort((a, b) => a.startMs - b.startMs);
  return new Holdings(segs, union(segs), store.clock.now());
}

/**
 * What central holds of `<site>.<camera>` / stream in [fromMs, toMs): the merged timeline's
 * "central" side (central/sites), playback's `stream=best` and the transfer module's view. Any
 * stream other than main or sub holds nothing.
 */
export async function centralRanges(store: MediaStore, centralCameraId: string, stream: string, fromMs: number, toMs: number): Promise<Span[]> {
  if (stream !== "main" && stream !== "sub") return [];
  return (await holdings(store, centralCameraId, stream, fromMs, toMs)).clip(fromMs, toMs);
}

export function union(segs: Span[]): Span[] {
  const ranges: Span[] = [];
  for (const c of [...segs].sort((a, b) => a.startMs - b.startMs)) {
    const last = ranges[ranges.length - 1];
    if (last && c.startMs <= last.endMs + SEAM_MS) last.endMs = Math.max(last.endMs, c.endMs);
    else ranges.push({ startMs: c.startMs, endMs: c.endMs });
  }
  return ranges;
}

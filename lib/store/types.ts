/**
 * The media store's contract, shared by edge and central (same code both sides):
 * segment files on disk are the truth, the DuckDB index is derived from them.
 * Implementation lives beside this file; consumers import from lib/store/index.ts.
 */
import type { InitInfo, FragmentInfo } from "../mp4/index.ts";

export type StreamKind = "main" | "sub";

/** Why recording stopped for a while. Every stop becomes a gap with one of these. */
export type GapReason =
  | "camera-offline" // connection refused/ended, camera unreachable
  | "stall" // connected but no data for N s
  | "restart" // recorder restarted the pipeline on purpose (config change, resolution change)
  | "disk-full" // could not write
  | "disk-slow" // the disk fell behind the loss budget; fragments dropped until it caught up
  | "clock-step" // the host clock stepped (wall time jumped against monotonic time)
  | "resync" // camera and host time disagreed; the stream was re-anchored to host time
  | "crash" // recorder process or pipeline died unexpectedly (found at startup recovery)
  | "auth-failed" // camera refused credentials
  | "unsupported-codec"
  | "stopped" // recorder shut down cleanly / camera disabled
  | "retention"; // footage deleted by retention (shown at central when edge overwrote it)

export interface SegmentRecord {
  /** Stable id: `${cameraId}/${stream}/${startMs}`. */
  id: string;
  cameraId: string;
  stream: StreamKind;
  /** Wall-clock start/end, ms since epoch UTC. end = start + media duration. */
  startMs: number;
  endMs: number;
  bytes: number;
  /** Path relative to the store root. */
  path: string;
  /** MSE mime incl. codecs, e.g. video/mp4; codecs="avc1.64001f". */
  mime: string;
  width?: number;
  height?: number;
  /** SHA-256 hex of the whole file; set when the segment is closed. */
  sha256?: string;
  /** Still being written (only in the live view of the writer, never in the index). */
  open?: boolean;
}

export interface GapRecord {
  cameraId: string;
  stream: StreamKind;
  startMs: number;
  endMs: number;
  reason: GapReason;
  detail?: string;
}

export interface EvidenceLock {
  id: string;
  cameraId: string;
  /** Locks cover all streams of the camera. */
  startMs: number;
  endMs: number;
  reason: string;
  createdBy: string;
  createdAtMs: number;
  /** Absent = until deleted. */
  expiresAtMs?: number;
}

export interface TimelineQuery {
  cameraId: string;
  stream?: StreamKind; // default main
  fromMs: number;
  toMs: number;
}

export interface Timeline {
  /** Continuous recorded ranges, merged across adjacent segments (≤ 1.5 s apart counts as continuous). */
  ranges: { startMs: number; endMs: number }[];
  gaps: GapRecord[];
  /** Whole segments overlapping the window, by start. Without sha256 here (it is the costly
   *  column over 30 days); MediaStore.segments() returns the hashes. */
  segments: SegmentRecord[];
  /** With `{ segments: "count" }`: how many segments overlap the window (`segments` is then empty). */
  segmentCount?: number;
}
export type { InitInfo, FragmentInfo };

/**
 * What the edge API needs from the rest of the edge, as plain interfaces: edge/main.ts builds
 * these from the store and the ingest supervisor and passes them to createEdgeApi.
 */
import type { ThrottleOptions } from "../../lib/auth/index.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { SegmentSource } from "../../lib/playback/index.ts";
import type { EvidenceLock, StreamKind, Timeline, TimelineQuery } from "../../lib/store/types.ts";

/** Status of one camera stream as the ingest supervisor sees it right now. */
export type StreamStatus = "connecting" | "recording" | "not-writing" | "stalled" | "failed" | "disabled";

export interface StreamView {
  stream: StreamKind;
  status: StreamStatus;
  /** Why it is not recording (e.g. "connection refused", "no data for 10 s"); absent while recording. */
  reason?: string;
  /** When the current status began, ms since epoch. */
  sinceMs?: number;
  codec?: string;
  width?: number;
  height?: number;
  /** Age of the oldest received fragment not yet on stable storage (store writer). */
  writerLagMs?: number;
  /** The camera's audio track: codec, whether it is recorded and why not / how; state "missing" while the camera sends video without audio. */
  audio?: { codec: string; recorded: boolean; detail?: string; state?: "ok" | "missing"; missingMs?: number };
}

export interface CameraView {
  /** Store camera id ([A-Za-z0-9_-]); the {id} of /cameras/{id}. */
  id: string;
  name: string;
  streams: StreamView[];
}

/** The part of MediaStore (lib/store) the API uses; a MediaStore satisfies it as is. */
export interface StoreView extends SegmentSource {
  timeline(q: TimelineQuery, opts?: { segments?: boolean | "count" }): Promise<Timeline>;
  cameras(): Promise<{ cameraId: string; stream: StreamKind; firstMs: number; lastMs: number; bytes: number; segments: number }[]>;
  createLock(l: Omit<EvidenceLock, "id" | "createdAtMs"> & { id?: string }): Promise<EvidenceLock>;
  deleteLock(id: string): Promise<boolean>;
  locks(cameraId?: string): Promise<EvidenceLock[]>;
}

export interface EdgeApiConfig {
  /** The local admin. Absent = nobody can log in (a non-demo edge ships without a default password). */
  admin?: { user: string; passwordHash: string };
  /** Longest window for video, HLS and exports; default 24 h. */
  maxVideoWindowMs?: number;
  /**
   * Longest evidence-lock window; default 7 days. A lock keeps its footage from retention for as
   * long as it exists, so 1970…9999 would pin a camera's recordings forever.
   */
  maxLockWindowMs?: number;
  /** Longest window for timeline queries; default 31 days. */
  maxTimelineWindowMs?: number;
  /** Video bodies up to this size are sent with an exact Content-Length (gathered first); larger ones stream chunked. Default 8 MiB. */
  bufferBodiesUpTo?: number;
  /** At start, scan this much of the newest recording of every stream in the background so the first playback is fast; default 1 h, 0 = off. */
  warmRecentMs?: number;
  /** Session lifetime; default 12 h. */
  sessionTtlMs?: number;
  /** Origins besides the API's own from which browsers may send state-changing requests. */
  allowedOrigins?: readonly string[];
  /** A session unused for this long ends; default 30 min. */
  sessionIdleMs?: number;
  /** Login throttling (lib/auth LoginThrottle): default 5 failures per user and address in 15 min, locked 5 min. */
  loginThrottle?: ThrottleOptions;
}

export interface EdgeApiDeps {
  store: StoreView;
  /** Cameras configured on this edge with live stream status from ingest. */
  cameras: () => CameraView[];
  config: EdgeApiConfig;
  log: Logger;
  clock: Clock;
  /** Data directory; exports are kept in <dataDir>/exports. */
  dataDir: string;
  /**
   * Builds the evidence package (lib/custody) of a finished export: the window's segments with
   * their hash chain and signatures, the MP4, the certificates, and who exported it.
   */
  evidence?: (q: { cameraId: string; stream: StreamKind; fromMs: number; toMs: number; footagePath: string; exportedBy: string; exportId: string }) => Promise<{ zip: Uint8Array; sha256: string }>;
  /** Health of this process (disk, streams, clock, ...) for GET /health, JSON-serialisable. */
  health: () => object | Promise<object>;
}

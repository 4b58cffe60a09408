/**
 * The contract between the supervisor (stream.ts) and an ingest engine: one recording
 * session of one stream (a gst-launch child, or the in-process native RTSP client) that
 * reports its description, init segments, fragments and — when it ends — why.
 */
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { FragmentInfo, InitInfo } from "../../lib/mp4/index.ts";
import type { GapReason } from "../../lib/store/types.ts";
import type { PidFile } from "./pids.ts";
import type { StreamDescription } from "./probe.ts";

export type IngestEngine = "gstreamer" | "native";

export interface SessionHandlers {
  /** Video media arrived from the camera (feeds the stall watchdog; RTCP and RTSP replies must not). */
  activity(): void;
  /** What the camera offers (from its SDP). */
  described(desc: StreamDescription): void;
  /**
   * A new init segment. With `change`, the stream changed under a live connection (new SPS,
   * timestamp jump): the previous recording session ends with that reason and a new one begins.
   */
  init(bytes: Uint8Array, info: InitInfo, change?: { reason: GapReason; detail: string }): void;
  /**
   * A whole fragment; engines that can wait (a pipe) await it for backpressure. The bytes may be
   * a pooled buffer (lib/mp4/pool.ts) the engine reuses once this settles: read them until then,
   * hold or copy them to keep them longer.
   */
  fragment(bytes: Uint8Array, info: FragmentInfo): Promise<void>;
}

export interface SessionParams {
  url: string;
  user?: string;
  password?: string;
  connectTimeoutMs: number;
  latencyMs: number;
  /** Native engine: read a streaming socket at most once per this many ms (read-batch.ts); absent or 0 = as data arrives. */
  readBatchMs?: number;
  clock: Clock;
  log: Logger;
  pidFile?: PidFile;
  handlers: SessionHandlers;
}

export interface IngestSession {
  /** OS process id when the engine runs a child process. */
  readonly pid?: number;
  /** Ends the session now (the supervisor decides the gap reason). */
  kill(): void;
  /** Resolves when the session is over, with the engine's own idea of why. */
  readonly done: Promise<{ reason: GapReason; detail: string }>;
}

export type SessionFactory = (p: SessionParams) => IngestSession;

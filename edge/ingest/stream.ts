/**
 * One supervised recording of one camera stream: an engine session (gst.ts: gst-launch child;
 * native/: in-process RTSP → fMP4) → store writer, with a stall watchdog, classified ends,
 * capped exponential backoff and a status a person can read. Each session end becomes a gap
 * (writer.end) with the reason the stream stopped. Engines only report; this file decides.
 */
import type { FragmentInfo, InitInfo } from "../../lib/mp4/index.ts";
import { systemClock, iso, type Clock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log/index.ts";
import type { GapReason, StreamKind } from "../../lib/store/types.ts";
import { ProbeError, type StreamDescription } from "./probe.ts";
import type { PidFile } from "./pids.ts";
import { gstSession } from "./gst.ts";
import { nativeSession } from "./native/session.ts";
import type { IngestEngine, IngestSession, SessionFactory } from "./source.ts";
import { everyPeriod } from "./shared-timer.ts";

export { classifyExit } from "./gst.ts";

/** What ingest needs from the store's SegmentWriter (lib/store); structurally the same methods. */
export interface FragmentSink {
  init(bytes: Uint8Array, info: InitInfo): void;
  /**
   * receivedMonoMs: the monotonic clock at arrival, from a sink that holds fragments (deferred-sink.ts).
   * The bytes are valid until the returned promise settles (a pooled buffer is reused after).
   */
  fragment(bytes: Uint8Array, info: FragmentInfo, receivedAtMs: number, receivedMonoMs?: number): Promise<void>;
  end(reason: GapReason, detail?: string): Promise<void>;
}

export type StreamState = "connecting" | "recording" | "stalled" | "failed" | "backoff" | "stopped";

export interface StreamStatus {
  cameraId: string;
  stream: StreamKind;
  state: StreamState;
  /** Why the stream is not recording (absent while recording). */
  reason?: GapReason;
  /** A sentence about the last failure, e.g. the camera's answer or the pipeline's error. */
  detail?: string;
  /** ISO time the state last changed. */
  since: string;
  /** Over the last few seconds of fragments; 0 when not recording. */
  bitrateKbps: number;
  fps: number;
  lastFragmentAt: string | null;
  codec?: string;
  width?: number;
  height?: number;
  audio?: string;
  /** Whether the camera's audio goes into the recording, and why not / how (e.g. G.711 as FLAC). */
  audioRecorded?: boolean;
  audioDetail?: string;
  /** Pipeline starts since this ingest began (1 = never restarted). */
  sessions: number;
  /** The last failure, kept after the stream records again (the technician screen shows it). */
  lastError?: { reason: GapReason; detail?: string; at: string };
  pid?: number;
}

export interface BackoffOptions {
  /** First delay after a failure; default 500 ms. */
  initialMs?: number;
  /** Cap; default 30 s. */
  maxMs?: number;
  /** A session that recorded this long resets the backoff; default 10 s. */
  stableMs?: number;
  /**
   * Cap while the camera is offline (refused, unreachable, 404/503); default 1 s. A retry is a
   * TCP connect (plus one RTSP exchange), cheap enough to repeat this often, and a camera that
   * comes back is recorded again within about this long (not after a 30 s backoff step).
   */
  offlineMaxMs?: number;
}

export interface StreamSource {
  url: string;
  user?: string;
  password?: string;
}

export interface StreamIngestOptions {
  cameraId: string;
  stream: StreamKind;
  source: StreamSource;
  sink: FragmentSink;
  clock?: Clock;
  log?: Logger;
  /** No bytes for this long while recording → kill, gap "stall"; default 5000. */
  stallTimeoutMs?: number;
  /** From spawn to the first bytes; default max(10 s, 2 × stall timeout). */
  connectTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** rtspsrc jitterbuffer latency; default 200 ms. */
  latencyMs?: number;
  /** Native engine: batch a streaming socket's reads (edge/ingest/native/read-batch.ts); default 0 = as data arrives. */
  readBatchMs?: number;
  pidFile?: PidFile;
  /** Which engine records: the in-process native RTSP client (default) or a gst-launch child per stream; tests may pass a factory. */
  engine?: IngestEngine | SessionFactory;
  /**
   * Every fragment as recorded (for live relays); must not throw. The bytes may be a pooled
   * buffer, reused after this returns: hold (holdFragment) or copy what is kept (lib/mp4/pool.ts).
   */
  onFragment?: (bytes: Uint8Array, info: FragmentInfo, init: Uint8Array) => void;
  /**
   * A camera session ended (camera closed, stall, failure, stop), after its last onFragment —
   * including the fragment an engine flushes at the end: live relays drop what they cache, so
   * the last picture of a stopped camera is not replayed as live. Must not throw.
   */
  onEnd?: (reason: GapReason, detail: string) => void;
}

interface SessionEnd {
  reason: GapReason;
  detail: string;
  recordedMs: number;
}

const STATS_WINDOW_MS = 5000;
/**
 * Stall watchdog period: a fifth of the stall timeout (a stall is seen within stallMs + 20 %),
 * at most 1 s — not a fixed 200 ms wake-up per stream, which at 16 streams is 80 timer runs a second.
 */
const watchdogMs = (stallMs: number, connectMs: number) => Math.max(50, Math.min(1000, Math.min(stallMs, connectMs) / 5));

export class StreamIngest {
  readonly cameraId: string;
  readonly stream: StreamKind;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly stallMs: number;
  private readonly connectMs: number;
  private readonly backoffInitial: number;
  private readonly backoffMax: number;
  private readonly stableMs: number;
  private readonly offlineMaxMs: number;
  private readonly latencyMs: number;

  private state: StreamState = "stopped";
  private reason: GapReason | undefined;
  private detail: string | undefined;
  private lastError: { reason: GapReason; detail?: string; at: string } | undefined;
  private since: number;
  private lastFragmentAt: number | null = null;
  private stats: { at: number; bytes: number; durMs: number; frames: number }[] = [];
  private desc: StreamDescription | undefined;
  private init: InitInfo | undefined;
  private sessions = 0;
  private current: IngestSession | undefined;
  private readonly factory: SessionFactory;
  private killReason: { reason: GapReason; detail: string } | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** A gap is open in the store (end() called, no fragment since). */
  private gapOpen = false;
  private attempt = 0;

  constructor(private readonly opts: StreamIngestOptions) {
    this.cameraId = opts.cameraId;
    this.stream = opts.stream;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.log ?? createLogger("ingest")).child({ camera: opts.cameraId, stream: opts.stream });
    this.stallMs = opts.stallTimeoutMs ?? 5000;
    this.connectMs = opts.connectTimeoutMs ?? Math.max(10_000, 2 * this.stallMs);
    this.backoffInitial = opts.backoff?.initialMs ?? 500;
    this.backoffMax = opts.backoff?.maxMs ?? 30_000;
    this.stableMs = opts.backoff?.stableMs ?? 10_000;
    this.offlineMaxMs = opts.backoff?.offlineMaxMs ?? 1000;
    this.latencyMs = opts.latencyMs ?? 200;
    this.factory = typeof opts.engine === "function" ? opts.engine : opts.engine === "gstreamer" ? gstSession : nativeSession;
    this.since = this.clock.now();
  }

  /** Starts supervising; returns at once. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run().catch((e) => {
      this.log.error("ingest supervisor failed", { err: e });
      this.setState("failed", "crash", String((e as Error).message ?? e));
    });
  }

  /** Stops the pipeline (gap "stopped" unless told otherwise) and waits for the child to exit. */
  async stop(reason: GapReason = "stopped", detail = "recorder stopped"): Promise<void> {
    if (!this.loop) return;
    this.stopping = true;
    this.killReason = { reason, detail };
    this.kill();
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  /** Restarts the pipeline on purpose (config or resolution change): gap "restart". */
  restart(detail = "pipeline restarted"): void {
    if (!this.current) return;
    this.killReason = { reason: "restart", detail };
    this.attempt = 0;
    this.kill();
  }

  /** The gst-launch child's pid (gstreamer engine); undefined for the in-process native engine. */
  get pid(): number | undefined {
    return this.current?.pid;
  }

  get engine(): IngestEngine | "custom" {
    return typeof this.opts.engine === "function" ? "custom" : (this.opts.engine ?? "native");
  }

  status(): StreamStatus {
    const now = this.clock.now();
    const recent = this.stats.filter((s) => now - s.at <= STATS_WINDOW_MS);
    const dur = recent.reduce((a, s) => a + s.durMs, 0);
    const recording = this.state === "recording" && dur > 0;
    const video = this.init?.video;
    return {
      cameraId: this.cameraId,
      stream: this.stream,
      state: this.state,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.detail ? { detail: this.detail } : {}),
      since: iso(this.since),
      bitrateKbps: recording ? Math.round((recent.reduce((a, s) => a + s.bytes, 0) * 8) / dur) : 0,
      fps: recording ? Math.round((recent.reduce((a, s) => a + s.frames, 0) * 10_000) / dur) / 10 : 0,
      lastFragmentAt: this.lastFragmentAt === null ? null : iso(this.lastFragmentAt),
      ...(video ? { codec: video.codec, width: video.width, height: video.height } : this.desc ? { codec: this.desc.video } : {}),
      ...(this.desc?.audio || this.desc?.unsupportedAudio ? { audio: this.desc.audio ?? this.desc.unsupportedAudio } : {}),
      ...(this.desc?.audioRecorded !== undefined ? { audioRecorded: this.desc.audioRecorded } : {}),
      ...(this.desc?.audioDetail ? { audioDetail: this.desc.audioDetail } : {}),
      sessions: this.sessions,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.current?.pid !== undefined ? { pid: this.current.pid } : {}),
    };
  }

  private setState(state: StreamState, reason?: GapReason, detail?: string): void {
    if (state !== this.state || reason !== this.reason) this.since = this.clock.now();
    this.state = state;
    this.reason = reason;
    this.detail = detail;
    // A shutdown is no failure; anything else that stops recording is remembered.
    if (reason && reason !== "stopped" && (state === "failed" || state === "backoff" || state === "stalled")) this.lastError = { reason, ...(detail ? { detail } : {}), at: iso(this.clock.now()) };
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      // A retry after a failure keeps saying the failure and its reason until the camera records
      // again: a wrong-password camera read "connecting" at every retry (a status poll in CI landed
      // on it; the camera tree turned amber for that moment).
      if (this.state !== "failed" && this.state !== "backoff" && this.state !== "stalled") this.setState("connecting", this.reason, this.detail);
      let end: SessionEnd;
      try {
        end = this.stopping ? { reason: "stopped", detail: "recorder stopped", recordedMs: 0 } : await this.session();
      } catch (e) {
        end = { reason: "crash", detail: `ingest error: ${(e as Error).message}`, recordedMs: 0 };
      }
      if (this.stopping && this.killReason) end = { ...end, reason: this.killReason.reason, detail: this.killReason.detail };
      this.ended(end);
      await this.endGap(end);
      if (this.stopping) break;
      if (end.recordedMs >= this.stableMs || end.reason === "restart") this.attempt = 0;
      const cap = end.reason === "camera-offline" ? Math.min(this.backoffMax, this.offlineMaxMs) : this.backoffMax;
      const delay = Math.min(cap, this.backoffInitial * 2 ** this.attempt);
      this.attempt++;
      const state: StreamState =
        end.reason === "stall" ? "stalled" : end.reason === "auth-failed" || end.reason === "unsupported-codec" ? "failed" : "backoff";
      // A camera that stays offline is retried every second: say so once, not every time.
      const again = this.attempt > 1 && end.reason === this.reason && end.detail === this.detail;
      this.setState(state, end.reason, end.detail);
      this.log[again ? "debug" : "warn"]("stream not recording; retrying", { reason: end.reason, detail: end.detail, retryInMs: delay });
      await this.sleep(delay);
    }
    this.setState("stopped", this.killReason?.reason ?? "stopped", this.killReason?.detail);
  }

  private async endGap(end: SessionEnd): Promise<void> {
    if (this.gapOpen) return;
    this.gapOpen = true;
    try {
      await this.opts.sink.end(end.reason, end.detail);
    } catch (e) {
      this.log.error("store refused to end the session", { err: e });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private kill(): void {
    this.current?.kill();
  }

  /** Runs one engine session until it ends; resolves with why it ended. */
  private async session(): Promise<SessionEnd> {
    if (!this.stopping) this.killReason = undefined;
    // The watchdog measures elapsed time, which a host-clock step must not fake (monotonic when the clock has it).
    const elapsed = () => this.clock.monotonic?.() ?? this.clock.now();
    const started = elapsed();
    let lastByte = started;
    let gotBytes = false;
    let firstFragmentAt: number | null = null;
    let lastFragmentAt: number | null = null;
    let initBytes: Uint8Array | undefined;
    let failed = false;
    /** Fragments still on their way to the sink and onFragment: the session's end is told after them. */
    const inflight = new Set<Promise<void>>();
    // (`session` is set before any fragment can fail: the engine reports fragments after it is made.)
    const fragment = async (bytes: Uint8Array, info: FragmentInfo): Promise<void> => {
      if (failed) return;
      try {
        const now = this.clock.now();
        await this.opts.sink.fragment(bytes, info, now);
        this.gapOpen = false;
        firstFragmentAt ??= now;
        lastFragmentAt = now;
        this.lastFragmentAt = now;
        this.noteStats(now, bytes.length, info);
        if (this.state !== "recording") {
          this.setState("recording");
          this.log.info("recording", { width: this.init?.video?.width, height: this.init?.video?.height });
        }
        if (initBytes) this.emit(bytes, info, initBytes);
      } catch (e) {
        // A store failure: drop this session, keep the recorder alive.
        failed = true;
        this.killReason ??= { reason: "crash", detail: `recording failed: ${(e as Error).message}` };
        session.kill();
      }
    };
    const src = this.opts.source;
    const session = this.factory({
      url: src.url,
      ...(src.user !== undefined ? { user: src.user } : {}),
      ...(src.password !== undefined ? { password: src.password } : {}),
      connectTimeoutMs: this.connectMs,
      latencyMs: this.latencyMs,
      ...(this.opts.readBatchMs ? { readBatchMs: this.opts.readBatchMs } : {}),
      clock: this.clock,
      log: this.log,
      ...(this.opts.pidFile ? { pidFile: this.opts.pidFile } : {}),
      handlers: {
        activity: () => {
          lastByte = elapsed();
          gotBytes = true;
        },
        described: (desc) => {
          this.desc = desc;
        },
        init: (bytes, info, change) => {
          if (failed) return;
          if (change && initBytes) {
            // Same connection, new stream format or timeline: the store closes the old session
            // (gap with this reason) and the new init starts the next one.
            this.sessions++;
            this.log.info("stream changed; new recording session", { reason: change.reason, detail: change.detail });
            void this.endGap({ ...change, recordedMs: 0 });
            this.stats = [];
          }
          initBytes = bytes;
          this.init = info;
          this.opts.sink.init(bytes, info);
        },
        fragment: (bytes, info) => {
          const p = fragment(bytes, info);
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
          return p;
        },
      },
    });
    this.current = session;
    if (this.stopping) session.kill();
    this.sessions++;
    const stopWatchdog = everyPeriod(watchdogMs(this.stallMs, this.connectMs), () => {
      const idle = elapsed() - lastByte;
      if (!gotBytes && idle > this.connectMs) {
        this.killReason ??= { reason: "stall", detail: `no media from the camera within ${this.connectMs} ms of connecting` };
        session.kill();
      } else if (gotBytes && idle > this.stallMs) {
        this.killReason ??= { reason: "stall", detail: `no media for ${this.stallMs} ms` };
        session.kill();
      }
    });
    let own: { reason: GapReason; detail: string };
    try {
      own = await session.done;
    } catch (e) {
      own = e instanceof ProbeError ? { reason: e.reason, detail: e.message } : { reason: "crash", detail: `ingest error: ${(e as Error).message}` };
    } finally {
      stopWatchdog();
      this.current = undefined;
    }
    // The fragment an engine flushes as it ends is still being written: it goes out first.
    while (inflight.size) await Promise.allSettled([...inflight]);
    this.stats = [];
    const recordedMs = firstFragmentAt !== null && lastFragmentAt !== null ? lastFragmentAt - firstFragmentAt : 0;
    const end = this.killReason ?? own;
    return { ...end, recordedMs };
  }

  private noteStats(now: number, bytes: number, info: FragmentInfo): void {
    const vid = this.init?.video?.trackId;
    const run = info.runs.find((r) => r.trackId === vid);
    this.stats.push({ at: now, bytes, durMs: info.durationMs, frames: run?.sampleCount ?? 0 });
    while (this.stats.length && now - this.stats[0]!.at > STATS_WINDOW_MS) this.stats.shift();
  }

  private ended(end: SessionEnd): void {
    if (!this.opts.onEnd) return;
    try {
      this.opts.onEnd(end.reason, end.detail);
    } catch (e) {
      this.log.warn("session end listener failed", { err: e });
    }
  }

  private emit(bytes: Uint8Array, info: FragmentInfo, init: Uint8Array): void {
    if (!this.opts.onFragment) return;
    try {
      this.opts.onFragment(bytes, info, init);
    } catch (e) {
      this.log.warn("fragment listener failed", { err: e });
    }
  }
}

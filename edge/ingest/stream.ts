/**
 * One supervised recording of one camera stream: probe (DESCRIBE) → gst-launch child →
 * FragmentSplitter → store writer, with a stall watchdog, classified exits, capped
 * exponential backoff and a status a person can read. Each session end becomes a gap
 * (writer.end) with the reason the stream stopped.
 */
import { existsSync } from "node:fs";
import { FragmentSplitter, concat, parseFragment, type FragmentInfo, type InitInfo } from "../../lib/mp4/index.ts";
import { systemClock, iso, type Clock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log/index.ts";
import type { GapReason, StreamKind } from "../../lib/store/types.ts";
import { describeStream, ProbeError, type StreamDescription } from "./probe.ts";
import { GST_LAUNCH, pipelineArgs, recordsAudio } from "./pipeline.ts";
import type { PidFile } from "./pids.ts";
import { keyframeParamSets, sameBytes } from "./paramsets.ts";

/** What ingest needs from the store's SegmentWriter (lib/store); structurally the same methods. */
export interface FragmentSink {
  init(bytes: Uint8Array, info: InitInfo): void;
  fragment(bytes: Uint8Array, info: FragmentInfo, receivedAtMs: number): Promise<void>;
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
  /** Pipeline starts since this ingest began (1 = never restarted). */
  sessions: number;
  pid?: number;
}

export interface BackoffOptions {
  /** First delay after a failure; default 500 ms. */
  initialMs?: number;
  /** Cap; default 30 s. */
  maxMs?: number;
  /** A session that recorded this long resets the backoff; default 10 s. */
  stableMs?: number;
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
  pidFile?: PidFile;
  /** Every fragment as recorded (for live relays); must not throw. */
  onFragment?: (bytes: Uint8Array, info: FragmentInfo, init: Uint8Array) => void;
}

interface SessionEnd {
  reason: GapReason;
  detail: string;
  recordedMs: number;
}

const STATS_WINDOW_MS = 5000;
const WATCHDOG_MS = 200;
const SETPRIV = "/usr/bin/setpriv";

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
  private readonly latencyMs: number;

  private state: StreamState = "stopped";
  private reason: GapReason | undefined;
  private detail: string | undefined;
  private since: number;
  private lastFragmentAt: number | null = null;
  private stats: { at: number; bytes: number; durMs: number; frames: number }[] = [];
  private desc: StreamDescription | undefined;
  private init: InitInfo | undefined;
  private sessions = 0;
  private proc: ReturnType<typeof Bun.spawn> | undefined;
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
    this.latencyMs = opts.latencyMs ?? 200;
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
    if (!this.proc) return;
    this.killReason = { reason: "restart", detail };
    this.attempt = 0;
    this.kill();
  }

  get pid(): number | undefined {
    return this.proc?.pid;
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
      ...(this.desc?.audio ? { audio: this.desc.audio } : {}),
      sessions: this.sessions,
      ...(this.proc ? { pid: this.proc.pid } : {}),
    };
  }

  private setState(state: StreamState, reason?: GapReason, detail?: string): void {
    if (state !== this.state || reason !== this.reason) this.since = this.clock.now();
    this.state = state;
    this.reason = reason;
    this.detail = detail;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      this.setState("connecting", this.reason, this.detail);
      let end: SessionEnd;
      try {
        this.desc = await describeStream({ ...this.opts.source, timeoutMs: Math.min(this.connectMs, 5000) });
        if (this.desc.unsupportedAudio || (this.desc.audio && !recordsAudio(this.desc.audio))) {
          this.log.info("audio track not recorded (no stream-copy path into MP4)", {
            audio: this.desc.audio ?? this.desc.unsupportedAudio,
          });
        }
        end = this.stopping ? { reason: "stopped", detail: "recorder stopped", recordedMs: 0 } : await this.session(this.desc);
      } catch (e) {
        if (e instanceof ProbeError) end = { reason: e.reason, detail: e.message, recordedMs: 0 };
        else end = { reason: "crash", detail: `ingest error: ${(e as Error).message}`, recordedMs: 0 };
      }
      if (this.stopping && this.killReason) end = { ...end, reason: this.killReason.reason, detail: this.killReason.detail };
      await this.endGap(end);
      if (this.stopping) break;
      if (end.recordedMs >= this.stableMs || end.reason === "restart") this.attempt = 0;
      const delay = Math.min(this.backoffMax, this.backoffInitial * 2 ** this.attempt);
      this.attempt++;
      const state: StreamState =
        end.reason === "stall" ? "stalled" : end.reason === "auth-failed" || end.reason === "unsupported-codec" ? "failed" : "backoff";
      this.setState(state, end.reason, end.detail);
      this.log.warn("stream not recording; retrying", { reason: end.reason, detail: end.detail, retryInMs: delay });
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
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    try {
      // SIGKILL: the fMP4 on stdout is already whole fragments; nothing to finalise in the child.
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Runs one gst-launch child until it exits; resolves with why it ended. */
  private async session(desc: StreamDescription): Promise<SessionEnd> {
    const args = pipelineArgs({
      url: stripCredentials(this.opts.source.url),
      user: this.opts.source.user ?? urlUser(this.opts.source.url),
      password: this.opts.source.password ?? urlPassword(this.opts.source.url),
      video: desc.video!,
      audio: desc.audio,
      latencyMs: this.latencyMs,
    });
    // setpriv --pdeathsig: the child dies with this process even on kill -9, while staying in
    // our process group (no setsid), so a terminal's Ctrl-C reaches it too.
    const cmd = existsSync(SETPRIV) ? [SETPRIV, "--pdeathsig", "KILL", "--", GST_LAUNCH, ...args] : [GST_LAUNCH, ...args];
    if (!this.stopping) this.killReason = undefined;
    const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.proc = proc;
    if (this.stopping) this.kill();
    this.sessions++;
    this.opts.pidFile?.add(proc.pid);
    const started = this.clock.now();
    let lastByte = started;
    let gotBytes = false;
    let firstFragmentAt: number | null = null;
    let lastFragmentAt: number | null = null;
    this.log.info("pipeline started", { pid: proc.pid, codec: desc.video, audio: desc.audio });

    const watchdog = setInterval(() => {
      const idle = this.clock.now() - lastByte;
      if (!gotBytes && idle > this.connectMs) {
        this.killReason ??= { reason: "stall", detail: `no media from the camera within ${this.connectMs} ms of connecting` };
        this.kill();
      } else if (gotBytes && idle > this.stallMs) {
        this.killReason ??= { reason: "stall", detail: `no media for ${this.stallMs} ms` };
        this.kill();
      }
    }, WATCHDOG_MS);

    const stderrText = readTail(proc.stderr as ReadableStream<Uint8Array>, 8192);
    const splitter = new FragmentSplitter();
    let initBytes: Uint8Array | undefined;
    let writeError: Error | undefined;
    let pendingAudio: Uint8Array[] = [];
    let paramSets: Uint8Array | undefined;
    try {
      for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
        lastByte = this.clock.now();
        gotBytes = true;
        if (writeError) continue;
        try {
          for (const item of splitter.push(chunk)) {
            if (item.kind === "init") {
              pendingAudio = [];
              paramSets = undefined;
              initBytes = item.bytes;
              this.init = item.info;
              this.opts.sink.init(item.bytes, item.info);
              continue;
            }
            // mp4mux writes one moof per track: audio fragments ride along with the next video
            // fragment so the store only ever sees video-timed units that start where it may cut.
            const vid = this.init?.video?.trackId;
            if (vid !== undefined && !item.info.runs.some((r) => r.trackId === vid)) {
              pendingAudio.push(item.bytes);
              if (pendingAudio.length > 64) pendingAudio.shift(); // video stopped but audio goes on: bound memory
              continue;
            }
            if (item.info.keyframe) {
              const ps = keyframeParamSets(item.bytes, desc.video!);
              if (ps && !paramSets) paramSets = ps;
              else if (ps && paramSets && !sameBytes(ps, paramSets)) {
                // The camera changed resolution/profile: this fragment does not match the init
                // segment, so it is not written; a new session brings a matching init.
                this.killReason ??= { reason: "restart", detail: "camera changed the stream format (resolution or profile)" };
                this.kill();
                writeError = new Error("stream format changed");
                break;
              }
            }
            const bytes = pendingAudio.length ? concat([...pendingAudio, item.bytes]) : item.bytes;
            const info = pendingAudio.length ? mergedInfo(item.info, pendingAudio, this.init!) : item.info;
            pendingAudio = [];
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
          }
        } catch (e) {
          // A corrupt stream or a store failure: drop this session, keep the recorder alive.
          writeError = e as Error;
          this.killReason ??= { reason: "crash", detail: `recording failed: ${writeError.message}` };
          this.kill();
        }
      }
    } finally {
      clearInterval(watchdog);
    }
    await proc.exited;
    this.opts.pidFile?.remove(proc.pid);
    this.proc = undefined;
    this.stats = [];
    const stderr = await stderrText;
    const recordedMs = firstFragmentAt !== null && lastFragmentAt !== null ? lastFragmentAt - firstFragmentAt : 0;
    const end = this.killReason ?? classifyExit(proc.exitCode, proc.signalCode === null ? null : String(proc.signalCode), stderr);
    this.log.info("pipeline ended", { pid: proc.pid, code: proc.exitCode, signal: proc.signalCode, reason: end.reason, detail: end.detail });
    return { ...end, recordedMs };
  }

  private noteStats(now: number, bytes: number, info: FragmentInfo): void {
    const vid = this.init?.video?.trackId;
    const run = info.runs.find((r) => r.trackId === vid);
    this.stats.push({ at: now, bytes, durMs: info.durationMs, frames: run?.sampleCount ?? 0 });
    while (this.stats.length && now - this.stats[0]!.at > STATS_WINDOW_MS) this.stats.shift();
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

/** The video fragment's timing and keyframe flag, with the runs of the audio fragments before it. */
function mergedInfo(video: FragmentInfo, audio: Uint8Array[], init: InitInfo): FragmentInfo {
  const runs = audio.flatMap((a) => parseFragment(a, init).runs);
  return { ...video, runs: [...runs, ...video.runs] };
}

/** Why gst-launch ended, from its exit status and stderr (rtspsrc's error texts). */
export function classifyExit(code: number | null, signal: string | null, stderr: string): { reason: GapReason; detail: string } {
  const firstError = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("Additional debug info") && !l.startsWith("../") && !/doesn't want to preroll/.test(l));
  const detail = firstError.slice(0, 3).join(" | ").slice(0, 400);
  if (signal) return { reason: "crash", detail: `pipeline killed by ${signal}${detail ? `: ${detail}` : ""}` };
  if (/Unauthorized|\b401\b/.test(stderr)) return { reason: "auth-failed", detail: "camera refused the credentials (401 Unauthorized)" };
  if (/Not Found|\b404\b/.test(stderr)) return { reason: "camera-offline", detail: "stream not found on the camera (404)" };
  if (/Could not open resource|Could not read from resource|Could not write to resource|Failed to connect|Connection refused|timed? ?out/i.test(stderr)) {
    return { reason: "camera-offline", detail: detail || "connection to the camera lost" };
  }
  if (code === 0) return { reason: "camera-offline", detail: "camera ended the stream (EOS)" };
  if (/not-negotiated|negotiat/i.test(stderr)) return { reason: "restart", detail: `stream format changed: ${detail}` };
  return { reason: "crash", detail: detail || `pipeline exited with code ${code}` };
}

function stripCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}

function urlUser(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.username ? decodeURIComponent(u.username) : undefined;
  } catch {
    return undefined;
  }
}

function urlPassword(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
}

async function readTail(stream: ReadableStream<Uint8Array>, max: number): Promise<string> {
  let text = "";
  const dec = new TextDecoder();
  for await (const chunk of stream) {
    text += dec.decode(chunk, { stream: true });
    if (text.length > max * 2) text = text.slice(-max);
  }
  return text.slice(-max);
}

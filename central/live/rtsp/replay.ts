/**
 * Replay source for RTSP out (`rtsp://host:port/replay/<site>.<camera>/<main|sub>`): recorded
 * footage from central's MediaStore fed through a private LiveHub, so the server packetizes it
 * exactly like live. ONVIF replay (Streaming spec §6): the window comes from PLAY's
 * `Range: clock=<from>-<to>` (or the URI's `?from=&to=` ISO times), `Scale: s` (0 < s ≤ 16)
 * paces it, `Rate-Control: no` sends as fast as the connection takes. When the asked window is
 * held only at the edge, the replay asks the transfer engine to retrieve it (`retrieve`) and
 * PLAY answers 503 with Retry-After until it is at central — retrieve first, never stream
 * through: a metered uplink then carries each range once, however many VMS operators replay it.
 */
import type { Clock } from "../../../lib/clock.ts";
import type { Logger } from "../../../lib/log/index.ts";
import { LiveHub } from "../../../lib/live/index.ts";
import { FragmentSplitter, concat } from "../../../lib/mp4/index.ts";
import { Playback, planChunks, type PlaybackPlan, type SegmentSource } from "../../../lib/playback/index.ts";
import type { StreamKind } from "../live.ts";

export interface ReplayOptions {
  /** Central's MediaStore. */
  source: SegmentSource;
  /** Ranges the edge still holds (for the 503-and-retrieve answer); without it edge-only is a plain 404. */
  edgeHolds?(centralId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<boolean>;
  /** Ask the transfer engine for the range; returns a retrieval id. */
  retrieve?(centralId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<string>;
  clock: Clock;
  log: Logger;
}

export interface ReplayWindow {
  fromMs?: number;
  toMs?: number;
}

export type ReplayRefusal = { status: number; message: string; retryAfterS?: number };

/** `clock=20261203T191000Z-20261203T191010.5Z` (either end may be open) → Unix ms; "bad" when unreadable. */
export function parseClockRange(h: string | undefined): ReplayWindow | "bad" | undefined {
  if (!h || !/^\s*clock=/i.test(h)) return undefined;
  const m = /^\s*clock=([0-9TZ.]*)-([0-9TZ.]*)\s*$/i.exec(h);
  if (!m) return "bad";
  const p = (s: string) => {
    if (!s) return undefined;
    const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(s);
    return d ? Date.UTC(+d[1]!, +d[2]! - 1, +d[3]!, +d[4]!, +d[5]!, +d[6]!) + Math.round(Number(d[7] ?? 0) * 1000) : NaN;
  };
  const fromMs = p(m[1]!);
  const toMs = p(m[2]!);
  if (Number.isNaN(fromMs) || Number.isNaN(toMs) || (fromMs !== undefined && toMs !== undefined && toMs <= fromMs)) return "bad";
  return { ...(fromMs !== undefined ? { fromMs } : {}), ...(toMs !== undefined ? { toMs } : {}) };
}

export function clockString(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/(\.\d{3})?Z$/, (_m, f: string | undefined) => `${f ?? ""}Z`);
}

export class ReplaySource {
  private readonly playback: Playback;
  constructor(private readonly o: ReplayOptions) {
    this.playback = new Playback({ source: o.source, log: o.log });
  }

  /** For DESCRIBE: a hub holding the recording's init segment, or why not. */
  async open(centralId: string, stream: StreamKind, w: ReplayWindow): Promise<ReplayStream | ReplayRefusal> {
    const now = this.o.clock.now();
    const plan = await this.playback.plan({ cameraId: centralId, stream, fromMs: w.fromMs ?? 0, toMs: w.toMs ?? now });
    const init = plan.blocks.find((b) => b.kind === "init");
    if (!init || init.kind !== "init") return this.missing(centralId, stream, w.fromMs ?? 0, w.toMs ?? now);
    const hub = new LiveHub(`replay:${centralId}/${stream}`, { clock: this.o.clock, maxViewerBufferBytes: 64 << 20 });
    hub.publishInit(init.bytes);
    return new ReplayStream(this, hub, centralId, stream, w);
  }

  async plan(centralId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<PlaybackPlan> {
    return this.playback.plan({ cameraId: centralId, stream, fromMs, toMs });
  }

  async missing(centralId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<ReplayRefusal> {
    if (this.o.edgeHolds && (await this.o.edgeHolds(centralId, stream, fromMs, toMs))) {
      const id = await this.o.retrieve?.(centralId, stream, fromMs, toMs).catch((e: Error) => (this.o.log.warn("replay retrieval not requested", { camera: centralId, err: e.message }), undefined));
      return { status: 503, retryAfterS: 10, message: `This range is held at the edge only; central is retrieving it${id ? ` (retrieval ${id})` : ""}. Try again when it has arrived.` };
    }
    return { status: 404, message: `No recording of ${centralId} (${stream}) in this range.` };
  }

  get clock(): Clock {
    return this.o.clock;
  }
  get log(): Logger {
    return this.o.log;
  }
}

/** One RTSP session's replay: planned at PLAY, pumped into its hub once the player is attached. */
export class ReplayStream {
  private plan: PlaybackPlan | undefined;
  private scale = 1;
  private paced = true;
  private stopped = false;
  private pumping: Promise<void> | undefined;

  constructor(
    private readonly src: ReplaySource,
    readonly hub: LiveHub,
    readonly centralId: string,
    readonly stream: StreamKind,
    private readonly window: ReplayWindow,
  ) {}

  /** PLAY: the window (Range header over the URI's), Scale and Rate-Control; the answer's Range and Scale. */
  async play(range: string | undefined, scale: string | undefined, rateControl: string | undefined): Promise<{ range: string; scale: string } | ReplayRefusal> {
    const r = parseClockRange(range);
    if (r === "bad") return { status: 457, message: "Range must be clock=YYYYMMDDTHHMMSS[.fff]Z-[YYYYMMDDTHHMMSS[.fff]Z]." };
    const s = scale === undefined ? 1 : Number(scale);
    if (!Number.isFinite(s) || s === 0 || Math.abs(s) > 16) return { status: 400, message: "Scale must be a number, 0 < |Scale| ≤ 16." };
    if (s < 0) return { status: 501, message: "Reverse replay (negative Scale) is not offered." };
    const now = this.src.clock.now();
    const fromMs = r?.fromMs ?? this.window.fromMs ?? 0;
    const toMs = r?.toMs ?? this.window.toMs ?? now;
    const plan = await this.src.plan(this.centralId, this.stream, fromMs, toMs);
    if (!plan.frames) return this.src.missing(this.centralId, this.stream, fromMs, toMs);
    this.plan = plan;
    this.scale = s;
    this.paced = !/^\s*no\s*$/i.test(rateControl ?? "");
    const first = Math.max(plan.originMs, fromMs);
    return { range: `clock=${clockString(first)}-${clockString(Math.min(plan.endMs, toMs))}`, scale: String(s) };
  }

  /** The player is attached: send the window, then end the session. */
  start(): void {
    if (!this.plan || this.pumping) return;
    this.pumping = this.pump(this.plan).catch((e: Error) => {
      this.src.log.warn("replay failed", { camera: this.centralId, err: e.message });
      this.hub.closeAll(1011, "replay failed");
    });
  }

  release(): void {
    this.stopped = true;
  }

  private async pump(plan: PlaybackPlan): Promise<void> {
    const split = new FragmentSplitter();
    const t0 = this.src.clock.now();
    let first: number | undefined;
    let audio: Uint8Array[] = [];
    for await (const chunk of planChunks(plan)) {
      for (const it of split.push(chunk)) {
        if (this.stopped) return;
        if (it.kind === "init") {
          this.hub.publishInit(it.bytes, it.info);
          continue;
        }
        // As on the live uplink: an audio-only fragment rides with the next video one.
        if (!it.info.hasReferenceTrack) {
          audio.push(it.bytes);
          continue;
        }
        first ??= it.info.startMs;
        if (this.paced) {
          const wait = t0 + (it.info.startMs - first) / this.scale - this.src.clock.now();
          if (wait > 0) await Bun.sleep(wait);
        }
        // Backpressure without pacing: let the socket drain before the next fragment.
        while (!this.paced && !this.stopped && this.hub.viewerStats().some((v) => v.buffered > 4 << 20)) await Bun.sleep(20);
        if (this.stopped) return;
        this.hub.publishFragment(audio.length ? concat([...audio, it.bytes]) : it.bytes, it.info);
        audio = [];
      }
    }
    // Let the player receive the last bytes before the session ends.
    const deadline = this.src.clock.now() + 10_000;
    while (!this.stopped && this.hub.viewerStats().some((v) => v.buffered > 0) && this.src.clock.now() < deadline) await Bun.sleep(20);
    if (!this.stopped) this.hub.closeAll(1000, "replay ended");
  }
}

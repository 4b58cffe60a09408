/**
 * Live player for one tile: WebSocket fMP4 into Media Source Extensions (lib/live/PROTOCOL.md:
 * a "stream" text message, the init segment, then fragments; "cut" means skip ahead), kept
 * close to the live edge, reconnecting with backoff. Falls back to LL-HLS in the <video>
 * where MSE is missing (Safari on iPhone plays HLS natively).
 */

export type LiveState = "connecting" | "playing" | "nosignal" | "reconnecting" | "ended" | "error";

/** What the tile shows besides the state: the picture's age and when the last frame arrived. */
export interface LiveInfo {
  /** Now minus the capture time of the picture on screen (null until known). */
  ageMs: number | null;
  /** Wall clock (ms) of the last fragment received; null before the first. */
  lastFrameAt: number | null;
  /** The server's reason when the source ended ("nosignal" message). */
  reason?: string;
}

/** No fragment for this long → the picture is not live any more ("no signal"). */
export const NO_SIGNAL_MS = 2000;

export interface LiveOptions {
  video: HTMLVideoElement;
  cameraId: string;
  stream: "main" | "sub";
  onState: (s: LiveState, detail?: string) => void;
  onInfo?: (i: LiveInfo) => void;
}

export class LivePlayer {
  private ws: WebSocket | null = null;
  private ms: MediaSource | null = null;
  private sb: SourceBuffer | null = null;
  private queue: ArrayBuffer[] = [];
  private stopped = false;
  private retry = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastData = 0;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private mime = "";
  private objectUrl: string | null = null;
  /** Capture time of recent fragments by media start (from the "time" messages). */
  private times: { mediaMs: number; capturedAtMs: number }[] = [];
  private lastFrameAt: number | null = null;
  private reason: string | undefined;
  private expectInit = false;

  constructor(private readonly o: LiveOptions) {}

  start(): void {
    const base = `/api/v1/cameras/${encodeURIComponent(this.o.cameraId)}`;
    if (typeof MediaSource === "undefined") {
      this.o.video.src = `${base}/live.m3u8?stream=${this.o.stream}`;
      void this.o.video.play().catch(() => undefined);
      this.o.onState("playing", "LL-HLS");
      return;
    }
    this.connect();
    this.watchdog = setInterval(() => this.tick(), 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.teardown();
    this.o.video.removeAttribute("src");
    this.o.video.load();
  }

  private connect(): void {
    if (this.stopped) return;
    this.o.onState(this.retry ? "reconnecting" : "connecting");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/v1/cameras/${encodeURIComponent(this.o.cameraId)}/live?stream=${this.o.stream}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.lastData = performance.now();
    ws.onmessage = (ev) => {
      this.lastData = performance.now();
      if (typeof ev.data === "string") this.control(JSON.parse(ev.data) as { type: string; mime?: string; resumeAtMs?: number; reason?: string });
      else {
        if (this.expectInit) this.expectInit = false;
        else {
          this.lastFrameAt = Date.now();
          this.reason = undefined;
        }
        this.push(ev.data as ArrayBuffer);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.stopped) return;
      this.schedule(ev.reason || `connection closed (${ev.code})`);
    };
    ws.onerror = () => undefined; // onclose follows and reconnects
  }

  private schedule(why: string): void {
    this.teardown();
    this.retry++;
    const delay = Math.min(10_000, 500 * 2 ** Math.min(this.retry - 1, 5));
    this.o.onState("reconnecting", why);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private teardown(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= 1) ws.close();
    this.queue = [];
    this.sb = null;
    if (this.ms && this.ms.readyState === "open") {
      try {
        this.ms.endOfStream();
      } catch {
        // already ended
      }
    }
    this.ms = null;
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
  }

  private control(m: { type: string; mime?: string; resumeAtMs?: number; reason?: string; detail?: string; mediaMs?: number; capturedAtMs?: number }): void {
    if (m.type === "time" && m.mediaMs !== undefined && m.capturedAtMs !== undefined) {
      this.times.push({ mediaMs: m.mediaMs, capturedAtMs: m.capturedAtMs });
      if (this.times.length > 120) this.times.splice(0, 60);
      return;
    }
    if (m.type === "nosignal") {
      this.reason = m.detail ?? m.reason;
      return;
    }
    if (m.type === "stream" && m.mime) {
      this.expectInit = true;
      if (!MediaSource.isTypeSupported(m.mime)) {
        this.o.onState("error", `this browser cannot play ${m.mime}`);
        this.stopped = true;
        this.teardown();
        return;
      }
      this.openSource(m.mime);
    } else if (m.type === "cut" && m.resumeAtMs !== undefined) {
      const v = this.o.video;
      const t = m.resumeAtMs / 1000;
      const b = v.buffered;
      if (b.length && t <= b.end(b.length - 1)) v.currentTime = t;
    } else if (m.type === "end") {
      this.o.onState("reconnecting", m.reason ?? "stream ended");
    }
  }

  private openSource(mime: string): void {
    // A new "stream" message (format change) needs a fresh MediaSource.
    if (this.ms) {
      this.queue = [];
      this.sb = null;
    }
    this.mime = mime;
    const ms = new MediaSource();
    this.ms = ms;
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = URL.createObjectURL(ms);
    this.o.video.src = this.objectUrl;
    ms.addEventListener("sourceopen", () => {
      if (this.ms !== ms) return;
      const sb = ms.addSourceBuffer(this.mime);
      sb.mode = "segments";
      sb.addEventListener("updateend", () => this.pump());
      sb.addEventListener("error", () => this.schedule("decoder error"));
      this.sb = sb;
      this.pump();
    });
  }

  private push(buf: ArrayBuffer): void {
    this.queue.push(buf);
    if (this.queue.length > 200) this.queue.splice(1, this.queue.length - 100); // stalled tab: keep the newest
    this.pump();
  }

  private pump(): void {
    const sb = this.sb;
    if (!sb || sb.updating || !this.queue.length || !this.ms || this.ms.readyState !== "open") return;
    const v = this.o.video;
    // Keep ~20 s behind the play head; a long shift must not grow memory without bound.
    if (v.buffered.length && v.currentTime - v.buffered.start(0) > 30) {
      try {
        sb.remove(0, v.currentTime - 20);
        return;
      } catch {
        // fall through and append
      }
    }
    try {
      sb.appendBuffer(this.queue.shift()!);
    } catch (e) {
      if ((e as DOMException).name === "QuotaExceededError") this.queue.length = 0;
      else this.schedule((e as Error).message);
    }
  }

  private tick(): void {
    if (this.stopped) return;
    const v = this.o.video;
    const b = v.buffered;
    if (b.length) {
      const end = b.end(b.length - 1);
      // Start, or catch up when we fell behind (tab in background, slow decode).
      if (v.currentTime < b.start(b.length - 1) || end - v.currentTime > 3) v.currentTime = Math.max(b.start(b.length - 1), end - 0.5);
      if (v.paused) void v.play().catch(() => undefined);
      if (!v.paused && v.readyState >= 2) {
        if (this.retry) this.retry = 0;
        // LIVE only while fragments arrive: a frozen last frame is "no signal".
        const quiet = this.lastFrameAt === null || Date.now() - this.lastFrameAt > NO_SIGNAL_MS;
        this.o.onState(quiet ? "nosignal" : "playing", quiet ? this.reason : undefined);
      }
    }
    this.o.onInfo?.({ ageMs: this.age(), lastFrameAt: this.lastFrameAt, ...(this.reason ? { reason: this.reason } : {}) });
    if (this.ws && performance.now() - this.lastData > 8000) this.schedule("no data for 8 s");
  }

  /** Age of the picture on screen: its fragment's capture time plus the offset into it. */
  private age(): number | null {
    const t = this.o.video.currentTime * 1000;
    const f = this.times.findLast((x) => x.mediaMs <= t + 1);
    return f ? Date.now() - (f.capturedAtMs + (t - f.mediaMs)) : null;
  }
}

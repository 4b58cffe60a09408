/**
 * LiveHub: fan-out of one camera stream (init segment + fMP4 fragments) to any number of
 * viewers. Keeps the init and the last GOP so a new viewer starts at the latest keyframe;
 * a viewer whose send buffer grows past a bound is cut forward to the next keyframe instead
 * of drifting behind live. The source never waits for a viewer: publish() only enqueues.
 *
 * Nothing stale is served as live: the cached GOP is dropped when the source ends, and a GOP
 * whose keyframe is older than maxStaleMs (capture or arrival time) is not replayed to a new
 * viewer. Every fragment a viewer gets is preceded by a "time" message carrying its capture time,
 * so players can show the picture's age.
 *
 * Media time is kept continuous across source restarts (a new edge session or a reconnected
 * uplink starts its tfdt anew): fragments are re-timed so players see one timeline.
 */
import { holdFragment, parseInit, releaseFragment, retimeFragment, type FragmentInfo, type InitInfo } from "../mp4/index.ts";
import { systemClock, type Clock } from "../clock.ts";

export interface LiveFragment {
  /** moof+mdat (possibly several moofs: audio rides with the next video fragment). */
  bytes: Uint8Array;
  keyframe: boolean;
  /** Media time on the hub's continuous timeline, ms. */
  startMs: number;
  durationMs: number;
  /** Wall clock when the hub received it. */
  receivedAt: number;
  /** Wall clock when the source captured it (the edge's ingest); receivedAt when unknown. */
  capturedAt: number;
  /** Monotonic per hub. */
  seq: number;
  /** The source's media time jumped (more than maxJumpMs, or backwards) and the hub re-based it to look continuous: footage is missing or repeated before this fragment. */
  rebased?: boolean;
}

export interface LiveInit {
  bytes: Uint8Array;
  info: InitInfo;
  /** Bumps on every different init (resolution/profile change). */
  version: number;
}

/**
 * Where a viewer's bytes go (a WebSocket, a pipe). Must not throw. Must not keep `bytes` after
 * sendBinary returns (copy what is queued): a fragment may be a pooled buffer the edge's ingest
 * writes again later. Bun's ServerWebSocket.send copies what it cannot write at once.
 */
export interface ViewerSink {
  sendText(text: string): void;
  sendBinary(bytes: Uint8Array): void;
  /** Bytes accepted but not yet written to the network. */
  buffered(): number;
  close(code: number, reason: string): void;
}

export interface ViewerStats {
  id: number;
  sentBytes: number;
  sentFragments: number;
  cuts: number;
  buffered: number;
}

export interface HubOptions {
  clock?: Clock;
  /** A viewer with more than this many unsent bytes is cut forward; default 2 MiB. */
  maxViewerBufferBytes?: number;
  /** Fragments kept for late joiners/HLS besides the GOP (ms of media); default 0. */
  historyMs?: number;
  /** A source gap longer than this (media time) is closed up on the viewer timeline; default 3000 ms. */
  maxJumpMs?: number;
  /** Cached fragments older than this (since capture or arrival) are never replayed as live; default 4000 ms. */
  maxStaleMs?: number;
  /**
   * Does capture time (capturedAt) count for staleness? Default true. False where the capture
   * clock is another machine's (central: an edge's clock may be off by more than maxStaleMs,
   * which would make every fragment look stale); arrival time still counts, and the edge's own
   * hub (same clock) already refuses to replay a stale GOP into the uplink.
   */
  captureClockTrusted?: boolean;
}

export type HubEvent =
  | { type: "init"; init: LiveInit }
  | { type: "fragment"; fragment: LiveFragment }
  | { type: "gap"; reason: string; detail?: string };

class Viewer {
  sentBytes = 0;
  sentFragments = 0;
  cuts = 0;
  initVersion = -1;
  /** Waiting for a keyframe (just joined the middle of a GOP, or cut). */
  waitKey = false;
  closed = false;
  constructor(
    readonly id: number,
    readonly sink: ViewerSink,
  ) {}
}

export class LiveHub {
  private init: LiveInit | undefined;
  private gop: LiveFragment[] = [];
  private viewers = new Map<number, Viewer>();
  private listeners = new Set<(e: HubEvent) => void>();
  private nextViewer = 1;
  private seq = 0;
  private offsetMs = 0;
  private lastSrcEndMs: number | undefined;
  /** The last "nosignal" message, until the next fragment: a viewer joining meanwhile learns why too. */
  private endedMsg: string | undefined;
  private lastOutEndMs = 0;
  private readonly clock: Clock;
  private readonly maxBuf: number;
  private readonly maxJumpMs: number;
  private readonly maxStaleMs: number;
  private readonly captureClockTrusted: boolean;
  /** Fragments published since start, bytes in (stats). */
  fragmentsIn = 0;
  bytesIn = 0;
  lastFragmentAt: number | null = null;

  constructor(
    readonly key: string,
    o: HubOptions = {},
  ) {
    this.clock = o.clock ?? systemClock;
    this.maxBuf = o.maxViewerBufferBytes ?? 2 << 20;
    this.maxJumpMs = o.maxJumpMs ?? 3000;
    this.maxStaleMs = o.maxStaleMs ?? 4000;
    this.captureClockTrusted = o.captureClockTrusted ?? true;
  }

  /** Is this fragment recent enough to be shown as live (capture and arrival within maxStaleMs)? */
  isFresh(f: LiveFragment): boolean {
    // The older of the two: the edge may replay its own stale GOP (old capture, new arrival).
    return this.clock.now() - (this.captureClockTrusted ? Math.min(f.receivedAt, f.capturedAt) : f.receivedAt) <= this.maxStaleMs;
  }

  get initSegment(): LiveInit | undefined {
    return this.init;
  }

  /** Fragments from the last keyframe to now; empty when that keyframe is stale (see isFresh). */
  get lastGop(): readonly LiveFragment[] {
    return this.gop.length && this.isFresh(this.gop[0]!) ? this.gop : [];
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  viewerStats(): ViewerStats[] {
    return [...this.viewers.values()].map((v) => ({ id: v.id, sentBytes: v.sentBytes, sentFragments: v.sentFragments, cuts: v.cuts, buffered: v.sink.buffered() }));
  }

  /**
   * Hook for HLS packagers and recorders; returns an unsubscribe function. A listener that keeps
   * a fragment's bytes past the call copies or holds them (lib/mp4/pool.ts), as lastGop's readers do.
   */
  listen(fn: (e: HubEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The source's init segment; an identical one (a reconnect) changes nothing for viewers. */
  publishInit(bytes: Uint8Array, info?: InitInfo): void {
    if (this.init && sameBytes(this.init.bytes, bytes)) {
      this.lastSrcEndMs = undefined; // a new source session: its clock restarts
      return;
    }
    const init: LiveInit = { bytes, info: info ?? parseInit(bytes), version: (this.init?.version ?? 0) + 1 };
    this.init = init;
    this.dropGop();
    this.lastSrcEndMs = undefined;
    for (const v of this.viewers.values()) {
      // Viewers must see a keyframe after the new init before anything else.
      v.waitKey = true;
    }
    this.emit({ type: "init", init });
  }

  /** One fragment as the source produced it (its own tfdt); never blocks. */
  publishFragment(bytes: Uint8Array, info: FragmentInfo, capturedAt?: number): LiveFragment | undefined {
    this.endedMsg = undefined;
    const init = this.init;
    if (!init) return undefined;
    const now = this.clock.now();
    const src = info.startMs;
    const jumped = this.lastSrcEndMs !== undefined && (src < this.lastSrcEndMs - 1 || src > this.lastSrcEndMs + this.maxJumpMs);
    if (this.lastSrcEndMs === undefined || jumped) {
      // Discontinuity (new source session, reconnect, camera clock jump): continue the viewer
      // timeline where it ended instead of jumping back or far ahead.
      this.offsetMs = this.lastOutEndMs - src;
    }
    this.lastSrcEndMs = src + info.durationMs;
    const startMs = src + this.offsetMs;
    const out = Math.abs(this.offsetMs) < 0.5 ? bytes : retimeFragment(bytes, init.info, (_t, old) => old + this.offsetMs);
    this.lastOutEndMs = startMs + info.durationMs;
    const frag: LiveFragment = { bytes: out, keyframe: info.keyframe, startMs, durationMs: info.durationMs, receivedAt: now, capturedAt: capturedAt ?? now, seq: ++this.seq, ...(jumped ? { rebased: true } : {}) };
    this.fragmentsIn++;
    this.bytesIn += bytes.length;
    this.lastFragmentAt = now;
    if (frag.keyframe) this.dropGop();
    if (frag.keyframe || this.gop.length) {
      // Kept past this call: a pooled buffer (the edge's ingest, lib/mp4/pool.ts) must not be reused meanwhile.
      holdFragment(frag.bytes);
      this.gop.push(frag);
    }
    for (const v of this.viewers.values()) this.deliver(v, frag);
    this.emit({ type: "fragment", fragment: frag });
    return frag;
  }

  /** The source stopped (link drop, edge stopped): tells listeners (recorders note a gap). */
  sourceEnded(reason: string, detail?: string): void {
    this.lastSrcEndMs = undefined;
    // The cached GOP belongs to the ended session: a viewer joining later must not get it as live.
    this.dropGop();
    const msg = JSON.stringify({ type: "nosignal", reason, ...(detail ? { detail } : {}), atMs: this.clock.now() });
    this.endedMsg = msg;
    for (const v of this.viewers.values()) if (!v.closed) v.sink.sendText(msg);
    this.emit({ type: "gap", reason, ...(detail ? { detail } : {}) });
  }

  /** Adds a viewer: it gets the stream header, the init and the current GOP at once. */
  addViewer(sink: ViewerSink): { id: number; remove: () => void } {
    const v = new Viewer(this.nextViewer++, sink);
    this.viewers.set(v.id, v);
    if (this.init) {
      this.sendInit(v, this.init);
      const gop = this.lastGop;
      for (const f of gop) this.send(v, f);
      if (!gop.length) v.waitKey = true;
    } else v.waitKey = true;
    if (this.endedMsg && !this.gop.length) sink.sendText(this.endedMsg);
    return { id: v.id, remove: () => this.removeViewer(v.id) };
  }

  removeViewer(id: number): void {
    const v = this.viewers.get(id);
    if (!v) return;
    v.closed = true;
    this.viewers.delete(id);
  }

  /** Closes every viewer (hub shut down). */
  closeAll(code: number, reason: string): void {
    for (const v of this.viewers.values()) {
      v.sink.sendText(JSON.stringify({ type: "end", reason }));
      v.sink.close(code, reason);
    }
    this.viewers.clear();
  }

  private dropGop(): void {
    for (const f of this.gop) releaseFragment(f.bytes);
    this.gop = [];
  }

  private deliver(v: Viewer, f: LiveFragment): void {
    if (v.closed) return;
    if (this.init && v.initVersion !== this.init.version) {
      if (!f.keyframe) return;
      this.sendInit(v, this.init);
    }
    if (v.sink.buffered() > this.maxBuf) {
      // Too far behind: drop until the next keyframe and resume there (the viewer skips ahead).
      if (!v.waitKey) v.cuts++;
      v.waitKey = true;
      return;
    }
    if (v.waitKey) {
      if (!f.keyframe) return;
      v.waitKey = false;
      if (v.sentFragments > 0) v.sink.sendText(JSON.stringify({ type: "cut", resumeAtMs: Math.round(f.startMs) }));
    }
    this.send(v, f);
  }

  private sendInit(v: Viewer, init: LiveInit): void {
    const video = init.info.video;
    v.sink.sendText(
      JSON.stringify({
        type: "stream",
        mime: init.info.mime,
        width: video?.width ?? 0,
        height: video?.height ?? 0,
        codec: video?.codec ?? null,
        initVersion: init.version,
      }),
    );
    v.sink.sendBinary(init.bytes);
    v.sentBytes += init.bytes.length;
    v.initVersion = init.version;
  }

  private send(v: Viewer, f: LiveFragment): void {
    v.sink.sendText(JSON.stringify({ type: "time", mediaMs: Math.round(f.startMs), capturedAtMs: Math.round(f.capturedAt) }));
    v.sink.sendBinary(f.bytes);
    v.sentBytes += f.bytes.length;
    v.sentFragments++;
  }

  private emit(e: HubEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a listener's failure must not stop the stream
      }
    }
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Central recording from live (policies central-only, both, after-link-down): writes a live
 * hub's fragments into central's MediaStore (lib/store, the same crash-safe code as the edge)
 * under the central camera id. While recording, the stream is held wanted (uplink stays up).
 * A lost uplink closes the segment and opens a gap with a reason; backfill fills it later.
 * So do fragments that never arrived (a slow link makes the edge skip to the next keyframe):
 * a recording that silently ran across them would count as held at central
 * (central/holdings) and the missing seconds would never be backfilled. And so does silence on
 * an uplink that stays up (it only pings: camera stopped at the edge, edge paused): an open
 * segment is neither listed nor exportable, and the planner would count it as held for ever.
 */
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import type { CentralLive, StreamKind } from "./live.ts";

export interface LiveRecorderOptions {
  /**
   * No fragment for this long closes the open segment with a 'stall' gap; the next fragment
   * opens a new one. Well above the edge's fragment interval (≈ 1 s, a keyframe interval when a
   * slow link makes it skip). Default 10 s.
   */
  silentCloseMs?: number;
}

export class LiveRecorder {
  private active = new Map<string, () => Promise<void>>();
  private readonly silentCloseMs: number;
  constructor(
    private readonly live: CentralLive,
    private readonly store: MediaStore,
    private readonly log: Logger,
    o: LiveRecorderOptions = {},
  ) {
    this.silentCloseMs = o.silentCloseMs ?? 10_000;
  }

  /** Starts recording `<site>.<camera>` / stream from live; idempotent. Returns the stop function. */
  recordLive(centralCameraId: string, stream: StreamKind): () => Promise<void> {
    const key = `${centralCameraId}/${stream}`;
    const existing = this.active.get(key);
    if (existing) return existing;
    const i = centralCameraId.indexOf(".");
    if (i <= 0) throw new Error(`central camera id must be <site>.<camera>, got ${JSON.stringify(centralCameraId)}`);
    const siteId = centralCameraId.slice(0, i);
    const cameraId = centralCameraId.slice(i + 1);
    const writer = this.store.writer(centralCameraId, stream);
    const hub = this.live.hub(siteId, cameraId, stream);
    let needInit = true;
    /** End of the last fragment written, on the hub's media timeline. */
    let last: { mediaEnd: number } | null = null;
    let chain = Promise.resolve();
    const q = (fn: () => Promise<void> | void) => {
      chain = chain.then(fn).catch((e) => this.log.error("live recording write failed", { key, err: e as Error }));
    };
    const silent = setTimeout(() => {
      if (needInit) return;
      needInit = true;
      last = null;
      const detail = `no live fragments for ${Math.round(this.silentCloseMs / 1000)} s (uplink up, stream silent)`;
      this.log.info("live recording segment closed: stream silent", { key, silentMs: this.silentCloseMs });
      q(() => writer.end("stall", detail));
    }, this.silentCloseMs);
    silent.unref();
    const unlisten = hub.listen((e) => {
      if (e.type === "init") {
        q(() => writer.init(e.init.bytes, e.init.info));
        needInit = false;
        last = null;
      } else if (e.type === "fragment") {
        const init = hub.initSegment;
        if (!init) return;
        const f0 = e.fragment;
        if (last && !needInit && skipped(last, f0)) {
          // Fragments were dropped on the way: close the segment here so the hole shows.
          q(() => writer.end("stall", `live fragments missing before ${new Date(f0.capturedAt).toISOString()} (slow link)`));
          needInit = true;
        }
        last = { mediaEnd: f0.startMs + f0.durationMs };
        if (needInit) {
          needInit = false;
          q(() => writer.init(init.bytes, init.info));
        }
        const f = e.fragment;
        q(() => writer.fragment(f.bytes, { ...hubInfo(f) }, f.capturedAt));
        silent.refresh();
      } else {
        needInit = true;
        last = null;
        // "stall": the live copy stopped receiving (link down, edge gone); detail says why.
        q(() => writer.end(e.reason === "stopped" ? "stopped" : "stall", e.detail ?? e.reason));
      }
    });
    const release = this.live.hold(siteId, cameraId, stream, "record");
    this.log.info("recording from live", { key });
    const stop = async () => {
      if (this.active.get(key) !== stop) return;
      this.active.delete(key);
      clearTimeout(silent);
      unlisten();
      release();
      q(() => writer.end("stopped", "central live recording stopped"));
      await chain;
    };
    this.active.set(key, stop);
    return stop;
  }

  recording(): string[] {
    return [...this.active.keys()];
  }

  async stopAll(): Promise<void> {
    for (const s of [...this.active.values()]) await s();
  }
}

/**
 * Did fragments go missing between `last` and `f`? The hub keeps media time running across a
 * jump of up to 3 s (seen here exactly) and marks a longer one it re-based to look continuous.
 * (Not the capture clock: on a loaded edge it lags by seconds while nothing is missing.)
 */
export function skipped(last: { mediaEnd: number }, f: { startMs: number; rebased?: boolean }): boolean {
  return f.startMs > last.mediaEnd + 50 || f.rebased === true;
}

/** The store wants FragmentInfo; the hub's fragment is already parsed and re-timed. */
function hubInfo(f: { keyframe: boolean; startMs: number; durationMs: number }) {
  return { runs: [], keyframe: f.keyframe, hasReferenceTrack: true, startMs: f.startMs, durationMs: f.durationMs };
}

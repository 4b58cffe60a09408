/**
 * Central recording from live (policies central-only, both, after-link-down): writes a live
 * hub's fragments into central's MediaStore (lib/store, the same crash-safe code as the edge)
 * under the central camera id. While recording, the stream is held wanted (uplink stays up).
 * A lost uplink closes the segment and opens a gap with a reason; backfill fills it later.
 */
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import type { CentralLive, StreamKind } from "./live.ts";

export class LiveRecorder {
  private active = new Map<string, () => Promise<void>>();
  constructor(
    private readonly live: CentralLive,
    private readonly store: MediaStore,
    private readonly log: Logger,
  ) {}

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
    let chain = Promise.resolve();
    const q = (fn: () => Promise<void> | void) => {
      chain = chain.then(fn).catch((e) => this.log.error("live recording write failed", { key, err: e as Error }));
    };
    const unlisten = hub.listen((e) => {
      if (e.type === "init") {
        q(() => writer.init(e.init.bytes, e.init.info));
        needInit = false;
      } else if (e.type === "fragment") {
        const init = hub.initSegment;
        if (!init) return;
        if (needInit) {
          needInit = false;
          q(() => writer.init(init.bytes, init.info));
        }
        const f = e.fragment;
        q(() => writer.fragment(f.bytes, { ...hubInfo(f) }, f.capturedAt));
      } else {
        needInit = true;
        // "stall": the live copy stopped receiving (link down, edge gone); detail says why.
        q(() => writer.end(e.reason === "stopped" ? "stopped" : "stall", e.detail ?? e.reason));
      }
    });
    const release = this.live.hold(siteId, cameraId, stream, "record");
    this.log.info("recording from live", { key });
    const stop = async () => {
      if (this.active.get(key) !== stop) return;
      this.active.delete(key);
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

/** The store wants FragmentInfo; the hub's fragment is already parsed and re-timed. */
function hubInfo(f: { keyframe: boolean; startMs: number; durationMs: number }) {
  return { runs: [], keyframe: f.keyframe, hasReferenceTrack: true, startMs: f.startMs, durationMs: f.durationMs };
}

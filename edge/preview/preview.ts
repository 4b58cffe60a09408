/**
 * EdgePreview: after each segment of a camera's preview stream is committed, decodes its
 * keyframes (one long-lived decoder for all cameras), keeps one small JPEG per `everyMs` slot,
 * compares successive keyframes for activity, folds in ONVIF motion, and writes the segment's
 * preview file beside it (lib/store's previewRelPath: retention deletes both). Work is queued:
 * the store's commit observer must not wait for decoding.
 */
import { join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore, SegmentRecord, StreamKind } from "../../lib/store/index.ts";
import { previewRelPath, writeFileDurable } from "../../lib/store/layout.ts";
import { encodePreview } from "../../lib/preview/format.ts";
import { frameDifference, motionIntervals, secondLevels } from "./activity.ts";
import { KeyframeDecoder } from "./decoder.ts";
import { segmentKeyframesFromTable, segmentKeyframesOfFile, type SegmentKeyframes } from "./keyframes.ts";
import { decodeFragmentTable } from "../../lib/mp4/index.ts";

export interface EdgePreviewDeps {
  store: MediaStore;
  clock: Clock;
  log: Logger;
  /** One thumbnail per camera per slot of this many ms (default 10 s). */
  everyMs?: number;
  width?: number;
  quality?: number;
  /** The stream previews are made from for this camera: sub where it is recorded, else main; null = none. */
  source(cameraId: string): StreamKind | null;
  /** ONVIF motion start/end events of the camera in a window (edge/events); absent = none. */
  motion?(cameraId: string, fromMs: number, toMs: number): Promise<{ atMs: number; active: boolean }[]>;
  /** Shared decoder (benchmarks); default: one of its own. */
  decoder?: KeyframeDecoder;
  /** Own decoder only: its process ends after this long without a keyframe to decode (0 = stays). */
  decoderIdleMs?: number;
  /** Most segments waiting; beyond it the oldest waiting is skipped (newest footage matters most). */
  maxQueue?: number;
}

export interface PreviewMade {
  segment: SegmentRecord;
  /** Preview file path relative to the store root. */
  path: string;
  bytes: number;
}

interface StreamState {
  gray: Uint8Array;
  atMs: number;
  lastSlot: number;
}

export class EdgePreview {
  readonly decoder: KeyframeDecoder;
  readonly stats = { segments: 0, keyframes: 0, thumbs: 0, bytes: 0, failed: 0, skipped: 0 };
  private readonly state = new Map<string, StreamState>();
  private readonly listeners: ((m: PreviewMade) => void)[] = [];
  private queue: SegmentRecord[] = [];
  private running: Promise<void> | null = null;
  private detach: (() => void) | null = null;
  private closed = false;

  constructor(private readonly d: EdgePreviewDeps) {
    this.decoder = d.decoder ?? new KeyframeDecoder(d.log.child({ component: "preview.decoder" }), { idleMs: d.decoderIdleMs ?? 0 });
  }

  /** Starts making previews for every segment the store's writers commit from now on. */
  attach(): this {
    this.detach = this.d.store.observeCommits((seg) => {
      if (this.d.source(seg.cameraId) !== seg.stream) return;
      this.queue.push(seg);
      const max = this.d.maxQueue ?? 500;
      if (this.queue.length > max) {
        this.queue.shift();
        this.stats.skipped++;
      }
      this.pump();
    });
    return this;
  }

  /** Called with each preview written (the uplink's sync). */
  onPreview(fn: (m: PreviewMade) => void): void {
    this.listeners.push(fn);
  }

  /** Resolves when the queue is empty. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private pump(): void {
    if (this.running || this.closed) return;
    this.running = (async () => {
      while (!this.closed) {
        const seg = this.queue.shift();
        if (!seg) break;
        try {
          const m = await this.make(seg);
          if (m) for (const l of this.listeners) l(m);
        } catch (e) {
          this.stats.failed++;
          this.d.log.warn("preview not made", { segment: seg.id, err: (e as Error).message });
        }
      }
    })().finally(() => (this.running = null));
  }

  /** Builds and writes the preview of one committed segment; null when it has no decodable video. */
  async make(seg: SegmentRecord): Promise<PreviewMade | null> {
    const path = this.d.store.absPath(seg);
    // Positions only: the decoder reads each keyframe from the file itself (decoder.ts).
    const kf = (await this.keyframesFromIndex(seg, path)) ?? (await segmentKeyframesOfFile(path, { data: false }));
    if (!kf) return null;
    const width = this.d.width ?? 160;
    const height = Math.max(2, Math.round((width * kf.height) / kf.width / 2) * 2);
    const everyMs = this.d.everyMs ?? 10_000;
    const key = `${seg.cameraId}/${seg.stream}`;
    let st = this.state.get(key);
    // A previous keyframe more than a minute old (a gap, a restart) is not compared with.
    if (st && seg.startMs - st.atMs > 60_000) st = undefined;
    const diffs: { fromMs: number; toMs: number; level: number }[] = [];
    const thumbs: { atMs: number; width: number; height: number; jpeg: Uint8Array }[] = [];
    for (const k of kf.keyframes) {
      const atMs = seg.startMs + k.offsetMs;
      const slot = Math.floor(atMs / everyMs);
      const thumb = !st || slot !== st.lastSlot;
      const pic = await this.decoder.decode({ key, codec: kf.codec, codecData: kf.codecData, sample: { path, at: k.at, size: k.size }, width, height, quality: this.d.quality ?? 50, jpeg: thumb });
      this.stats.keyframes++;
      if (st && st.gray.length === pic.gray.length) diffs.push({ fromMs: st.atMs, toMs: atMs, level: frameDifference(st.gray, pic.gray, width, height) });
      if (thumb) thumbs.push({ atMs, width, height, jpeg: pic.jpeg });
      st = { gray: pic.gray, atMs, lastSlot: slot };
    }
    if (st) this.state.set(key, st);
    const events = this.d.motion ? await this.d.motion(seg.cameraId, seg.startMs - 3_600_000, seg.endMs).catch(() => []) : [];
    const motion = motionIntervals(events, seg.startMs, seg.endMs);
    const source = motion.length || events.length ? (kf.keyframes.length ? "frame-diff+onvif" : "onvif") : kf.keyframes.length ? "frame-diff" : "none";
    const file = encodePreview(
      { cameraId: seg.cameraId, stream: seg.stream, segmentStartMs: seg.startMs, segmentEndMs: seg.endMs, source, activity: secondLevels(seg.startMs, seg.endMs, diffs, motion) },
      thumbs,
    );
    const rel = previewRelPath(seg.path);
    await writeFileDurable(join(this.d.store.root, rel), file);
    this.stats.segments++;
    this.stats.thumbs += thumbs.length;
    this.stats.bytes += file.length;
    return { segment: seg, path: rel, bytes: file.length };
  }

  /** The keyframes' positions from the segment's fragment table in the index; null when it has none (then the file is walked). */
  private async keyframesFromIndex(seg: SegmentRecord, path: string): Promise<SegmentKeyframes | null> {
    try {
      const table = (await this.d.store.fragmentTables(seg.cameraId, seg.stream, [seg])).get(seg.startMs);
      return table ? await segmentKeyframesFromTable(path, decodeFragmentTable(table)) : null;
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.detach?.();
    await this.running?.catch(() => undefined);
    if (!this.d.decoder) await this.decoder.close();
  }
}

/**
 * An in-memory stand-in for MediaStore's read side (cameras, segments, timeline, locks,
 * usage) for control-plane benchmarks: 24 h × 8 cameras of 60 s segments is 11,520 index
 * rows, which only needs numbers, not 400 GB of video. The uplink reads nothing else.
 */
import type { GapReason, MediaStore, SegmentRecord, StreamKind, Timeline, TimelineQuery } from "../../lib/store/index.ts";

interface Row {
  startMs: number;
  endMs: number;
  bytes: number;
}

export class SimStore {
  readonly maxTotalBytes: number | undefined = undefined;
  private readonly segs = new Map<string, Row[]>();
  private readonly gapRows = new Map<string, { startMs: number; endMs: number; reason: GapReason }[]>();

  addSegment(cameraId: string, startMs: number, endMs: number, bytes: number, stream: StreamKind = "main"): void {
    const k = `${cameraId}/${stream}`;
    const a = this.segs.get(k) ?? [];
    a.push({ startMs, endMs, bytes });
    this.segs.set(k, a);
  }

  addGap(cameraId: string, startMs: number, endMs: number, reason: GapReason, stream: StreamKind = "main"): void {
    const k = `${cameraId}/${stream}`;
    const a = this.gapRows.get(k) ?? [];
    a.push({ startMs, endMs, reason });
    this.gapRows.set(k, a);
  }

  count(): number {
    let n = 0;
    for (const a of this.segs.values()) n += a.length;
    for (const a of this.gapRows.values()) n += a.length;
    return n;
  }

  async cameras() {
    return [...this.segs.entries()].map(([k, a]) => {
      const [cameraId, stream] = k.split("/") as [string, StreamKind];
      return { cameraId, stream, firstMs: a[0]!.startMs, lastMs: a[a.length - 1]!.endMs, bytes: a.reduce((x, r) => x + r.bytes, 0), segments: a.length };
    });
  }

  async segments(q: TimelineQuery): Promise<SegmentRecord[]> {
    const stream = q.stream ?? "main";
    const a = this.segs.get(`${q.cameraId}/${stream}`) ?? [];
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (a[m]!.endMs <= q.fromMs) lo = m + 1;
      else hi = m;
    }
    const out: SegmentRecord[] = [];
    for (let i = lo; i < a.length && a[i]!.startMs < q.toMs; i++) {
      const r = a[i]!;
      out.push({ id: `${q.cameraId}/${stream}/${r.startMs}`, cameraId: q.cameraId, stream, startMs: r.startMs, endMs: r.endMs, bytes: r.bytes, path: "", mime: "video/mp4" });
    }
    return out;
  }

  async timeline(q: TimelineQuery): Promise<Timeline> {
    const stream = q.stream ?? "main";
    const gaps = (this.gapRows.get(`${q.cameraId}/${stream}`) ?? [])
      .filter((g) => g.startMs < q.toMs && g.endMs > q.fromMs)
      .map((g) => ({ cameraId: q.cameraId, stream, startMs: Math.max(g.startMs, q.fromMs), endMs: Math.min(g.endMs, q.toMs), reason: g.reason }));
    return { ranges: [], gaps, segments: [] };
  }

  async locks() {
    return [];
  }

  async usage() {
    return { totalBytes: 0, volumeFreeBytes: 1e12, volumeTotalBytes: 2e12, byCamera: {} };
  }

  asStore(): MediaStore {
    return this as unknown as MediaStore;
  }
}

/**
 * The keyframes of a recorded segment, as stored: for each fragment whose video run starts
 * with a sync sample, that sample's bytes (AVCC/HVCC, no start codes) and its media time, plus
 * the track's decoder configuration (avcC/hvcC body). Nothing is decoded here.
 */
import { boxes, children, findChild, findPath, scanSegment, view, type Box } from "../../lib/mp4/index.ts";

export interface SegmentKeyframes {
  codec: "h264" | "h265";
  /** avcC / hvcC box body: what the decoder's caps call codec_data. */
  codecData: Uint8Array;
  width: number;
  height: number;
  /** Offset of each keyframe from the segment's first video sample, ms, ascending. */
  keyframes: { offsetMs: number; data: Uint8Array }[];
  /** Media duration of the segment's video, ms. */
  durationMs: number;
}

/** null when the segment has no H.264/H.265 video (audio only, MJPEG refused at ingest, torn). */
export function segmentKeyframes(buf: Uint8Array): SegmentKeyframes | null {
  const scan = scanSegment(buf);
  const video = scan.init?.video;
  if (!scan.init || !video || !video.width || !video.height) return null;
  const config = decoderConfig(buf.subarray(0, scan.initSize), video.trackId);
  if (!config) return null;
  const ts = video.timescale || 90_000;
  const dv = view(buf);
  let first: number | undefined;
  const keyframes: SegmentKeyframes["keyframes"] = [];
  for (const f of scan.fragments) {
    const run = f.info.runs.find((r) => r.trackId === video.trackId);
    if (!run) continue;
    first ??= run.baseDecodeTime;
    if (!run.startsWithSync) continue;
    const sample = firstSample(buf, dv, f.offset, video.trackId, video.defaultSampleSize);
    if (sample) keyframes.push({ offsetMs: Math.round(((run.baseDecodeTime - first) * 1000) / ts), data: sample });
  }
  return { codec: config.codec, codecData: config.data, width: video.width, height: video.height, keyframes, durationMs: scan.durationMs };
}

function decoderConfig(init: Uint8Array, trackId: number): { codec: "h264" | "h265"; data: Uint8Array } | null {
  const dv = view(init);
  for (const moov of boxes(init)) {
    if (moov.type !== "moov") continue;
    for (const trak of children(init, moov)) {
      if (trak.type !== "trak") continue;
      const tkhd = findChild(init, trak, "tkhd");
      if (!tkhd) continue;
      const v = init[tkhd.start + tkhd.headerSize]!;
      if (dv.getUint32(tkhd.start + tkhd.headerSize + (v === 1 ? 20 : 12)) !== trackId) continue;
      const stsd = findPath(init, trak, ["mdia", "minf", "stbl", "stsd"]);
      if (!stsd) return null;
      const entry = boxes(init, stsd.start + stsd.headerSize + 8, stsd.start + stsd.size).next().value as Box | undefined;
      if (!entry) return null;
      for (const c of boxes(init, entry.start + entry.headerSize + 78, entry.start + entry.size)) {
        if (c.type === "avcC") return { codec: "h264", data: init.slice(c.start + c.headerSize, c.start + c.size) };
        if (c.type === "hvcC") return { codec: "h265", data: init.slice(c.start + c.headerSize, c.start + c.size) };
      }
      return null;
    }
  }
  return null;
}

/** Bytes of the first sample of `trackId` in the fragment (moof at `at`); data offsets are moof-relative, as our muxers write them. */
function firstSample(buf: Uint8Array, dv: DataView, at: number, trackId: number, trexSize: number): Uint8Array | null {
  const moof = boxes(buf, at).next().value as Box | undefined;
  if (!moof || moof.type !== "moof") return null;
  for (const traf of children(buf, moof)) {
    if (traf.type !== "traf") continue;
    const tfhd = findChild(buf, traf, "tfhd");
    if (!tfhd) continue;
    let p = tfhd.start + tfhd.headerSize;
    const tfFlags = dv.getUint32(p) & 0xffffff;
    if (dv.getUint32(p + 4) !== trackId) continue;
    p += 8;
    // Absolute base offsets refer to the stream the fragment was cut from, not this file.
    if (tfFlags & 0x1) return null;
    const base = moof.start;
    if (tfFlags & 0x2) p += 4;
    if (tfFlags & 0x8) p += 4;
    let size = trexSize;
    if (tfFlags & 0x10) size = dv.getUint32(p);
    const trun = findChild(buf, traf, "trun");
    if (!trun) return null;
    let q = trun.start + trun.headerSize;
    const flags = dv.getUint32(q) & 0xffffff;
    q += 8;
    let dataOffset = 0;
    if (flags & 0x1) (dataOffset = dv.getInt32(q)), (q += 4);
    if (flags & 0x4) q += 4;
    if (flags & 0x100) q += 4;
    if (flags & 0x200) size = dv.getUint32(q);
    const start = base + dataOffset;
    if (!size || start < 0 || start + size > buf.length) return null;
    return buf.subarray(start, start + size);
  }
  return null;
}

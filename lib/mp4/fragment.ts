/**
 * Parsing and re-timing of one fragment (moof + mdat): per-track decode time, duration and
 * sample count, and whether it starts with a keyframe (where segments may be cut).
 */
import { Mp4Error, boxes, children, concat, findChild, view, type Box } from "./box.ts";
import type { InitInfo } from "./init.ts";

export interface TrackRun {
  trackId: number;
  /** tfdt baseMediaDecodeTime, in the track's timescale. */
  baseDecodeTime: number;
  /** Sum of sample durations, in the track's timescale. */
  duration: number;
  sampleCount: number;
  /** First sample is a sync sample. */
  startsWithSync: boolean;
}

export interface FragmentInfo {
  runs: TrackRun[];
  /** The video track's first sample is a keyframe (true for audio-only streams). */
  keyframe: boolean;
  /** Holds the reference track (video, or the only track of an audio-only stream); false for an audio-only moof of a video stream. */
  hasReferenceTrack: boolean;
  /** Start of the reference track (video, else the first track in this moof), in ms of media time. */
  startMs: number;
  /** Duration of the reference track, in ms. */
  durationMs: number;
}

const SAMPLE_IS_NON_SYNC = 0x00010000;

export function parseFragment(buf: Uint8Array, init: InitInfo): FragmentInfo {
  const dv = view(buf);
  let moof: Box | undefined;
  for (const b of boxes(buf)) {
    if (b.type === "moof") {
      moof = b;
      break;
    }
  }
  if (!moof) throw new Mp4Error("fragment has no moof box");
  const runs: TrackRun[] = [];
  for (const traf of children(buf, moof)) {
    if (traf.type !== "traf") continue;
    const tfhd = findChild(buf, traf, "tfhd");
    if (!tfhd) throw new Mp4Error("traf without tfhd");
    let p = tfhd.start + tfhd.headerSize;
    const tfFlags = dv.getUint32(p) & 0xffffff;
    const trackId = dv.getUint32(p + 4);
    const track = init.tracks.find((t) => t.trackId === trackId);
    p += 8;
    if (tfFlags & 0x1) p += 8; // base_data_offset
    if (tfFlags & 0x2) p += 4; // sample_description_index
    let defDur = track?.defaultSampleDuration ?? 0;
    let defFlags = track?.defaultSampleFlags ?? 0;
    if (tfFlags & 0x8) (defDur = dv.getUint32(p)), (p += 4);
    if (tfFlags & 0x10) p += 4; // default_sample_size
    if (tfFlags & 0x20) (defFlags = dv.getUint32(p)), (p += 4);
    let baseDecodeTime = 0;
    const tfdt = findChild(buf, traf, "tfdt");
    if (tfdt) {
      const q = tfdt.start + tfdt.headerSize;
      baseDecodeTime = buf[q] === 1 ? Number(dv.getBigUint64(q + 4)) : dv.getUint32(q + 4);
    }
    let duration = 0;
    let sampleCount = 0;
    let firstFlags: number | undefined;
    for (const trun of children(buf, traf)) {
      if (trun.type !== "trun") continue;
      let q = trun.start + trun.headerSize;
      const flags = dv.getUint32(q) & 0xffffff;
      const count = dv.getUint32(q + 4);
      q += 8;
      if (flags & 0x1) q += 4; // data_offset
      let firstSampleFlags: number | undefined;
      if (flags & 0x4) (firstSampleFlags = dv.getUint32(q)), (q += 4);
      for (let i = 0; i < count; i++) {
        let dur = defDur;
        let sflags = i === 0 && firstSampleFlags !== undefined ? firstSampleFlags : defFlags;
        if (flags & 0x100) (dur = dv.getUint32(q)), (q += 4);
        if (flags & 0x200) q += 4;
        if (flags & 0x400) (sflags = dv.getUint32(q)), (q += 4);
        if (flags & 0x800) q += 4;
        if (firstFlags === undefined) firstFlags = sflags;
        duration += dur;
      }
      sampleCount += count;
    }
    runs.push({
      trackId,
      baseDecodeTime,
      duration,
      sampleCount,
      startsWithSync: firstFlags !== undefined && (firstFlags & SAMPLE_IS_NON_SYNC) === 0,
    });
  }
  // mp4mux writes one moof per track: a fragment may hold only audio. Its times are read in
  // its own track's timescale, and it is never a cut point while the stream has video.
  const videoRun = init.video ? runs.find((r) => r.trackId === init.video!.trackId) : undefined;
  const ref = videoRun ?? runs[0];
  const ts = init.tracks.find((t) => t.trackId === ref?.trackId)?.timescale || 1000;
  return {
    runs,
    hasReferenceTrack: init.video ? !!videoRun : true,
    keyframe: init.video ? !!videoRun?.startsWithSync : true,
    startMs: ref ? (ref.baseDecodeTime * 1000) / ts : 0,
    durationMs: ref ? (ref.duration * 1000) / ts : 0,
  };
}

/**
 * Returns a copy of the fragment with each track's tfdt set to `newStartMs(trackId, oldMs)`
 * (in that track's timescale), so fragments from different recording sessions play as one
 * timeline. tfdt is always written as version 1 (64-bit); box sizes and trun data offsets
 * (relative to the moof, as mp4mux writes them) are adjusted for the growth.
 */
export function retimeFragment(buf: Uint8Array, init: InitInfo, newStartMs: (trackId: number, oldStartMs: number) => number): Uint8Array {
  return concat(retimeFragmentParts(buf, init, newStartMs));
}

/**
 * retimeFragment without the copy: the new moof boxes, each followed by a view of the original
 * bytes after it (its mdat), in file order. For a recorder's hot path: the media bytes are
 * written as they came (writev), only the small moofs are new.
 */
export function retimeFragmentParts(buf: Uint8Array, init: InitInfo, newStartMs: (trackId: number, oldStartMs: number) => number): Uint8Array[] {
  // A unit may hold several moof+mdat pairs (mp4mux writes one moof per track): retime each.
  const moofs: Box[] = [];
  for (const b of boxes(buf)) if (b.type === "moof") moofs.push(b);
  if (moofs.length > 1) {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < moofs.length; i++) {
      const from = moofs[i]!.start;
      const to = i + 1 < moofs.length ? moofs[i + 1]!.start : buf.length;
      parts.push(...retimeOne(buf.subarray(from, to), init, newStartMs));
    }
    return parts;
  }
  return retimeOne(buf, init, newStartMs);
}

/** [new moof, view of the rest of `buf`]. */
function retimeOne(buf: Uint8Array, init: InitInfo, newStartMs: (trackId: number, oldStartMs: number) => number): Uint8Array[] {
  const moof = boxes(buf).next().value as Box | undefined;
  if (!moof || moof.type !== "moof") throw new Mp4Error("fragment does not start with moof");
  const dv = view(buf);
  const moofParts: Uint8Array[] = [];
  const truns: number[] = []; // offsets of trun boxes within the new moof body
  let bodyLen = 0;
  const push = (p: Uint8Array) => {
    moofParts.push(p);
    bodyLen += p.length;
  };
  for (const child of children(buf, moof)) {
    if (child.type !== "traf") {
      push(buf.subarray(child.start, child.start + child.size));
      continue;
    }
    const tfhd = findChild(buf, child, "tfhd");
    const trackId = tfhd ? dv.getUint32(tfhd.start + tfhd.headerSize + 4) : 0;
    const ts = init.tracks.find((t) => t.trackId === trackId)?.timescale ?? 1000;
    const parts: Uint8Array[] = [];
    let trafLen = 8;
    for (const c of children(buf, child)) {
      let bytes = buf.subarray(c.start, c.start + c.size);
      if (c.type === "tfdt") {
        const q = c.start + c.headerSize;
        const old = buf[q] === 1 ? Number(dv.getBigUint64(q + 4)) : dv.getUint32(q + 4);
        const ms = newStartMs(trackId, (old * 1000) / ts);
        const nb = new Uint8Array(20);
        const nv = view(nb);
        nv.setUint32(0, 20);
        nb.set([0x74, 0x66, 0x64, 0x74], 4);
        nv.setUint32(8, 0x01000000);
        nv.setBigUint64(12, BigInt(Math.max(0, Math.round((ms * ts) / 1000))));
        bytes = nb;
      } else if (c.type === "trun") {
        truns.push(8 + bodyLen + trafLen);
      }
      parts.push(bytes);
      trafLen += bytes.length;
    }
    const hdr = new Uint8Array(8);
    view(hdr).setUint32(0, trafLen);
    hdr.set([0x74, 0x72, 0x61, 0x66], 4);
    push(hdr);
    for (const p of parts) push(p);
  }
  const newMoofSize = 8 + bodyLen;
  const rest = buf.subarray(moof.start + moof.size);
  const out = new Uint8Array(newMoofSize);
  const ov = view(out);
  ov.setUint32(0, newMoofSize);
  out.set([0x6d, 0x6f, 0x6f, 0x66], 4);
  let o = 8;
  for (const p of moofParts) {
    out.set(p, o);
    o += p.length;
  }
  const grow = newMoofSize - moof.size;
  if (grow !== 0) {
    for (const t of truns) {
      const flags = ov.getUint32(t + 8) & 0xffffff;
      if (flags & 0x1) ov.setInt32(t + 16, ov.getInt32(t + 16) + grow);
    }
  }
  return [out, rest];
}

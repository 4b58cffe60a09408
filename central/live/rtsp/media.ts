/**
 * What RTSP out needs from fMP4 that lib/mp4's summaries do not give: the codec configuration
 * of each track (avcC/hvcC parameter sets, AAC AudioSpecificConfig) and every sample of a
 * fragment with its bytes, decode time, composition offset and sync flag.
 */
import { Mp4Error, boxes, children, findChild, findPath, view, type Box } from "../../../lib/mp4/index.ts";

export interface VideoConfig {
  kind: "video";
  codec: "h264" | "h265";
  trackId: number;
  timescale: number;
  width: number;
  height: number;
  /** Bytes of each NAL length prefix in samples (avcC/hvcC lengthSizeMinusOne + 1). */
  lengthSize: number;
  /** Parameter-set NAL units (H.265: VPS first), without prefixes. */
  vps: Uint8Array[];
  sps: Uint8Array[];
  pps: Uint8Array[];
  /** H.264 profile-level-id as six hex digits. */
  profileLevelId?: string;
}

export interface AudioConfig {
  kind: "audio";
  codec: "aac";
  trackId: number;
  timescale: number;
  sampleRate: number;
  channels: number;
  /** AudioSpecificConfig. */
  config: Uint8Array;
}

export type TrackConfig = VideoConfig | AudioConfig;

export interface Sample {
  trackId: number;
  /** Decode time in the track's timescale. */
  dts: number;
  /** Composition offset (pts − dts), track timescale. */
  cts: number;
  duration: number;
  sync: boolean;
  data: Uint8Array;
}

/** The tracks RTSP out can packetize (H.264/H.265 video, AAC audio); others are left out. */
export function trackConfigs(buf: Uint8Array): TrackConfig[] {
  let moov: Box | undefined;
  for (const b of boxes(buf)) if (b.type === "moov") moov = b;
  if (!moov) throw new Mp4Error("init segment has no moov box");
  const dv = view(buf);
  const out: TrackConfig[] = [];
  for (const trak of children(buf, moov)) {
    if (trak.type !== "trak") continue;
    const tkhd = findChild(buf, trak, "tkhd");
    const mdhd = findPath(buf, trak, ["mdia", "mdhd"]);
    const stsd = findPath(buf, trak, ["mdia", "minf", "stbl", "stsd"]);
    if (!tkhd || !mdhd || !stsd) continue;
    const trackId = dv.getUint32(tkhd.start + tkhd.headerSize + (buf[tkhd.start + tkhd.headerSize] === 1 ? 20 : 12));
    const timescale = dv.getUint32(mdhd.start + mdhd.headerSize + (buf[mdhd.start + mdhd.headerSize] === 1 ? 20 : 12));
    const entry = boxes(buf, stsd.start + stsd.headerSize + 8, stsd.start + stsd.size).next().value as Box | undefined;
    if (!entry) continue;
    const body = entry.start + entry.headerSize;
    if (entry.type === "avc1" || entry.type === "avc3" || entry.type === "hvc1" || entry.type === "hev1") {
      const width = dv.getUint16(body + 24);
      const height = dv.getUint16(body + 26);
      for (const c of boxes(buf, body + 78, entry.start + entry.size)) {
        const p = c.start + c.headerSize;
        const end = c.start + c.size;
        if (c.type === "avcC") out.push({ kind: "video", codec: "h264", trackId, timescale, width, height, ...readAvcC(buf.subarray(p, end)) });
        else if (c.type === "hvcC") out.push({ kind: "video", codec: "h265", trackId, timescale, width, height, ...readHvcC(buf.subarray(p, end)) });
      }
    } else if (entry.type === "mp4a") {
      const channels = dv.getUint16(body + 16);
      const rate = dv.getUint32(body + 24) >>> 16;
      for (const c of boxes(buf, body + 28, entry.start + entry.size)) {
        if (c.type !== "esds") continue;
        const config = decoderSpecificInfo(buf.subarray(c.start + c.headerSize + 4, c.start + c.size));
        if (!config) continue;
        const asc = parseAsc(config);
        out.push({ kind: "audio", codec: "aac", trackId, timescale, sampleRate: asc.sampleRate || rate || timescale, channels: asc.channels || channels || 1, config });
      }
    }
  }
  return out;
}

function readAvcC(b: Uint8Array): Omit<VideoConfig, "kind" | "codec" | "trackId" | "timescale" | "width" | "height"> {
  if (b.length < 7) throw new Mp4Error("avcC is too short");
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  const lengthSize = (b[4]! & 3) + 1;
  let p = 5;
  const sps: Uint8Array[] = [];
  const pps: Uint8Array[] = [];
  const nSps = b[p++]! & 0x1f;
  for (let i = 0; i < nSps; i++) {
    const len = (b[p]! << 8) | b[p + 1]!;
    sps.push(b.slice(p + 2, p + 2 + len));
    p += 2 + len;
  }
  const nPps = b[p++] ?? 0;
  for (let i = 0; i < nPps; i++) {
    const len = (b[p]! << 8) | b[p + 1]!;
    pps.push(b.slice(p + 2, p + 2 + len));
    p += 2 + len;
  }
  return { lengthSize, vps: [], sps, pps, profileLevelId: `${hex(b[1]!)}${hex(b[2]!)}${hex(b[3]!)}` };
}

function readHvcC(b: Uint8Array): Omit<VideoConfig, "kind" | "codec" | "trackId" | "timescale" | "width" | "height"> {
  if (b.length < 23) throw new Mp4Error("hvcC is too short");
  const lengthSize = (b[21]! & 3) + 1;
  const vps: Uint8Array[] = [];
  const sps: Uint8Array[] = [];
  const pps: Uint8Array[] = [];
  let p = 23;
  for (let a = 0; a < b[22]!; a++) {
    const type = b[p]! & 0x3f;
    const n = (b[p + 1]! << 8) | b[p + 2]!;
    p += 3;
    for (let i = 0; i < n; i++) {
      const len = (b[p]! << 8) | b[p + 1]!;
      const nal = b.slice(p + 2, p + 2 + len);
      p += 2 + len;
      if (type === 32) vps.push(nal);
      else if (type === 33) sps.push(nal);
      else if (type === 34) pps.push(nal);
    }
  }
  return { lengthSize, vps, sps, pps };
}

/** ES_Descriptor → DecoderConfigDescriptor → DecoderSpecificInfo (the AudioSpecificConfig). */
function decoderSpecificInfo(b: Uint8Array): Uint8Array | undefined {
  let p = 0;
  const desc = (): { tag: number; len: number } | undefined => {
    if (p >= b.length) return undefined;
    const tag = b[p++]!;
    let len = 0;
    for (let i = 0; i < 4 && p < b.length; i++) {
      const c = b[p++]!;
      len = (len << 7) | (c & 0x7f);
      if (!(c & 0x80)) break;
    }
    return { tag, len };
  };
  const es = desc();
  if (!es || es.tag !== 0x03) return undefined;
  const flags = b[p + 2]!;
  p += 3;
  if (flags & 0x80) p += 2;
  if (flags & 0x40) p += 1 + b[p]!;
  if (flags & 0x20) p += 2;
  const dc = desc();
  if (!dc || dc.tag !== 0x04) return undefined;
  p += 13;
  const dsi = desc();
  if (!dsi || dsi.tag !== 0x05) return undefined;
  return b.slice(p, p + dsi.len);
}

const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

function parseAsc(c: Uint8Array): { sampleRate: number; channels: number } {
  if (c.length < 2) return { sampleRate: 0, channels: 0 };
  const bits = (c[0]! << 24) | (c[1]! << 16) | ((c[2] ?? 0) << 8) | (c[3] ?? 0);
  let pos = 5; // audioObjectType (escape 31 not used by cameras)
  const take = (n: number) => {
    const v = (bits >>> (32 - pos - n)) & ((1 << n) - 1);
    pos += n;
    return v;
  };
  const idx = take(4);
  const sampleRate = idx === 15 ? take(24) : (AAC_RATES[idx] ?? 0);
  return { sampleRate, channels: take(4) };
}

/**
 * Every sample of a live fragment (one or more moof+mdat pairs, one traf per track). Data
 * offsets are relative to their moof (how mp4mux, lib/mp4/mux and the hub's re-timing write them).
 */
export function fragmentSamples(buf: Uint8Array, tracks: readonly TrackConfig[], defaults: ReadonlyMap<number, { dur: number; size: number; flags: number }> = new Map()): Sample[] {
  const dv = view(buf);
  const out: Sample[] = [];
  for (const moof of boxes(buf)) {
    if (moof.type !== "moof") continue;
    for (const traf of children(buf, moof)) {
      if (traf.type !== "traf") continue;
      const tfhd = findChild(buf, traf, "tfhd");
      if (!tfhd) throw new Mp4Error("traf without tfhd");
      let p = tfhd.start + tfhd.headerSize;
      const tf = dv.getUint32(p) & 0xffffff;
      const trackId = dv.getUint32(p + 4);
      const def = defaults.get(trackId);
      let defDur = def?.dur ?? 0;
      let defSize = def?.size ?? 0;
      let defFlags = def?.flags ?? 0;
      p += 8;
      if (tf & 0x1) p += 8;
      if (tf & 0x2) p += 4;
      if (tf & 0x8) (defDur = dv.getUint32(p)), (p += 4);
      if (tf & 0x10) (defSize = dv.getUint32(p)), (p += 4);
      if (tf & 0x20) (defFlags = dv.getUint32(p)), (p += 4);
      if (!tracks.some((t) => t.trackId === trackId)) continue;
      let dts = 0;
      const tfdt = findChild(buf, traf, "tfdt");
      if (tfdt) {
        const q = tfdt.start + tfdt.headerSize;
        dts = buf[q] === 1 ? Number(dv.getBigUint64(q + 4)) : dv.getUint32(q + 4);
      }
      let dataPos = moof.start;
      for (const trun of children(buf, traf)) {
        if (trun.type !== "trun") continue;
        let q = trun.start + trun.headerSize;
        const version = buf[q]!;
        const flags = dv.getUint32(q) & 0xffffff;
        const count = dv.getUint32(q + 4);
        q += 8;
        if (flags & 0x1) (dataPos = moof.start + dv.getInt32(q)), (q += 4);
        let first: number | undefined;
        if (flags & 0x4) (first = dv.getUint32(q)), (q += 4);
        for (let i = 0; i < count; i++) {
          let dur = defDur;
          let size = defSize;
          let sflags = i === 0 && first !== undefined ? first : defFlags;
          let cts = 0;
          if (flags & 0x100) (dur = dv.getUint32(q)), (q += 4);
          if (flags & 0x200) (size = dv.getUint32(q)), (q += 4);
          if (flags & 0x400) (sflags = dv.getUint32(q)), (q += 4);
          if (flags & 0x800) (cts = version === 1 ? dv.getInt32(q) : dv.getUint32(q)), (q += 4);
          if (dataPos + size > buf.length) throw new Mp4Error(`sample of track ${trackId} runs past the end of the fragment`);
          out.push({ trackId, dts, cts, duration: dur, sync: (sflags & 0x00010000) === 0, data: buf.subarray(dataPos, dataPos + size) });
          dataPos += size;
          dts += dur;
        }
      }
    }
  }
  return out;
}

/** trex defaults per track (fragments fall back on them). */
export function trexDefaults(buf: Uint8Array): Map<number, { dur: number; size: number; flags: number }> {
  const m = new Map<number, { dur: number; size: number; flags: number }>();
  const dv = view(buf);
  for (const b of boxes(buf)) {
    if (b.type !== "moov") continue;
    const mvex = findChild(buf, b, "mvex");
    if (!mvex) continue;
    for (const t of children(buf, mvex)) {
      if (t.type !== "trex") continue;
      const p = t.start + t.headerSize + 4;
      m.set(dv.getUint32(p), { dur: dv.getUint32(p + 8), size: dv.getUint32(p + 12), flags: dv.getUint32(p + 16) });
    }
  }
  return m;
}

/**
 * Fragmented MP4 writing for the native ingest (edge/ingest/native): an init segment
 * (ftyp + moov with avcC/hvcC/esds/dfLa and mvex/trex) and fragments (moof with one traf per track,
 * tfhd default-base-is-moof with sample defaults, tfdt v1, compact trun + mdat),
 * laid out exactly as parseInit/parseFragment read them. Pure functions; no I/O.
 */
import { concat } from "./box.ts";
import type { FragmentInfo, TrackRun } from "./fragment.ts";

export interface MuxVideoTrack {
  kind: "video";
  codec: "h264" | "h265";
  width: number;
  height: number;
  /** Parameter-set NAL units without start codes or length prefixes. */
  sps: Uint8Array[];
  pps: Uint8Array[];
  /** H.265 only. */
  vps?: Uint8Array[];
  /** H.265 only: profile_tier_level bytes (12) for hvcC, from the SPS. */
  ptl?: Uint8Array;
  timescale: number;
}

export interface MuxAudioTrack {
  kind: "audio";
  /** aac: `mp4a` + esds; flac: `fLaC` + dfLa (ISO/IEC 14496-12 FLAC mapping). */
  codec: "aac" | "flac";
  sampleRate: number;
  channels: number;
  /** AudioSpecificConfig (aac), or the FLAC metadata blocks that go into dfLa (flac). */
  config: Uint8Array;
  timescale: number;
}

export type MuxTrack = MuxVideoTrack | MuxAudioTrack;

export interface MuxSample {
  /** Payload parts; for video each part is one NAL unit and gets a 4-byte length prefix. */
  parts: Uint8Array[];
  duration: number;
  keyframe: boolean;
  /** Composition offset (pts − dts), in the track timescale; 0 without B-frames. */
  cts: number;
}

export interface MuxRun {
  trackId: number;
  baseDecodeTime: number;
  /** Length-prefix every part (video NAL units). */
  nalPrefix: boolean;
  samples: MuxSample[];
}

const FLAGS_SYNC = 0x02000000; // sample_depends_on = 2 (independent)
const FLAGS_NON_SYNC = 0x01010000; // depends_on = 1, sample_is_non_sync_sample

function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}
function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}
function bytes(...n: number[]): Uint8Array {
  return new Uint8Array(n);
}
function fourcc(s: string): Uint8Array {
  return new Uint8Array([s.charCodeAt(0), s.charCodeAt(1), s.charCodeAt(2), s.charCodeAt(3)]);
}
function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  const body = concat(parts);
  return concat([u32(body.length + 8), fourcc(type), body]);
}
function fullBox(type: string, version: number, flags: number, ...parts: Uint8Array[]): Uint8Array {
  return box(type, u32(((version & 0xff) << 24) | (flags & 0xffffff)), ...parts);
}
const zeros = (n: number) => new Uint8Array(n);
const MATRIX = concat([u32(0x10000), u32(0), u32(0), u32(0), u32(0x10000), u32(0), u32(0), u32(0), u32(0x40000000)]);

function avcC(t: MuxVideoTrack): Uint8Array {
  const sps = t.sps[0]!;
  const parts: Uint8Array[] = [bytes(1, sps[1] ?? 0, sps[2] ?? 0, sps[3] ?? 0, 0xff, 0xe0 | t.sps.length)];
  for (const s of t.sps) parts.push(u16(s.length), s);
  parts.push(bytes(t.pps.length));
  for (const p of t.pps) parts.push(u16(p.length), p);
  return box("avcC", ...parts);
}

function hvcC(t: MuxVideoTrack): Uint8Array {
  const ptl = t.ptl ?? zeros(12);
  const arrays: [number, Uint8Array[]][] = [
    [32, t.vps ?? []],
    [33, t.sps],
    [34, t.pps],
  ];
  const parts: Uint8Array[] = [
    bytes(1),
    ptl, // general_profile_space/tier/profile_idc, compat flags, constraint flags, level_idc
    u16(0xf000), // min_spatial_segmentation_idc = 0
    bytes(0xfc), // parallelismType = 0
    bytes(0xfd), // chroma_format_idc = 1 (4:2:0)
    bytes(0xf8), // bit_depth_luma_minus8 = 0
    bytes(0xf8), // bit_depth_chroma_minus8 = 0
    u16(0), // avgFrameRate
    bytes(0x0f), // constantFrameRate 0, numTemporalLayers 1, temporalIdNested 1, lengthSizeMinusOne 3
    bytes(arrays.filter(([, a]) => a.length).length),
  ];
  for (const [type, nals] of arrays) {
    if (!nals.length) continue;
    parts.push(bytes(0x80 | type), u16(nals.length));
    for (const n of nals) parts.push(u16(n.length), n);
  }
  return box("hvcC", ...parts);
}

function descriptor(tag: number, body: Uint8Array): Uint8Array {
  // 4-byte size form (0x80 0x80 0x80 n): what most muxers write; every reader accepts it.
  const n = body.length;
  return concat([bytes(tag, 0x80 | ((n >> 21) & 0x7f), 0x80 | ((n >> 14) & 0x7f), 0x80 | ((n >> 7) & 0x7f), n & 0x7f), body]);
}

function esds(t: MuxAudioTrack): Uint8Array {
  const dsi = descriptor(5, t.config);
  const dcd = descriptor(4, concat([bytes(0x40, 0x15, 0, 0, 0), u32(0), u32(0), dsi]));
  const es = descriptor(3, concat([u16(0), bytes(0), dcd, descriptor(6, bytes(2))]));
  return fullBox("esds", 0, 0, es);
}

function sampleEntry(t: MuxTrack): Uint8Array {
  if (t.kind === "video") {
    return box(
      t.codec === "h264" ? "avc1" : "hvc1",
      zeros(6),
      u16(1), // data_reference_index
      zeros(16),
      u16(t.width),
      u16(t.height),
      u32(0x00480000),
      u32(0x00480000),
      u32(0),
      u16(1), // frame_count
      zeros(32), // compressorname
      u16(0x18),
      u16(0xffff),
      t.codec === "h264" ? avcC(t) : hvcC(t),
    );
  }
  const audio = [zeros(6), u16(1), zeros(8), u16(t.channels), u16(16), u16(0), u16(0), u32((t.sampleRate & 0xffff) * 0x10000)];
  if (t.codec === "flac") return box("fLaC", ...audio, fullBox("dfLa", 0, 0, t.config));
  return box("mp4a", ...audio, esds(t));
}

function trak(t: MuxTrack, trackId: number): Uint8Array {
  const video = t.kind === "video";
  const tkhd = fullBox(
    "tkhd",
    0,
    3, // enabled, in movie
    u32(0),
    u32(0),
    u32(trackId),
    u32(0),
    u32(0), // duration
    zeros(8),
    u16(0), // layer
    u16(video ? 0 : 1), // alternate_group
    u16(video ? 0 : 0x0100), // volume
    u16(0),
    MATRIX,
    u32(video ? t.width * 0x10000 : 0),
    u32(video ? t.height * 0x10000 : 0),
  );
  const mdhd = fullBox("mdhd", 0, 0, u32(0), u32(0), u32(t.timescale), u32(0), u16(0x55c4), u16(0));
  const hdlr = fullBox("hdlr", 0, 0, u32(0), fourcc(video ? "vide" : "soun"), zeros(12), new TextEncoder().encode(video ? "VideoHandler\0" : "SoundHandler\0"));
  const mhd = video ? fullBox("vmhd", 0, 1, zeros(8)) : fullBox("smhd", 0, 0, zeros(4));
  const dinf = box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1)));
  const stbl = box(
    "stbl",
    fullBox("stsd", 0, 0, u32(1), sampleEntry(t)),
    fullBox("stts", 0, 0, u32(0)),
    fullBox("stsc", 0, 0, u32(0)),
    fullBox("stsz", 0, 0, u32(0), u32(0)),
    fullBox("stco", 0, 0, u32(0)),
  );
  return box("trak", tkhd, box("mdia", mdhd, hdlr, box("minf", mhd, dinf, stbl)));
}

/** ftyp + moov for these tracks; track ids are 1, 2, … in the given order. */
export function muxInit(tracks: MuxTrack[]): Uint8Array {
  const video = tracks.find((t): t is MuxVideoTrack => t.kind === "video");
  const brand = video?.codec === "h265" ? "hvc1" : "avc1";
  const ftyp = box("ftyp", fourcc("isom"), u32(0x200), fourcc("isom"), fourcc("iso6"), fourcc("iso2"), fourcc(brand), fourcc("mp41"));
  const mvhd = fullBox("mvhd", 0, 0, u32(0), u32(0), u32(1000), u32(0), u32(0x10000), u16(0x0100), zeros(10), MATRIX, zeros(24), u32(tracks.length + 1));
  const traks = tracks.map((t, i) => trak(t, i + 1));
  const mvex = box("mvex", ...tracks.map((_, i) => fullBox("trex", 0, 0, u32(i + 1), u32(1), u32(0), u32(0), u32(0))));
  return concat([ftyp, box("moov", mvhd, ...traks, mvex)]);
}

/**
 * Which trun fields a run needs per sample. Container bytes per frame are the recorder's
 * overhead on disk and on the link, so equal durations go to tfhd's default, and the usual
 * "keyframe first, then non-sync" pattern to first_sample_flags + a default.
 */
interface RunLayout {
  tfhdSize: number;
  defaultDuration?: number;
  defaultFlags?: number;
  firstFlags?: number;
  durations: boolean;
  flags: boolean;
  cts: boolean;
  perSample: number;
}

function layoutOf(r: MuxRun): RunLayout {
  const ss = r.samples;
  const d0 = ss[0]!.duration >>> 0;
  const equalDur = ss.every((x) => x.duration >>> 0 === d0);
  const cts = ss.some((x) => x.cts !== 0);
  let defaultFlags: number | undefined;
  let firstFlags: number | undefined;
  let flags = false;
  if (ss.every((x) => x.keyframe)) defaultFlags = FLAGS_SYNC;
  else if (ss.slice(1).every((x) => !x.keyframe)) {
    defaultFlags = FLAGS_NON_SYNC;
    if (ss[0]!.keyframe) firstFlags = FLAGS_SYNC;
  } else flags = true;
  const l: RunLayout = {
    tfhdSize: 16 + (equalDur ? 4 : 0) + (defaultFlags !== undefined ? 4 : 0),
    durations: !equalDur,
    flags,
    cts,
    perSample: 4 + (equalDur ? 0 : 4) + (flags ? 4 : 0) + (cts ? 4 : 0),
  };
  if (equalDur) l.defaultDuration = d0;
  if (defaultFlags !== undefined) l.defaultFlags = defaultFlags;
  if (firstFlags !== undefined) l.firstFlags = firstFlags;
  return l;
}

function sampleSize(s: MuxSample, prefix: boolean): number {
  let n = 0;
  for (const p of s.parts) n += p.length + (prefix ? 4 : 0);
  return n;
}

/**
 * One fragment: moof (mfhd + one traf per run) + mdat holding the runs' samples in order.
 * Runs without samples are left out.
 */
export function muxFragment(sequence: number, runsIn: MuxRun[]): Uint8Array {
  const runs = runsIn.filter((r) => r.samples.length > 0);
  const sizes = runs.map((r) => r.samples.map((s) => sampleSize(s, r.nalPrefix)));
  const layouts = runs.map(layoutOf);
  const trafSizes = layouts.map((l, i) => 8 + l.tfhdSize + 20 + 20 + (l.firstFlags !== undefined ? 4 : 0) + runs[i]!.samples.length * l.perSample);
  const moofSize = 8 + 16 + trafSizes.reduce((a, b) => a + b, 0);
  let mdatBody = 0;
  for (const s of sizes) for (const n of s) mdatBody += n;
  const out = new Uint8Array(moofSize + 8 + mdatBody);
  const dv = new DataView(out.buffer);
  let o = 0;
  const hdr = (size: number, type: string) => {
    dv.setUint32(o, size);
    out[o + 4] = type.charCodeAt(0);
    out[o + 5] = type.charCodeAt(1);
    out[o + 6] = type.charCodeAt(2);
    out[o + 7] = type.charCodeAt(3);
    o += 8;
  };
  hdr(moofSize, "moof");
  hdr(16, "mfhd");
  dv.setUint32(o, 0);
  dv.setUint32(o + 4, sequence >>> 0);
  o += 8;
  let dataOffset = moofSize + 8;
  runs.forEach((r, i) => {
    const l = layouts[i]!;
    hdr(trafSizes[i]!, "traf");
    hdr(l.tfhdSize, "tfhd");
    // default-base-is-moof, plus defaults that spare per-sample fields in the trun.
    dv.setUint32(o, 0x020000 | (l.defaultDuration !== undefined ? 0x08 : 0) | (l.defaultFlags !== undefined ? 0x20 : 0));
    dv.setUint32(o + 4, r.trackId);
    o += 8;
    if (l.defaultDuration !== undefined) (dv.setUint32(o, l.defaultDuration), (o += 4));
    if (l.defaultFlags !== undefined) (dv.setUint32(o, l.defaultFlags), (o += 4));
    hdr(20, "tfdt");
    dv.setUint32(o, 0x01000000);
    dv.setBigUint64(o + 4, BigInt(Math.max(0, Math.round(r.baseDecodeTime))));
    o += 12;
    hdr(20 + (l.firstFlags !== undefined ? 4 : 0) + r.samples.length * l.perSample, "trun");
    // version 1: signed composition offsets.
    const flags =
      0x000001 | (l.firstFlags !== undefined ? 0x000004 : 0) | (l.durations ? 0x000100 : 0) | 0x000200 | (l.flags ? 0x000400 : 0) | (l.cts ? 0x000800 : 0);
    dv.setUint32(o, ((l.cts ? 1 : 0) << 24) | flags);
    dv.setUint32(o + 4, r.samples.length);
    dv.setInt32(o + 8, dataOffset);
    o += 12;
    if (l.firstFlags !== undefined) (dv.setUint32(o, l.firstFlags), (o += 4));
    const sz = sizes[i]!;
    r.samples.forEach((s, k) => {
      if (l.durations) (dv.setUint32(o, s.duration >>> 0), (o += 4));
      dv.setUint32(o, sz[k]!);
      o += 4;
      if (l.flags) (dv.setUint32(o, s.keyframe ? FLAGS_SYNC : FLAGS_NON_SYNC), (o += 4));
      if (l.cts) (dv.setInt32(o, s.cts), (o += 4));
      dataOffset += sz[k]!;
    });
  });
  hdr(8 + mdatBody, "mdat");
  for (const r of runs) {
    for (const s of r.samples) {
      for (const p of s.parts) {
        if (r.nalPrefix) {
          dv.setUint32(o, p.length);
          o += 4;
        }
        out.set(p, o);
        o += p.length;
      }
    }
  }
  return out;
}

/** FragmentInfo of a fragment made by muxFragment, without parsing it back. */
export function muxedFragmentInfo(runsIn: MuxRun[], timescales: Map<number, number>, videoTrackId: number | undefined): FragmentInfo {
  const runs: TrackRun[] = runsIn
    .filter((r) => r.samples.length > 0)
    .map((r) => ({
      trackId: r.trackId,
      baseDecodeTime: Math.max(0, Math.round(r.baseDecodeTime)),
      duration: r.samples.reduce((a, s) => a + (s.duration >>> 0), 0),
      sampleCount: r.samples.length,
      startsWithSync: r.samples[0]!.keyframe,
    }));
  const videoRun = videoTrackId !== undefined ? runs.find((r) => r.trackId === videoTrackId) : undefined;
  const ref = videoRun ?? runs[0];
  const ts = (ref && timescales.get(ref.trackId)) || 1000;
  return {
    runs,
    hasReferenceTrack: videoTrackId !== undefined ? !!videoRun : true,
    keyframe: videoTrackId !== undefined ? !!videoRun?.startsWithSync : true,
    startMs: ref ? (ref.baseDecodeTime * 1000) / ts : 0,
    durationMs: ref ? (ref.duration * 1000) / ts : 0,
  };
}
